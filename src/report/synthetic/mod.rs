//! Deterministic synthetic run data: the reports' snapshot tests, browser
//! test and benchmark render it, so their output depends on nothing but
//! the shape asked for (seconds × classes × providers) and a seed.
//!
//! The run it describes: a steady rate, an outage of the first provider
//! from 40% to 50% of the run (errors, failovers to the second provider,
//! higher latency), the last class streaming.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::data::{ClassHists, RunData, Second};
use crate::analysis::budget;
use crate::analysis::failover::{
    Cost, Event, EventKind, Overhead, OverheadSecond, SecondFlow, Spread,
};
use crate::analysis::{Check, CheckKind};
use crate::metrics::histogram::{self, Percentiles};
use crate::metrics::recorder::SecondRow;
use crate::metrics::Outcome;
use crate::results::*;

mod failover;
use failover::{failover_report, window};

/// The shape of the synthetic run.
#[derive(Debug, Clone)]
pub struct Shape {
    pub seconds: u32,
    pub classes: usize,
    pub providers: usize,
    /// Requests per second.
    pub rps: u64,
    /// Scenario name (tests put markup in it to check escaping).
    pub name: String,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            seconds: 600,
            classes: 3,
            providers: 3,
            rps: 20,
            name: "synthetic".into(),
        }
    }
}

/// Builds the run.
pub fn run_data(shape: &Shape) -> RunData {
    let mut sim = simulate(shape);
    let log = std::mem::take(&mut sim.failover_log);
    let summary = summary(shape, &sim, log);
    RunData {
        summary,
        classes: sim.classes,
        providers: sim.providers,
        timeline: sim.timeline,
        hists: sim.hists,
        notes: Vec::new(),
        baseline_curves: Vec::new(),
    }
}

/// The run as simulated second by second, before it is summarised.
struct Sim {
    classes: Vec<String>,
    providers: Vec<String>,
    hists: Vec<ClassHists>,
    timeline: Vec<Second>,
    rows: Vec<SecondRow>,
    failover_log: FailoverLog,
}

/// What the failover analysis would have found: its events and per-second
/// flows.
#[derive(Default)]
struct FailoverLog {
    events: Vec<Event>,
    flows: Vec<SecondFlow>,
}

/// The outage window, in seconds: from 40% to 50% of the run.
fn fault_window(shape: &Shape) -> (f64, f64) {
    let n = f64::from(shape.seconds);
    (n * 0.4, n * 0.5)
}

fn simulate(shape: &Shape) -> Sim {
    // One generator for the whole run, drawn from in a fixed order, so the
    // same shape always gives the same run.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (nc, np) = (shape.classes.max(1), shape.providers.max(1));
    let mut sim = Sim {
        classes: (0..nc).map(|i| format!("class-{i}")).collect(),
        providers: (0..np).map(|i| format!("provider-{i}")).collect(),
        hists: (0..nc)
            .map(|c| ClassHists {
                latency: histogram::new(),
                ttft: (c == nc - 1).then(histogram::new),
                itl: (c == nc - 1).then(histogram::new),
            })
            .collect(),
        timeline: Vec::new(),
        rows: Vec::new(),
        failover_log: FailoverLog::default(),
    };
    let (fault_start, fault_end) = fault_window(shape);
    for t in 0..shape.seconds {
        let fault = f64::from(t) >= fault_start && f64::from(t) < fault_end;
        sim.second(shape, t, fault, &mut rng);
    }
    sim
}

impl Sim {
    /// Simulates second `t`: its requests, the providers' shares, and during
    /// the outage the failovers to the second provider.
    fn second(&mut self, shape: &Shape, t: u32, fault: bool, rng: &mut ChaCha8Rng) {
        let mut s = self.requests(shape, t, fault, rng);
        s.share = shares(fault, self.providers.len());
        if fault {
            s.failovers = shape.rps / 4;
            s.retries = 1;
            let events = self.failover_events(shape, t, s.failovers);
            self.failover_log.events.extend(events);
        }
        let attempts = shape.rps + s.failovers + s.retries;
        s.attempts = Some(attempts);
        s.amplification = Some(attempts as f64 / shape.rps as f64);
        let flow = self.flow(shape, &s, attempts);
        self.failover_log.flows.push(flow);
        self.rows.push(SecondRow {
            second: t,
            sent: s.sent,
            outcomes: s.outcomes,
            ..SecondRow::default()
        });
        self.timeline.push(s);
    }

    /// The second's requests, round-robin over the classes: 5% fail during
    /// the outage, the rest are slower then; latencies have a long tail.
    fn requests(&mut self, shape: &Shape, t: u32, fault: bool, rng: &mut ChaCha8Rng) -> Second {
        let nc = self.classes.len();
        let mut s = Second {
            t,
            target_rpm: shape.rps as f64 * 60.0,
            sent: shape.rps,
            class_ok: vec![0; nc],
            class_errors: vec![0; nc],
            ..Second::default()
        };
        let mut interval = histogram::new();
        for i in 0..shape.rps {
            let c = (i as usize) % nc;
            let failed = fault && rng.random_bool(0.05);
            if failed {
                s.outcomes[Outcome::Http5xx.index()] += 1;
                s.class_errors[c] += 1;
                continue;
            }
            let base = 300.0 + 200.0 * c as f64;
            let slow = if fault { 1.8 } else { 1.0 };
            let ms = base
                * slow
                * (0.6 + rng.random::<f64>()).powi(2)
                * (1.0 + 4.0 * rng.random::<f64>().powi(40));
            record_ok(&mut self.hists[c], &mut interval, ms, rng);
            s.outcomes[Outcome::Ok.index()] += 1;
            s.class_ok[c] += 1;
        }
        let p = Percentiles::of(&interval);
        (s.p50, s.p90, s.p99, s.max) = (p.p50, p.p90, p.p99, p.max);
        s
    }

    /// The second's failovers from the first provider to the second, spread
    /// evenly over the second and the classes.
    fn failover_events(&self, shape: &Shape, t: u32, failovers: u64) -> Vec<Event> {
        let (nc, np) = (self.classes.len(), self.providers.len());
        (0..failovers)
            .map(|k| Event {
                seq: u64::from(t) * shape.rps + k,
                class: self.classes[(k as usize) % nc].clone(),
                at_s: f64::from(t) + k as f64 / shape.rps as f64,
                kind: EventKind::Failover,
                first_provider: self.providers[0].clone(),
                served_by: Some(self.providers[1 % np].clone()),
                attempts: 2,
                latency_ms: 900.0 + k as f64,
                outcome: Outcome::Ok,
            })
            .collect()
    }

    /// The second's upstream flow, split evenly over the providers.
    fn flow(&self, shape: &Shape, s: &Second, attempts: u64) -> SecondFlow {
        let np = self.providers.len() as u32;
        let named = |v: u32| {
            self.providers
                .iter()
                .map(|p| (p.clone(), v))
                .collect::<BTreeMap<_, _>>()
        };
        SecondFlow {
            t: s.t,
            sent: shape.rps as u32,
            amplification: attempts as f64 / shape.rps as f64,
            attempts: named(attempts as u32 / np),
            first_attempts: named(shape.rps as u32 / np),
            served: named(s.ok() as u32 / np),
        }
    }
}

/// Records an OK request of `ms` in its class and in the second's interval;
/// the streaming class also gets a TTFT and an inter-token latency.
fn record_ok(h: &mut ClassHists, interval: &mut histogram::Hist, ms: f64, rng: &mut ChaCha8Rng) {
    histogram::record_us(&mut h.latency, (ms * 1000.0) as u64);
    histogram::record_us(interval, (ms * 1000.0) as u64);
    if let (Some(ttft), Some(itl)) = (h.ttft.as_mut(), h.itl.as_mut()) {
        histogram::record_us(ttft, (ms * 300.0) as u64);
        histogram::record_us(itl, (15_000.0 + 10_000.0 * rng.random::<f64>()) as u64);
    }
}

/// Each provider's share of the answers: mostly the first, none of it
/// during the outage, and a tenth for the third when there is one.
fn shares(fault: bool, np: usize) -> Vec<f64> {
    let first = if fault { 0.0 } else { 0.7 };
    (0..np)
        .map(|k| match (k, np) {
            (_, 1) => 1.0,
            (0, _) => first,
            (1, _) => 1.0 - first - 0.1 * f64::from(np > 2),
            (2, _) => 0.1,
            _ => 0.0,
        })
        .collect()
}

/// Request counts over the whole run.
#[derive(Clone, Copy)]
struct Totals {
    ok: u64,
    failed: u64,
    counted: u64,
    /// ok ÷ counted.
    ratio: f64,
}

impl Totals {
    fn of(timeline: &[Second]) -> Totals {
        let ok: u64 = timeline.iter().map(Second::ok).sum();
        let failed: u64 = timeline.iter().map(Second::errors).sum();
        let counted = ok + failed;
        let ratio = ok as f64 / counted.max(1) as f64;
        Totals {
            ok,
            failed,
            counted,
            ratio,
        }
    }
}

/// The gateway's overhead: well under a millisecond, except for the
/// requests failed over during the outage (a backoff before the next try).
fn overhead(shape: &Shape, timeline: &[Second]) -> Overhead {
    let (from, to) = fault_window(shape);
    let spread = |requests, p50, p99| Spread {
        requests,
        p50,
        p90: (p50 + p99) / 2.0,
        p99,
        max: p99 * 1.2,
        negative: 0,
    };
    let ok: u64 = timeline.iter().map(Second::ok).sum();
    let per_second: Vec<OverheadSecond> = timeline
        .iter()
        .filter(|s| s.ok() > 0)
        .map(|s| {
            let outage = (from..to).contains(&f64::from(s.t));
            OverheadSecond {
                second: s.t,
                requests: s.ok(),
                p50: 0.30 + f64::from(s.t % 7) * 0.01,
                p99: if outage { 412.0 } else { 0.94 },
            }
        })
        .collect();
    Overhead {
        all: spread(ok, 0.31, 3.5),
        normal: spread(ok - ok / 50, 0.31, 0.94),
        failed_over: spread(ok / 50, 250.0, 412.0),
        ttft: Some(spread(ok / 4, 0.40, 1.2)),
        unmeasured: 0,
        per_second,
    }
}

fn summary(shape: &Shape, sim: &Sim, log: FailoverLog) -> Summary {
    let totals = Totals::of(&sim.timeline);
    let mut all = histogram::new();
    for h in &sim.hists {
        all.add(&h.latency).expect("same bounds");
    }
    let checks = checks(sim, totals);
    let cost = cost(sim, totals);
    let fault = fault_info(shape, &sim.providers);
    let window = window(shape, &fault, &sim.providers, totals);
    let obedience = failover::obedience(sim, totals, &fault.label);
    Summary {
        schema_version: SCHEMA_VERSION,
        slabench_version: "test".into(),
        scenario: scenario_info(shape, sim, fault),
        verdict: crate::analysis::verdict::verdict(&checks),
        interrupted: false,
        internal_errors: Vec::new(),
        gateway_exit: None,
        output_problems: Vec::new(),
        checks,
        generator: generator(shape, totals),
        requests: requests(&sim.timeline, totals),
        uptime: UptimeOut {
            ratio: totals.ratio,
            ci95: [totals.ratio - 0.001, totals.ratio.min(1.0)],
            target: 0.999,
            error_budget: budget::budget(&sim.rows, totals.ok, totals.counted, 0.999),
        },
        latency_ms: latency(sim, &all),
        obedience: Some(obedience),
        failover: Some(failover_report(
            sim,
            totals,
            &all,
            window,
            cost.clone(),
            log,
        )),
        cost_usd: Some(cost),
        gateway_overhead_ms: Some(overhead(shape, &sim.timeline)),
        baseline: None,
    }
}

/// Class `c`'s budgets: only a p99, a second longer for each class.
fn budgets(c: usize) -> BudgetsMs {
    BudgetsMs {
        p50: None,
        p95: None,
        p99: Some(2000.0 + 1000.0 * c as f64),
    }
}

/// The generator's check, uptime and amplification, then each class's p99.
fn checks(sim: &Sim, totals: Totals) -> Vec<Check> {
    let mut checks = vec![
        Check::at_most_ms("generator schedule lag p99", CheckKind::Generator, 1.2, 5.0),
        Check::measured(
            "uptime",
            CheckKind::Sla,
            ">= 99.900%",
            crate::fmt::fmt_pct(totals.ratio),
            totals.ratio >= 0.999,
        ),
        Check::measured(
            "upstream amplification",
            CheckKind::Sla,
            "<= 1.50x",
            "1.030x",
            true,
        ),
    ];
    for (c, name) in sim.classes.iter().enumerate() {
        checks.push(Check::at_most_ms(
            format!("{name} latency p99"),
            CheckKind::Sla,
            histogram::quantile_ms(&sim.hists[c].latency, 0.99),
            budgets(c).p99.unwrap_or_default(),
        ));
    }
    checks
}

/// The outage of the first provider.
fn fault_info(shape: &Shape, providers: &[String]) -> FaultInfo {
    let (start_s, end_s) = fault_window(shape);
    FaultInfo {
        label: format!("outage (503) on provider {}", providers[0]),
        start_s,
        end_s: Some(end_s),
        probability: 1.0,
    }
}

/// What was run: one scenario with every class on one model, every
/// provider on one profile, and the outage.
fn scenario_info(shape: &Shape, sim: &Sim, fault: FaultInfo) -> ScenarioInfo {
    ScenarioInfo {
        name: shape.name.clone(),
        seed: 7,
        file: Some("scenarios/synthetic.toml".into()),
        description: Some(format!("{} s synthetic run with an outage", shape.seconds)),
        duration_s: f64::from(shape.seconds),
        gateway: "builtin".into(),
        started_at: "2025-01-01T12:00:00Z".into(),
        traffic: sim
            .classes
            .iter()
            .enumerate()
            .map(|(c, name)| TrafficInfo {
                name: name.clone(),
                weight: 1.0,
                model: "default".into(),
                prompt_tokens: 300,
                max_tokens: 100,
                stream: c == sim.classes.len() - 1,
                budgets_ms: budgets(c),
            })
            .collect(),
        providers: sim
            .providers
            .iter()
            .map(|p| ProviderInfo {
                name: p.clone(),
                profile: "deepseek-v4-flash".into(),
                model: "deepseek-v4-flash".into(),
                region: "us-east".into(),
                price_input_per_m: 0.07,
                price_output_per_m: 0.25,
                group: None,
            })
            .collect(),
        faults: vec![fault],
        sla_budgets_ms: BudgetsMs::default(),
    }
}

/// A generator that kept up: one hold stage, sub-millisecond lag.
fn generator(shape: &Shape, totals: Totals) -> Generator {
    Generator {
        target_rpm: shape.rps as f64 * 60.0,
        achieved_rpm: shape.rps as f64 * 60.0,
        span_s: f64::from(shape.seconds),
        sent: totals.counted,
        dropped: 0,
        lag_ms: Lag {
            p50: 0.3,
            p99: 1.2,
            max: 4.0,
        },
        lag_limit_ms: 5.0,
        lag_limit_from: "the default".into(),
        gave_up: None,
        host: None,
        start_at: None,
        start_late_ms: None,
        shard: None,
        stages: vec![StageHealth {
            index: 0,
            shape: format!("hold {} rpm for {}s", shape.rps * 60, shape.seconds),
            start_s: 0.0,
            end_s: f64::from(shape.seconds),
            target_rpm: shape.rps as f64 * 60.0,
            achieved_rpm: shape.rps as f64 * 60.0,
            sent: totals.counted,
        }],
    }
}

fn requests(timeline: &[Second], totals: Totals) -> Requests {
    Requests {
        counted: totals.counted,
        ok: totals.ok,
        failed: totals.failed,
        cut_off: 0,
        in_flight_at_interrupt: None,
        by_outcome: Outcome::ALL
            .iter()
            .map(|o| {
                (
                    o.name().to_string(),
                    timeline.iter().map(|s| s.outcomes[o.index()]).sum(),
                )
            })
            .collect(),
        gateway_errors: None,
    }
}

/// Latency over all classes and per class (every recorded request was OK).
fn latency(sim: &Sim, all: &histogram::Hist) -> Latency {
    Latency {
        all: Percentiles::of(all),
        classes: sim
            .classes
            .iter()
            .zip(&sim.hists)
            .map(|(name, h)| {
                let n = h.latency.len();
                let cl = ClassLatency {
                    latency: Percentiles::of(&h.latency),
                    requests: n,
                    ok: n,
                    ttft: h.ttft.as_ref().map(Percentiles::of),
                    tpot: h.itl.as_ref().map(Percentiles::of),
                    tokens_per_s: h.itl.as_ref().map(|_| 50.0),
                };
                (name.clone(), cl)
            })
            .collect(),
        service: Percentiles::of(all),
    }
}

/// The cost: $0.01 more for each provider, spread evenly over the classes.
fn cost(sim: &Sim, totals: Totals) -> Cost {
    Cost {
        total: 0.06,
        per_1k_requests: 0.06 / totals.counted.max(1) as f64 * 1000.0,
        by_provider: sim
            .providers
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), 0.01 * (i as f64 + 1.0)))
            .collect(),
        by_class: sim
            .classes
            .iter()
            .map(|c| (c.clone(), 0.06 / sim.classes.len() as f64))
            .collect(),
        failover_added: 0.002,
    }
}
