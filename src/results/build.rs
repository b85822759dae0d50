//! [`Summary::build`]: the one place a run's recordings, analysis and facts
//! become the Summary that every output and the baseline gate read.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::summary::*;
use crate::analysis::obedience::Obedience;
use crate::analysis::sla::{self, RunFacts};
use crate::analysis::uptime::Uptime;
use crate::load::generator::DriveEnd;
use crate::load::schedule::RateCurve;
use crate::metrics::histogram::{self, Percentiles};
use crate::metrics::host::HostUsage;
use crate::metrics::recorder::{ClassStats, Recorder};
use crate::metrics::Outcome;
use crate::scenario::{Scenario, TrafficClass};

/// Everything a Summary is built from.
pub struct BuildInput<'a> {
    pub scenario: &'a Scenario,
    pub recorder: &'a Recorder,
    pub end: &'a DriveEnd,
    /// Wall-clock start of the run (summary.json's `started_at`).
    pub started: SystemTime,
    /// The ledger join, when simulated providers ran.
    pub failover: Option<crate::analysis::failover::Report>,
    pub facts: &'a RunFacts,
    pub host: Option<HostUsage>,
    pub gateway_exit: Option<GatewayExitOut>,
    pub output_problems: Vec<String>,
    /// The share of the schedule this run sent (the whole by default).
    pub shard: crate::load::shard::Shard,
}

impl Summary {
    /// Judges the run and assembles its summary (without a baseline
    /// comparison: the gate adds that).
    pub fn build(input: BuildInput) -> Summary {
        let BuildInput {
            scenario,
            recorder: rec,
            end,
            ..
        } = input;
        let counts = rec.total_counts();
        let n = |o: Outcome| counts[o.index()];
        let counted: u64 = counts.iter().sum::<u64>() - n(Outcome::CutOff);
        let uptime = Uptime::new(n(Outcome::Ok), counted);
        let all = rec.ok_latency();
        let checks = sla::checks(
            scenario,
            &sla::Measured {
                lag: &rec.lag,
                dropped: n(Outcome::Dropped),
                cut_off: n(Outcome::CutOff),
                uptime: &uptime,
                all: &all,
                classes: rec.classes.iter().map(|c| c.ok_latency()).collect(),
                failover: input.failover.as_ref(),
                run: input.facts,
            },
        );
        Summary {
            schema_version: SCHEMA_VERSION,
            slabench_version: env!("CARGO_PKG_VERSION").into(),
            scenario: super::brief::scenario_info(scenario, input.started),
            verdict: crate::analysis::verdict::verdict(&checks),
            interrupted: input.facts.interrupted.is_some(),
            internal_errors: input.facts.internal_errors.clone(),
            gateway_exit: input.gateway_exit,
            output_problems: input.output_problems,
            checks,
            generator: Generator {
                start_at: input.facts.start.as_ref().map(|s| s.start_at.clone()),
                start_late_ms: input.facts.start.as_ref().map(|s| s.late_ms),
                ..generator(scenario, rec, end, &counts, input.host, input.shard)
            },
            requests: Requests {
                gateway_errors: input.failover.as_ref().map(|f| {
                    crate::analysis::gateway_errors::GatewayErrors::new(
                        &f.gateway_errors,
                        &rec.error_messages,
                    )
                }),
                ..requests(&counts, end)
            },
            uptime: UptimeOut::new(
                &uptime,
                scenario.sla.uptime,
                crate::analysis::budget::budget(
                    &rec.timeline,
                    uptime.ok,
                    uptime.counted,
                    scenario.sla.uptime,
                ),
            ),
            latency_ms: latency(scenario, rec, &all),
            cost_usd: input.failover.as_ref().map(|f| f.cost.clone()),
            gateway_overhead_ms: input
                .failover
                .as_ref()
                .and_then(|f| f.gateway_overhead.clone()),
            obedience: input
                .failover
                .as_ref()
                .and_then(|f| Obedience::of_run(f.obedience.as_ref(), f.ledger_error.as_deref())),
            failover: input.failover,
            baseline: None,
        }
    }
}

fn requests(counts: &[u64], end: &DriveEnd) -> Requests {
    let n = |o: Outcome| counts[o.index()];
    let counted: u64 = counts.iter().sum::<u64>() - n(Outcome::CutOff);
    Requests {
        counted,
        ok: n(Outcome::Ok),
        failed: counted - n(Outcome::Ok),
        cut_off: n(Outcome::CutOff),
        in_flight_at_interrupt: end.in_flight_at_interrupt,
        by_outcome: Outcome::ALL
            .iter()
            .map(|o| (o.name().to_string(), n(*o)))
            .collect(),
        gateway_errors: None,
    }
}

fn generator(
    scenario: &Scenario,
    rec: &Recorder,
    end: &DriveEnd,
    counts: &[u64],
    host: Option<HostUsage>,
    shard: crate::load::shard::Shard,
) -> Generator {
    let dropped = counts[Outcome::Dropped.index()];
    let curve = RateCurve::new(&scenario.load.stages);
    // A shard is asked for its share of every rate.
    let share = shard.share();
    let span = end.send_span.as_secs_f64();
    let sent = counts.iter().sum::<u64>() - dropped;
    let achieved_rpm = if span > 0.0 {
        sent as f64 / span * 60.0
    } else {
        0.0
    };
    let target_rpm = curve.mean_rpm(0.0, span) * share;
    let (lag_limit, lag_limit_from) = scenario.lag_limit();
    Generator {
        target_rpm,
        achieved_rpm,
        span_s: span,
        sent,
        dropped,
        lag_ms: Lag {
            p50: histogram::quantile_ms(&rec.lag, 0.5),
            p99: histogram::quantile_ms(&rec.lag, 0.99),
            max: rec.lag.max() as f64 / 1000.0,
        },
        lag_limit_ms: lag_limit.as_secs_f64() * 1000.0,
        lag_limit_from: lag_limit_from.into(),
        stages: stage_health(scenario, &curve, &rec.stage_sent, share),
        gave_up: end.gave_up.map(|g| GaveUpOut {
            at_s: g.at.as_secs_f64(),
            lag_ms: g.lag.as_secs_f64() * 1000.0,
            held_rpm: g.held_rpm(),
            target_rpm,
        }),
        host,
        start_at: None,
        start_late_ms: None,
        shard: (!shard.is_whole()).then_some(shard),
    }
}

fn latency(scenario: &Scenario, rec: &Recorder, all: &histogram::Hist) -> Latency {
    let classes: BTreeMap<String, ClassLatency> = scenario
        .traffic
        .iter()
        .zip(&rec.classes)
        .map(|(tc, c)| (tc.name.clone(), class_latency(tc, c)))
        .collect();
    let mut service = histogram::new();
    for c in &rec.classes {
        service.add(&c.service).expect("same bounds");
    }
    Latency {
        all: Percentiles::of(all),
        classes,
        service: Percentiles::of(&service),
    }
}

fn class_latency(tc: &TrafficClass, c: &ClassStats) -> ClassLatency {
    let streaming = tc.stream && !c.ttft.is_empty();
    let mean_tpot_s = c.tpot.mean() / 1e6;
    ClassLatency {
        latency: c.ok_latency().map(Percentiles::of).unwrap_or_default(),
        requests: c.counts.iter().sum::<u64>() - c.counts[Outcome::CutOff.index()],
        ok: c.counts[Outcome::Ok.index()],
        ttft: streaming.then(|| Percentiles::of(&c.ttft)),
        tpot: streaming.then(|| Percentiles::of(&c.tpot)),
        tokens_per_s: (streaming && mean_tpot_s > 0.0).then(|| 1.0 / mean_tpot_s),
    }
}

fn stage_health(
    scenario: &Scenario,
    curve: &RateCurve,
    sent: &[u64],
    share: f64,
) -> Vec<StageHealth> {
    let stages = &scenario.load.stages;
    let mut t = 0.0;
    stages
        .iter()
        .zip(crate::scenario::describe_stages(stages))
        .enumerate()
        .map(|(i, (s, shape))| {
            let len = s.duration().as_secs_f64();
            let n = sent.get(i).copied().unwrap_or(0);
            let h = StageHealth {
                index: i,
                shape,
                start_s: t,
                end_s: t + len,
                target_rpm: curve.mean_rpm(t, t + len) * share,
                achieved_rpm: if len > 0.0 {
                    n as f64 / len * 60.0
                } else {
                    0.0
                },
                sent: n,
            };
            t += len;
            h
        })
        .collect()
}
