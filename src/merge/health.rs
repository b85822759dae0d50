//! How the shards' runs went, as one run: the sends end when the last
//! shard's did; an interrupt, a give-up, an internal error or a gateway
//! exit in any shard is the merged run's, said with the shard's number;
//! and the generator is judged per shard (the worst shard's lag decides),
//! never on a mix that would hide one shard that could not keep up.

use crate::analysis::sla::RunFacts;
use crate::analysis::verdict::{Check, CheckKind};
use crate::load::generator::DriveEnd;
use crate::metrics::histogram;
use crate::scenario::Scenario;
use crate::shard::ShardRun;

/// The sends of all shards as one drive.
pub fn drive_end(shards: &[ShardRun]) -> DriveEnd {
    let ends: Vec<DriveEnd> = shards.iter().map(|s| s.manifest.drive.end()).collect();
    let in_flight: Vec<u64> = ends
        .iter()
        .filter_map(|e| e.in_flight_at_interrupt)
        .collect();
    DriveEnd {
        interrupted: ends.iter().any(|e| e.interrupted),
        send_span: ends.iter().map(|e| e.send_span).max().unwrap_or_default(),
        in_flight_at_interrupt: (!in_flight.is_empty()).then(|| in_flight.iter().sum()),
        gave_up: ends.iter().filter_map(|e| e.gave_up).min_by_key(|g| g.at),
    }
}

/// The facts of the merged run, each with the shard it came from.
pub fn facts(scenario: &Scenario, shards: &[ShardRun]) -> RunFacts {
    let (limit, _) = scenario.lag_limit();
    let named = |s: &ShardRun, what: &str| format!("shard {}: {what}", s.manifest.shard);
    let mut facts = RunFacts {
        lag_limit_ms: limit.as_secs_f64() * 1000.0,
        ..RunFacts::default()
    };
    for s in shards {
        let m = &s.manifest;
        if let Some(why) = &m.interrupted {
            facts.interrupted.get_or_insert_with(|| named(s, why));
        }
        facts
            .internal_errors
            .extend(m.internal_errors.iter().map(|e| named(s, e)));
        if let Some(exit) = &m.gateway_exit {
            facts
                .gateway_exit
                .get_or_insert_with(|| named(s, &exit.headline()));
        }
    }
    // The shard that gave up first says why.
    let first_gave_up = shards
        .iter()
        .filter_map(|s| s.manifest.drive.end().gave_up.map(|g| (g.at, s)))
        .min_by_key(|(at, _)| *at);
    if let Some((_, s)) = first_gave_up {
        let host = s.manifest.host.unwrap_or_default();
        let own = crate::run::run_facts(scenario, &s.manifest.drive.end(), &host);
        facts.gave_up = own.gave_up.map(|why| named(s, &why));
    }
    facts.start = latest_start(shards);
    let worst = worst_lag(shards);
    facts.generator_context =
        worst.map(|(_, s)| named(s, &s.manifest.host.unwrap_or_default().explain()));
    facts
}

/// With `--start-at`: the shard whose load began latest decides whether
/// the merged run kept the common clock.
fn latest_start(shards: &[ShardRun]) -> Option<crate::analysis::start::StartFact> {
    shards
        .iter()
        .filter_map(|s| {
            let m = &s.manifest;
            Some(crate::analysis::start::StartFact {
                start_at: m.start_at.clone()?,
                late_ms: m.start_late_ms?,
                sent: m.start_sent.unwrap_or(true),
            })
        })
        .max_by(|a, b| a.late_ms.total_cmp(&b.late_ms))
}

/// The shard with the highest schedule lag p99 (ms).
fn worst_lag(shards: &[ShardRun]) -> Option<(f64, &ShardRun)> {
    shards
        .iter()
        .map(|s| (histogram::quantile_ms(&s.recorder.lag, 0.99), s))
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

/// The checks a merged run adds: the worst shard's lag against the limit
/// (a shard that fell behind is not hidden by the others' good lag), and
/// whether every shard is there (a missing shard's share of the schedule
/// was never measured: the load was not the scenario's, so the run is
/// INVALID, as when the generator could not send it).
pub fn checks(
    scenario: &Scenario,
    shards: &[ShardRun],
    count: u32,
    (missing, unfinished): (&[crate::load::shard::Shard], &[String]),
) -> Vec<Check> {
    let (limit, _) = scenario.lag_limit();
    let mut out = Vec::new();
    let silent = shards.iter().find(|s| s.recorder.lag.is_empty());
    if let Some(s) = silent {
        out.push(Check::unmeasured(
            format!(
                "generator schedule lag p99, worst shard ({})",
                s.manifest.shard
            ),
            CheckKind::Generator,
            format!("<= {}", crate::fmt::fmt_ms(limit.as_secs_f64() * 1000.0)),
            crate::analysis::verdict::CheckState::NotMeasured,
            format!(
                "shard {} sent nothing, so its lag was never measured",
                s.manifest.shard
            ),
        ));
    } else if let Some((p99, s)) = worst_lag(shards) {
        let mut c = Check::at_most_ms(
            format!(
                "generator schedule lag p99, worst shard ({})",
                s.manifest.shard
            ),
            CheckKind::Generator,
            p99,
            limit.as_secs_f64() * 1000.0,
        );
        if !c.pass {
            c.why = Some(s.manifest.host.unwrap_or_default().explain());
        }
        out.push(c);
    }
    let present = count as usize - missing.len();
    let mut all = Check::measured(
        "every shard merged",
        CheckKind::Generator,
        format!("{count} of {count}"),
        format!("{present} of {count}"),
        missing.is_empty(),
    );
    if !missing.is_empty() {
        all = all.because(format!(
            "{}{}: its share of the schedule was never measured, so the merged load is not the \
             scenario's; merge every shard's run directory",
            super::check::missing_sentence(missing),
            match unfinished.is_empty() {
                true => String::new(),
                false => format!(" ({})", unfinished.join("; ")),
            }
        ));
    }
    out.push(all);
    out
}
