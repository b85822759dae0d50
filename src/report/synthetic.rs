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
    Cost, Event, EventKind, ProviderStats, Report, SecondFlow, Window,
};
use crate::analysis::{Check, CheckKind};
use crate::metrics::histogram::{self, Percentiles};
use crate::metrics::recorder::SecondRow;
use crate::metrics::Outcome;
use crate::results::*;

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
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let n = shape.seconds;
    let (nc, np) = (shape.classes.max(1), shape.providers.max(1));
    let classes: Vec<String> = (0..nc).map(|i| format!("class-{i}")).collect();
    let providers: Vec<String> = (0..np).map(|i| format!("provider-{i}")).collect();
    let (fault_start, fault_end) = (f64::from(n) * 0.4, f64::from(n) * 0.5);
    let in_fault = |t: u32| f64::from(t) >= fault_start && f64::from(t) < fault_end;
    let mut hists: Vec<ClassHists> = (0..nc)
        .map(|c| ClassHists {
            latency: histogram::new(),
            ttft: (c == nc - 1).then(histogram::new),
            itl: (c == nc - 1).then(histogram::new),
        })
        .collect();
    let mut timeline = Vec::new();
    let mut rows = Vec::new();
    let mut events = Vec::new();
    let mut flows = Vec::new();
    for t in 0..n {
        let fault = in_fault(t);
        let mut s = Second {
            t,
            target_rpm: shape.rps as f64 * 60.0,
            sent: shape.rps,
            class_ok: vec![0; nc],
            class_errors: vec![0; nc],
            share: vec![0.0; np],
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
            histogram::record_us(&mut hists[c].latency, (ms * 1000.0) as u64);
            histogram::record_us(&mut interval, (ms * 1000.0) as u64);
            let h = &mut hists[c];
            if let (Some(ttft), Some(itl)) = (h.ttft.as_mut(), h.itl.as_mut()) {
                histogram::record_us(ttft, (ms * 300.0) as u64);
                histogram::record_us(itl, (15_000.0 + 10_000.0 * rng.random::<f64>()) as u64);
            }
            s.outcomes[Outcome::Ok.index()] += 1;
            s.class_ok[c] += 1;
        }
        let p = Percentiles::of(&interval);
        (s.p50, s.p90, s.p99, s.max) = (p.p50, p.p90, p.p99, p.max);
        let first = if fault { 0.0 } else { 0.7 };
        for (k, share) in s.share.iter_mut().enumerate() {
            *share = match (k, np) {
                (_, 1) => 1.0,
                (0, _) => first,
                (1, _) => 1.0 - first - 0.1 * f64::from(np > 2),
                (2, _) => 0.1,
                _ => 0.0,
            };
        }
        if fault {
            s.failovers = shape.rps / 4;
            s.retries = 1;
            for k in 0..s.failovers {
                events.push(Event {
                    seq: u64::from(t) * shape.rps + k,
                    class: classes[(k as usize) % nc].clone(),
                    at_s: f64::from(t) + k as f64 / shape.rps as f64,
                    kind: EventKind::Failover,
                    first_provider: providers[0].clone(),
                    served_by: Some(providers[1 % np].clone()),
                    attempts: 2,
                    latency_ms: 900.0 + k as f64,
                    outcome: Outcome::Ok,
                });
            }
        }
        let attempts = shape.rps + s.failovers + s.retries;
        s.attempts = Some(attempts);
        s.amplification = Some(attempts as f64 / shape.rps as f64);
        let named = |v: u32| {
            providers
                .iter()
                .map(|p| (p.clone(), v))
                .collect::<BTreeMap<_, _>>()
        };
        flows.push(SecondFlow {
            t,
            sent: shape.rps as u32,
            amplification: attempts as f64 / shape.rps as f64,
            attempts: named(attempts as u32 / np as u32),
            first_attempts: named(shape.rps as u32 / np as u32),
            served: named(s.ok() as u32 / np as u32),
        });
        rows.push(SecondRow {
            second: t,
            sent: s.sent,
            outcomes: s.outcomes,
            ..SecondRow::default()
        });
        timeline.push(s);
    }
    let summary = summary(
        shape, &classes, &providers, &hists, &timeline, &rows, events, flows,
    );
    RunData {
        summary,
        classes,
        providers,
        timeline,
        hists,
        notes: Vec::new(),
        baseline_curves: Vec::new(),
    }
}

#[allow(clippy::too_many_arguments)]
fn summary(
    shape: &Shape,
    classes: &[String],
    providers: &[String],
    hists: &[ClassHists],
    timeline: &[Second],
    rows: &[SecondRow],
    events: Vec<Event>,
    flows: Vec<SecondFlow>,
) -> Summary {
    let ok: u64 = timeline.iter().map(Second::ok).sum();
    let failed: u64 = timeline.iter().map(Second::errors).sum();
    let counted = ok + failed;
    let ratio = ok as f64 / counted.max(1) as f64;
    let mut all = histogram::new();
    for h in hists {
        all.add(&h.latency).expect("same bounds");
    }
    let budgets = |c: usize| BudgetsMs {
        p50: None,
        p95: None,
        p99: Some(2000.0 + 1000.0 * c as f64),
    };
    let mut checks = vec![
        Check::at_most_ms("generator schedule lag p99", CheckKind::Generator, 1.2, 5.0),
        Check::measured(
            "uptime",
            CheckKind::Sla,
            ">= 99.900%",
            crate::fmt::fmt_pct(ratio),
            ratio >= 0.999,
        ),
        Check::measured(
            "upstream amplification",
            CheckKind::Sla,
            "<= 1.50x",
            "1.030x",
            true,
        ),
    ];
    for (c, name) in classes.iter().enumerate() {
        checks.push(Check::at_most_ms(
            format!("{name} latency p99"),
            CheckKind::Sla,
            histogram::quantile_ms(&hists[c].latency, 0.99),
            budgets(c).p99.unwrap_or_default(),
        ));
    }
    let per_provider = |i: usize| ProviderStats {
        attempts: counted / providers.len() as u64,
        first_attempts: counted / providers.len() as u64,
        failed_attempts: if i == 0 { failed } else { 0 },
        served: ok / providers.len() as u64,
        input_tokens: 1000 * (i as u64 + 1),
        output_tokens: 500 * (i as u64 + 1),
        cost_usd: 0.01 * (i as f64 + 1.0),
    };
    let cost = Cost {
        total: 0.06,
        per_1k_requests: 0.06 / counted.max(1) as f64 * 1000.0,
        by_provider: providers
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), 0.01 * (i as f64 + 1.0)))
            .collect(),
        by_class: classes
            .iter()
            .map(|c| (c.clone(), 0.06 / classes.len() as f64))
            .collect(),
        failover_added: 0.002,
    };
    let (fs, fe) = (
        f64::from(shape.seconds) * 0.4,
        f64::from(shape.seconds) * 0.5,
    );
    let fault_label = format!("outage (503) on provider {}", providers[0]);
    let failovers = events.len() as u64;
    Summary {
        schema_version: SCHEMA_VERSION,
        slabench_version: "test".into(),
        scenario: ScenarioInfo {
            name: shape.name.clone(),
            seed: 7,
            file: Some("scenarios/synthetic.toml".into()),
            description: Some(format!("{} s synthetic run with an outage", shape.seconds)),
            duration_s: f64::from(shape.seconds),
            gateway: "builtin".into(),
            started_at: "2025-01-01T12:00:00Z".into(),
            traffic: classes
                .iter()
                .enumerate()
                .map(|(c, name)| TrafficInfo {
                    name: name.clone(),
                    weight: 1.0,
                    model: "default".into(),
                    prompt_tokens: 300,
                    max_tokens: 100,
                    stream: c == classes.len() - 1,
                    budgets_ms: budgets(c),
                })
                .collect(),
            providers: providers
                .iter()
                .map(|p| ProviderInfo {
                    name: p.clone(),
                    profile: "deepseek-v4-flash".into(),
                    model: "deepseek-v4-flash".into(),
                    region: "us-east".into(),
                    price_input_per_m: 0.07,
                    price_output_per_m: 0.25,
                })
                .collect(),
            faults: vec![FaultInfo {
                label: fault_label.clone(),
                start_s: fs,
                end_s: Some(fe),
                probability: 1.0,
            }],
            sla_budgets_ms: BudgetsMs::default(),
        },
        verdict: crate::analysis::verdict::verdict(&checks),
        interrupted: false,
        internal_errors: Vec::new(),
        gateway_exit: None,
        output_problems: Vec::new(),
        checks,
        generator: Generator {
            target_rpm: shape.rps as f64 * 60.0,
            achieved_rpm: shape.rps as f64 * 60.0,
            sent: counted,
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
            stages: vec![StageHealth {
                index: 0,
                shape: format!("hold {} rpm for {}s", shape.rps * 60, shape.seconds),
                start_s: 0.0,
                end_s: f64::from(shape.seconds),
                target_rpm: shape.rps as f64 * 60.0,
                achieved_rpm: shape.rps as f64 * 60.0,
                sent: counted,
            }],
        },
        requests: Requests {
            counted,
            ok,
            failed,
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
        },
        uptime: UptimeOut {
            ratio,
            ci95: [ratio - 0.001, ratio.min(1.0)],
            target: 0.999,
            error_budget: budget::budget(rows, ok, counted, 0.999),
        },
        latency_ms: Latency {
            all: Percentiles::of(&all),
            classes: classes
                .iter()
                .zip(hists)
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
            service: Percentiles::of(&all),
        },
        failover: Some(Report {
            events: failovers + 1,
            failovers,
            retries: 1,
            exhausted: 0,
            unreached: 0,
            amplification: 1.03,
            attempts: counted + failovers,
            untagged_attempts: 0,
            unmatched_attempts: 0,
            served_by_disagreements: 0,
            gateway_account: None,
            failover_latency_ms: Percentiles::default(),
            normal_latency_ms: Percentiles::of(&all),
            providers: providers
                .iter()
                .enumerate()
                .map(|(i, p)| (p.clone(), per_provider(i)))
                .collect(),
            windows: vec![Window {
                provider: providers[0].clone(),
                fault: fault_label,
                start_s: fs,
                end_s: Some(fe),
                usual_first_share: Some(0.8),
                time_to_failover_s: Some(1.0),
                time_to_recover_s: Some(2.0),
                requests: (fe - fs) as u64 * shape.rps,
                errors: failed,
                p99_ms: 1500.0,
                reach: Default::default(),
            }],
            cost: cost.clone(),
            event_list: events,
            per_second: flows,
            ledger_error: None,
        }),
        cost_usd: Some(cost),
        baseline: None,
    }
}
