//! A run's live metrics. `RunFeed` is one of the recorder's streamed
//! outputs: it sees every result and every closed second the recorder
//! sees, and records them with the recorder's own conventions (the same
//! HdrHistogram bounds, the same outcome classes), so the run-to-date
//! counts and quantiles it serves are the report's. [`RunExport::finish`]
//! adds what only the finished run knows (the verdict, failover events,
//! amplification, the error budget) from its `Summary`.

use std::collections::VecDeque;
use std::fmt::Error;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use tokio::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;

use super::gauges::{self, HistSample, Labels};
use super::providers::ProvidersCollector;
use crate::clock::RunClock;
use crate::load::generator::Live;
use crate::load::schedule::RateCurve;
use crate::metrics::accumulate::{Accumulator, ClosedSecond};
use crate::metrics::histogram::{self, Hist};
use crate::metrics::recorder::OUTCOMES;
use crate::metrics::request::RequestResult;
use crate::metrics::Outcome;
use crate::results::Summary;
use crate::scenario::{Budgets, Scenario};

/// The quantiles served per class, run-to-date and over the last 10 s.
pub const QUANTILES: [(f64, &str); 4] =
    [(0.5, "0.5"), (0.9, "0.9"), (0.99, "0.99"), (0.999, "0.999")];

/// Closed seconds in the recent window.
pub const RECENT_SECONDS: usize = 10;

/// What the run so far has shown, shared with the endpoint.
#[derive(Debug)]
struct View {
    phase: &'static str,
    counts: Vec<[u64; OUTCOMES]>,
    /// Latency of successful requests per class, and its exact sum (s).
    latency: Vec<Hist>,
    sum_s: Vec<f64>,
    lag: Hist,
    served: Vec<(String, u64)>,
    /// Per closed second (newest last): successful requests' latency per class.
    recent: VecDeque<Vec<Hist>>,
    /// Requests sent between the last two closed seconds, per minute.
    achieved_rpm: Option<f64>,
    /// When the last second closed, and the requests sent by then.
    last_close: Option<(Instant, u64)>,
    done: Option<Final>,
}

/// What only the finished run knows.
#[derive(Debug, Clone)]
struct Final {
    verdict: String,
    events: Vec<(&'static str, u64)>,
    amplification: Option<f64>,
    budget_left: Option<f64>,
}

/// What does not change during the run.
#[derive(Debug)]
struct Statics {
    scenario: String,
    seed: u64,
    shard: String,
    classes: Vec<String>,
    curve: RateCurve,
    /// The target's share this process sends (1/N for a shard).
    share: f64,
    uptime_target: f64,
    /// Per class: its name and budgets.
    budgets: Vec<(String, Budgets)>,
    /// Over all traffic.
    overall: Budgets,
    /// The generator's lag limit (p99).
    lag_limit: std::time::Duration,
    /// The latency histogram's bucket bounds (s): the ladder and every budget.
    buckets: Vec<f64>,
}

#[derive(Debug)]
struct Shared {
    statics: Statics,
    view: Mutex<View>,
    live: OnceLock<Arc<Live>>,
    origin: OnceLock<Instant>,
    /// When the load ended (the run clock stops there).
    ended: OnceLock<Instant>,
    providers: ProvidersCollector,
}

/// A run's metrics: register it, hand its feed to the recorder, tell it
/// the phases, and finish it with the summary.
#[derive(Debug, Clone)]
pub struct RunExport(Arc<Shared>);

impl RunExport {
    pub fn new(scenario: &Scenario, shard: crate::load::shard::Shard) -> Self {
        let classes: Vec<String> = scenario.traffic.iter().map(|c| c.name.clone()).collect();
        let budgets: Vec<(String, Budgets)> = scenario
            .traffic
            .iter()
            .map(|c| (c.name.clone(), c.budgets.clone()))
            .collect();
        let buckets = gauges::bounds_with(
            budgets
                .iter()
                .map(|(_, b)| b)
                .chain([&scenario.sla.budgets])
                .flat_map(|b| [b.p50, b.p95, b.p99])
                .flatten(),
        );
        let statics = Statics {
            scenario: scenario.name.clone(),
            seed: scenario.seed,
            shard: shard.to_string(),
            curve: RateCurve::new(&scenario.load.stages),
            share: 1.0 / f64::from(shard.count.max(1)),
            uptime_target: scenario.sla.uptime,
            budgets,
            overall: scenario.sla.budgets.clone(),
            lag_limit: scenario.lag_limit().0,
            buckets,
            classes: classes.clone(),
        };
        let n = classes.len();
        let view = View {
            phase: "starting",
            counts: vec![[0; OUTCOMES]; n],
            latency: (0..n).map(|_| histogram::new()).collect(),
            sum_s: vec![0.0; n],
            lag: histogram::new(),
            served: Vec::new(),
            recent: VecDeque::new(),
            achieved_rpm: None,
            last_close: None,
            done: None,
        };
        RunExport(Arc::new(Shared {
            statics,
            view: Mutex::new(view),
            live: OnceLock::new(),
            origin: OnceLock::new(),
            ended: OnceLock::new(),
            providers: ProvidersCollector::new(scenario),
        }))
    }

    /// A registry with this run's metrics (and its providers').
    pub fn registry(&self) -> Registry {
        let mut r = Registry::default();
        r.register_collector(Box::new(self.clone()));
        r.register_collector(Box::new(self.0.providers.clone()));
        r
    }

    fn view(&self) -> MutexGuard<'_, View> {
        // A panic while holding it leaves plain numbers: still readable.
        self.0.view.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The run is in `phase` now (starting, load, analysis, done); the
    /// load's end stops the run clock.
    pub fn phase(&self, phase: &'static str) {
        if phase != "load" && self.0.origin.get().is_some() {
            let _ = self.0.ended.set(Instant::now());
        }
        self.view().phase = phase;
    }

    /// The load began at `origin` (t=0), with the generator's counters.
    pub fn load_started(&self, origin: Instant, live: Arc<Live>, clock: &Arc<RunClock>) {
        let _ = self.0.origin.set(origin);
        let _ = self.0.live.set(live);
        let _ = self.0.providers.watch.clock.set(clock.clone());
        self.phase("load");
    }

    /// The providers this run started, whose attempts to count.
    pub fn providers_started(&self, counters: crate::providers::ledger_writer::LedgerCounters) {
        let _ = self.0.providers.watch.counters.set(counters);
    }

    /// The recorder's output that feeds these metrics.
    pub fn feed(&self) -> Box<dyn Accumulator> {
        Box::new(RunFeed(self.clone()))
    }

    /// The finished run: its verdict and what the ledger join found.
    pub fn finish(&self, summary: &Summary) {
        // A ledger read only in part measured none of its numbers.
        let failover = summary
            .failover
            .as_ref()
            .filter(|f| f.ledger_error.is_none());
        let events = failover.map(|f| {
            vec![
                ("failover", f.failovers),
                ("group_move", f.group_moves),
                ("retry", f.retries),
                ("exhausted", f.exhausted),
                ("unreached", f.unreached),
            ]
        });
        let spent = summary.uptime.error_budget.spent;
        let done = Final {
            verdict: summary.verdict.as_str().to_string(),
            amplification: failover.map(|f| f.amplification),
            events: events.unwrap_or_default(),
            budget_left: (summary.requests.counted > 0 && spent.is_finite()).then_some(1.0 - spent),
        };
        let mut v = self.view();
        v.done = Some(done);
        v.phase = "done";
    }
}

/// The recorder's output (see the module's text).
struct RunFeed(RunExport);

impl Accumulator for RunFeed {
    fn file(&self) -> &'static str {
        "the metrics endpoint"
    }

    fn record(&mut self, r: &RequestResult) {
        let mut v = self.0.view();
        v.counts[r.class][r.outcome.index()] += 1;
        if r.outcome.is_ok() {
            histogram::record(&mut v.latency[r.class], r.m.latency);
            v.sum_s[r.class] += r.m.latency.as_secs_f64();
        }
        if !matches!(r.outcome, Outcome::Dropped) {
            histogram::record(&mut v.lag, r.lag);
        }
        if let Some(p) = r.m.served_by.as_deref() {
            match v.served.iter_mut().find(|(name, _)| name == p) {
                Some((_, n)) => *n += 1,
                None => v.served.push((p.to_string(), 1)),
            }
        }
    }

    fn second(&mut self, s: &ClosedSecond) {
        let sent = self.0 .0.live.get().map(|l| l.sent.load(Ordering::Relaxed));
        let mut v = self.0.view();
        let mut slot = if v.recent.len() >= RECENT_SECONDS {
            v.recent.pop_front().expect("not empty")
        } else {
            Vec::new()
        };
        slot.resize_with(s.classes.len(), histogram::new);
        for (h, closed) in slot.iter_mut().zip(s.classes) {
            h.reset();
            h.add(closed).expect("same bounds");
        }
        v.recent.push_back(slot);
        // Over the real time between closes: a recorder that fell behind
        // closes several seconds at once.
        let now = Instant::now();
        let origin = self.0 .0.origin.get().map(|o| (*o, 0));
        if let (Some(sent), Some((at, before))) = (sent, v.last_close.or(origin)) {
            let span = now.saturating_duration_since(at).as_secs_f64();
            if span >= 0.2 {
                v.achieved_rpm = Some(sent.saturating_sub(before) as f64 / span * 60.0);
                v.last_close = Some((now, sent));
            }
        }
    }
}

impl Collector for RunExport {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), Error> {
        let st = &self.0.statics;
        let v = self.view();
        let info: Labels = vec![
            ("scenario", st.scenario.clone()),
            ("seed", st.seed.to_string()),
            ("shard", st.shard.clone()),
        ];
        gauges::gauge(
            &mut enc,
            "slabench_run_info",
            "The run: scenario, seed, shard I/N",
            [(info, 1.0)],
        )?;
        let phases = ["starting", "load", "analysis", "done"].map(|p| {
            (
                vec![("phase", p.to_string())],
                f64::from(u8::from(p == v.phase)),
            )
        });
        gauges::gauge(
            &mut enc,
            "slabench_run_phase",
            "1 for the phase the run is in",
            phases,
        )?;
        self.encode_load(&mut enc, &v)?;
        encode_counts(&mut enc, st, &v)?;
        encode_latency(&mut enc, st, &v)?;
        encode_verdict(&mut enc, st, &v)
    }
}

impl RunExport {
    /// The generator: target and achieved rate, lag, in flight, sent.
    fn encode_load(&self, enc: &mut DescriptorEncoder, v: &View) -> Result<(), Error> {
        let st = &self.0.statics;
        let now = self.0.ended.get().copied().unwrap_or_else(Instant::now);
        let elapsed = self
            .0
            .origin
            .get()
            .map(|o| now.saturating_duration_since(*o).as_secs_f64());
        let target = elapsed.map(|t| st.curve.rpm_at(t) * st.share);
        gauges::gauge(
            enc,
            "slabench_run_elapsed_seconds",
            "Seconds since t=0 (stops at the load's end)",
            elapsed.map(|t| (Vec::new(), t)),
        )?;
        gauges::gauge(
            enc,
            "slabench_target_rpm",
            "The schedule's rate now, requests per minute (this shard's share)",
            target
                .filter(|_| v.phase == "load")
                .map(|t| (Vec::new(), t)),
        )?;
        gauges::gauge(
            enc,
            "slabench_achieved_rpm",
            "Requests sent per minute between the last two closed seconds (during the load)",
            v.achieved_rpm
                .filter(|_| v.phase == "load")
                .map(|r| (Vec::new(), r)),
        )?;
        let lag = QUANTILES.iter().filter_map(|(q, name)| {
            gauges::quantile_s(&v.lag, *q).map(|s| (vec![("quantile", name.to_string())], s))
        });
        gauges::gauge(
            enc,
            "slabench_schedule_lag_seconds",
            "How late requests left against the schedule, run-to-date quantiles",
            lag,
        )?;
        if let Some(live) = self.0.live.get() {
            let in_flight = live.in_flight.load(Ordering::Relaxed) as f64;
            gauges::gauge(
                enc,
                "slabench_in_flight",
                "Requests in flight",
                [(Vec::new(), in_flight)],
            )?;
            let sent = live.sent.load(Ordering::Relaxed);
            gauges::counter(enc, "slabench_sent", "Requests sent", [(Vec::new(), sent)])?;
        }
        Ok(())
    }
}

/// Requests by class and outcome, and who served them.
fn encode_counts(enc: &mut DescriptorEncoder, st: &Statics, v: &View) -> Result<(), Error> {
    let requests = st
        .classes
        .iter()
        .zip(&v.counts)
        .flat_map(|(class, counts)| {
            Outcome::ALL.iter().map(move |o| {
                let labels: Labels = vec![("class", class.clone()), ("outcome", o.name().into())];
                (labels, counts[o.index()])
            })
        });
    gauges::counter(
        enc,
        "slabench_requests",
        "Requests completed, by traffic class and outcome (summary.json's requests.by_outcome)",
        requests,
    )?;
    let served = v
        .served
        .iter()
        .map(|(p, n)| (vec![("provider", p.clone())], *n));
    gauges::counter(
        enc,
        "slabench_served",
        "Answers by the provider that served them (the gateway's x-served-by)",
        served,
    )
}

/// Latency per class: histograms, quantiles (run-to-date, and the last
/// 10 s while the load goes on), budgets.
fn encode_latency(enc: &mut DescriptorEncoder, st: &Statics, v: &View) -> Result<(), Error> {
    let samples: Vec<HistSample> = st
        .classes
        .iter()
        .zip(&v.latency)
        .zip(&v.sum_s)
        .map(|((class, hist), sum_s)| HistSample {
            labels: vec![("class", class.clone())],
            sum_s: *sum_s,
            hist,
        })
        .collect();
    gauges::histogram(
        enc,
        "slabench_latency_seconds",
        "Latency of successful requests per class (buckets read off the run's HdrHistogram; \
         every SLA budget is a bucket bound)",
        &samples,
        &st.buckets,
    )?;
    // After the load there is no "last 10 s": the window is not shown.
    let recent = (v.phase == "load").then(|| recent_latency(v, st.classes.len()));
    let mut quantiles = Vec::new();
    for (window, hists) in [("run", Some(&v.latency)), ("10s", recent.as_ref())] {
        let Some(hists) = hists else { continue };
        for (class, h) in st.classes.iter().zip(hists) {
            for (q, name) in QUANTILES {
                if let Some(s) = gauges::quantile_s(h, q) {
                    let labels = vec![
                        ("class", class.clone()),
                        ("quantile", name.to_string()),
                        ("window", window.to_string()),
                    ];
                    quantiles.push((labels, s));
                }
            }
        }
    }
    gauges::gauge(
        enc,
        "slabench_latency_quantile_seconds",
        "Latency quantiles of successful requests per class, from the run's HdrHistograms: \
         window=run is run-to-date (the report's), window=10s the last 10 closed seconds \
         (during the load only)",
        quantiles,
    )?;
    let budgets = st.budgets.iter().flat_map(|(class, b)| {
        budget_samples(b).map(move |(q, s)| (vec![("class", class.clone()), ("quantile", q)], s))
    });
    gauges::gauge(
        enc,
        "slabench_latency_budget_seconds",
        "The scenario's SLA latency budgets per traffic class",
        budgets,
    )?;
    gauges::gauge(
        enc,
        "slabench_overall_latency_budget_seconds",
        "The scenario's SLA latency budgets over all traffic ([sla])",
        budget_samples(&st.overall).map(|(q, s)| (vec![("quantile", q)], s)),
    )
}

/// A budget set as (quantile label, seconds), the budgets set only.
fn budget_samples(b: &Budgets) -> impl Iterator<Item = (String, f64)> + '_ {
    [(b.p50, "0.5"), (b.p95, "0.95"), (b.p99, "0.99")]
        .into_iter()
        .filter_map(|(d, q)| d.map(|d| (q.to_string(), d.as_secs_f64())))
}

fn recent_latency(v: &View, classes: usize) -> Vec<Hist> {
    let mut out: Vec<Hist> = (0..classes).map(|_| histogram::new()).collect();
    for second in &v.recent {
        for (o, h) in out.iter_mut().zip(second) {
            o.add(h).expect("same bounds");
        }
    }
    out
}

/// Uptime and the error budget so far, the verdict so far (or the final one).
fn encode_verdict(enc: &mut DescriptorEncoder, st: &Statics, v: &View) -> Result<(), Error> {
    let counted: u64 = v
        .counts
        .iter()
        .flat_map(|c| {
            Outcome::ALL
                .iter()
                .filter(|o| o.counted())
                .map(|o| c[o.index()])
        })
        .sum();
    let ok: u64 = v.counts.iter().map(|c| c[Outcome::Ok.index()]).sum();
    let uptime = (counted > 0).then(|| ok as f64 / counted as f64);
    gauges::gauge(
        enc,
        "slabench_uptime_ratio",
        "Successful ÷ counted requests, run-to-date",
        uptime.map(|u| (Vec::new(), u)),
    )?;
    gauges::gauge(
        enc,
        "slabench_uptime_target_ratio",
        "The SLA's uptime target",
        [(Vec::new(), st.uptime_target)],
    )?;
    let budget_left = match &v.done {
        Some(d) => d.budget_left,
        None => budget_left(counted, counted - ok, st.uptime_target),
    };
    gauges::gauge(
        enc,
        "slabench_error_budget_remaining_ratio",
        "Share of the error budget left (1 − failures ÷ the failures the uptime target allows)",
        budget_left.map(|b| (Vec::new(), b)),
    )?;
    if let Some(d) = &v.done {
        let events = d
            .events
            .iter()
            .map(|(k, n)| (vec![("kind", k.to_string())], *n));
        gauges::counter(
            enc,
            "slabench_failover_events",
            "Failover events by kind (the ledger join's, at the end)",
            events,
        )?;
        gauges::gauge(
            enc,
            "slabench_amplification",
            "Attempts per request sent (the ledger join's, at the end)",
            d.amplification.map(|a| (Vec::new(), a)),
        )?;
    }
    let verdict = match &v.done {
        Some(d) => d.verdict.clone(),
        None => so_far(st, v, uptime).to_string(),
    };
    gauges::gauge(
        enc,
        "slabench_verdict",
        "1 for the verdict: during the run pending, failing_so_far, unmeasured_so_far or \
         passing_so_far (uptime, latency budgets and schedule lag only); the run's verdict at the end",
        [(vec![("verdict", verdict)], 1.0)],
    )
}

fn budget_left(counted: u64, failures: u64, target: f64) -> Option<f64> {
    let allowed = (1.0 - target) * counted as f64;
    (counted > 0 && allowed > 0.0).then(|| 1.0 - failures as f64 / allowed)
}

/// The verdict so far on what the endpoint sees: failing when uptime is
/// below its target, the schedule lag's p99 over its limit, or a measured
/// quantile over its budget; unmeasured while a budgeted class (or all
/// traffic) has no successful request to measure; passing otherwise.
fn so_far(st: &Statics, v: &View, uptime: Option<f64>) -> &'static str {
    if uptime.is_none() {
        return "pending";
    }
    let lag = gauges::quantile_s(&v.lag, 0.99);
    if uptime.is_some_and(|u| u < st.uptime_target)
        || lag.is_some_and(|l| l > st.lag_limit.as_secs_f64())
    {
        return "failing_so_far";
    }
    let mut all = histogram::new();
    for h in &v.latency {
        all.add(h).expect("same bounds");
    }
    let checks = st
        .budgets
        .iter()
        .map(|(_, b)| b)
        .zip(&v.latency)
        .chain([(&st.overall, &all)]);
    let mut unmeasured = false;
    for (b, h) in checks {
        for (d, q) in [(b.p50, 0.5), (b.p95, 0.95), (b.p99, 0.99)] {
            match (d, gauges::quantile_s(h, q)) {
                (Some(d), Some(s)) if s > d.as_secs_f64() => return "failing_so_far",
                (Some(_), None) => unmeasured = true,
                _ => {}
            }
        }
    }
    if unmeasured {
        "unmeasured_so_far"
    } else {
        "passing_so_far"
    }
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
