//! `RunData`: everything the reports show, in one value.
//!
//! It is built either from a live run (`RunData::from_run`) or read back
//! from a run directory (`report::run_dir`), so every exporter renders the same
//! thing both ways: `slabench report` rebuilds the human outputs from
//! summary.json, timeseries.csv and latency.hlog without running anything.

use crate::analysis::failover::EventKind;
use crate::metrics::histogram::{self, Hist};
use crate::metrics::recorder::{Recorder, OUTCOMES};
use crate::metrics::Outcome;
use crate::results::Summary;
use crate::scenario::Scenario;

/// One run, ready to render.
#[derive(Debug, Clone)]
pub struct RunData {
    pub summary: Summary,
    /// Traffic class names, in scenario order (`Second::class_*` columns).
    pub classes: Vec<String>,
    /// Provider names (`Second::share` columns).
    pub providers: Vec<String>,
    /// One row per second since t=0.
    pub timeline: Vec<Second>,
    /// Whole-run histograms per traffic class, in `classes` order; empty
    /// when latency.hlog could not be read (the spectra are left out).
    pub hists: Vec<ClassHists>,
    /// What is missing or damaged in this run's files, and what that left
    /// out: streamed files whose writing failed during the run, or inputs
    /// `slabench report` could not read.
    pub notes: Vec<Note>,
    /// The baseline's whole-run latency histogram per class, in `classes`
    /// order (`None`: that class is not in the baseline); empty without a
    /// baseline or when its file was not at hand (the report then marks the
    /// baseline's p50/p99 from summary.json). Loaded by whoever builds the
    /// RunData: renderers never read files.
    pub baseline_curves: Vec<Option<crate::metrics::histogram::Hist>>,
}

/// A file that is missing, damaged or incomplete, and what it costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The file's name in the run directory.
    pub file: String,
    /// What is wrong with it ("line 7: \"x\" is not a number").
    pub problem: String,
    /// What that left out or means ("the time charts are left out").
    pub consequence: String,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}; {}", self.file, self.problem, self.consequence)
    }
}

impl Note {
    /// A streamed file whose writing failed during the run (the run goes on
    /// without it; the summary and the other reports are complete).
    pub fn incomplete(i: &crate::metrics::accumulate::Incomplete) -> Note {
        Note {
            file: i.file.to_string(),
            problem: format!("writing it failed ({:#})", i.error),
            consequence: format!(
                "{} is incomplete; the summary and the other reports cover the whole run",
                i.file
            ),
        }
    }
}

/// Whole-run histograms of one traffic class (µs, the project's bounds).
#[derive(Debug, Clone)]
pub struct ClassHists {
    /// Latency of successful requests, from the intended send instant.
    pub latency: Hist,
    /// Streaming classes: time to first token, and the mean time between
    /// output tokens of each request (inter-token latency).
    pub ttft: Option<Hist>,
    pub itl: Option<Hist>,
}

impl Default for ClassHists {
    fn default() -> Self {
        ClassHists {
            latency: histogram::new(),
            ttft: None,
            itl: None,
        }
    }
}

/// One second of the run (a row of timeseries.csv).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Second {
    pub t: u32,
    /// The rate the stages ask for, averaged over this second.
    pub target_rpm: f64,
    /// Requests meant to leave in this second that did.
    pub sent: u64,
    /// Completions in this second by outcome (`Outcome::index`).
    pub outcomes: [u64; OUTCOMES],
    /// Per traffic class: completions OK, and counted completions not OK.
    pub class_ok: Vec<u64>,
    pub class_errors: Vec<u64>,
    /// Latency of the requests that completed OK in this second, ms.
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    /// Share of this second's answers each provider served (sums to 1 when
    /// any answer named its provider, else all 0).
    pub share: Vec<f64>,
    /// Upstream attempts that arrived in this second, and attempts ÷
    /// requests sent; `None` without a ledger.
    pub attempts: Option<u64>,
    pub amplification: Option<f64>,
    /// Failover events by the second their request was meant to leave.
    pub failovers: u64,
    pub retries: u64,
    pub exhausted: u64,
}

impl Second {
    pub fn achieved_rpm(&self) -> f64 {
        self.sent as f64 * 60.0
    }

    pub fn ok(&self) -> u64 {
        self.outcomes[Outcome::Ok.index()]
    }

    /// Counted completions that were not OK (everything but ok and cut off).
    pub fn errors(&self) -> u64 {
        Outcome::ALL
            .iter()
            .filter(|o| !o.is_ok() && o.counted())
            .map(|o| self.outcomes[o.index()])
            .sum()
    }
}

impl RunData {
    /// Assembles the data of a live run.
    pub fn from_run(
        scenario: &Scenario,
        summary: Summary,
        rec: &Recorder,
        notes: Vec<Note>,
    ) -> RunData {
        let classes: Vec<String> = scenario.traffic.iter().map(|c| c.name.clone()).collect();
        let mut providers: Vec<String> =
            scenario.providers.iter().map(|p| p.name.clone()).collect();
        for p in &rec.providers {
            if !providers.contains(p) {
                providers.push(p.clone());
            }
        }
        let mut timeline = seconds(scenario, &summary, rec, classes.len(), &providers);
        if let Some(report) = &summary.failover {
            count_events(&mut timeline, &report.event_list);
        }
        let hists = scenario
            .traffic
            .iter()
            .zip(&rec.classes)
            .map(|(tc, c)| {
                let streaming = tc.stream && !c.ttft.is_empty();
                ClassHists {
                    latency: c.ok_latency().cloned().unwrap_or_else(histogram::new),
                    ttft: streaming.then(|| c.ttft.clone()),
                    itl: streaming.then(|| c.tpot.clone()),
                }
            })
            .collect();
        RunData {
            summary,
            classes,
            providers,
            timeline,
            hists,
            notes,
            baseline_curves: Vec::new(),
        }
    }

    /// Fault windows on the time axis: (label, start s, end s or None).
    pub fn fault_windows(&self) -> Vec<(String, f64, Option<f64>)> {
        self.summary
            .scenario
            .faults
            .iter()
            .map(|f| (f.label.clone(), f.start_s, f.end_s))
            .collect()
    }

    /// Seconds on the time axis (at least 1).
    pub fn span_s(&self) -> f64 {
        (self.timeline.len() as f64)
            .max(self.summary.scenario.duration_s.ceil())
            .max(1.0)
    }
}

/// One row per second since t=0, from the recorder's timeline and the
/// ledger's flows (`providers`: the share columns, in order).
fn seconds(
    scenario: &Scenario,
    summary: &Summary,
    rec: &Recorder,
    classes: usize,
    providers: &[String],
) -> Vec<Second> {
    let column: Vec<usize> = rec
        .providers
        .iter()
        .map(|p| {
            providers
                .iter()
                .position(|q| q == p)
                .expect("every provider has a column")
        })
        .collect();
    let flows = summary.failover.as_ref().map(|f| &f.per_second[..]);
    let len = rec.timeline.len().max(flows.map_or(0, <[_]>::len));
    let curve = crate::load::schedule::RateCurve::new(&scenario.load.stages);
    // A shard was asked for its share of the rate.
    let share = summary.generator.shard.map_or(1.0, |s| s.share());
    (0..len)
        .map(|t| {
            let mut s = Second {
                t: t as u32,
                target_rpm: curve.mean_rpm(t as f64, (t + 1) as f64) * share,
                class_ok: vec![0; classes],
                class_errors: vec![0; classes],
                share: vec![0.0; providers.len()],
                ..Second::default()
            };
            if let Some(row) = rec.timeline.get(t) {
                fill_from_row(&mut s, row, &column, classes);
            }
            if let Some(flow) = flows.and_then(|f| f.get(t)) {
                s.attempts = Some(flow.attempts.values().map(|&n| u64::from(n)).sum());
                s.amplification = Some(flow.amplification);
            }
            s
        })
        .collect()
}

/// A second's counts, latency, shares and per-class counts from the
/// recorder's row (`column`: each recorded provider's share column).
fn fill_from_row(
    s: &mut Second,
    row: &crate::metrics::recorder::SecondRow,
    column: &[usize],
    classes: usize,
) {
    s.sent = row.sent;
    s.outcomes = row.outcomes;
    (s.p50, s.p90, s.p99, s.max) = (
        row.latency.p50,
        row.latency.p90,
        row.latency.p99,
        row.latency.max,
    );
    let served: u64 = row.served_by.iter().sum();
    for (i, n) in row.served_by.iter().enumerate() {
        if served > 0 {
            s.share[column[i]] = *n as f64 / served as f64;
        }
    }
    for (c, [ok, err]) in row.class_counts.iter().enumerate().take(classes) {
        s.class_ok[c] = *ok;
        s.class_errors[c] = *err;
    }
}

/// Failover events per intended send second.
fn count_events(timeline: &mut [Second], events: &[crate::analysis::failover::Event]) {
    for e in events {
        if let Some(s) = timeline.get_mut(e.at_s.max(0.0) as usize) {
            match e.kind {
                EventKind::Failover => s.failovers += 1,
                // timeseries.csv has no column of its own for them: a move
                // to another deployment of the same group is a retry on the
                // group (as LiteLLM counts it), never a failover.
                EventKind::Retry | EventKind::GroupMove => s.retries += 1,
                EventKind::Exhausted => s.exhausted += 1,
            }
        }
    }
}
