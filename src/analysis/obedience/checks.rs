//! The `[sla]` checks of obedience: `max_retry_after_violations`,
//! `max_non_retryable_retries`, `max_rewritten_errors`,
//! `max_flapping_probes` (one check per flapping fault and provider). Only
//! a measured check can pass: nothing to judge is `not_exercised`, a window
//! the run never reached `not_reached`, a refusing flapping fault
//! `not_observable`; without a ledger, `not_measured`.

use super::Obedience;
use crate::analysis::verdict::{Check, CheckKind, CheckState};
use crate::scenario::{FaultKind, Scenario, SlaKey};

pub const RETRY_AFTER: &str = "retry-after violations";
pub const NON_RETRYABLE: &str = "non-retryable errors retried";
pub const REWRITTEN: &str = "rewritten errors";
pub const FLAPPING: &str = "flapping probes";

/// The `[sla]` key of an obedience check, by its name.
pub fn key(name: &str) -> Option<SlaKey> {
    match name {
        RETRY_AFTER => Some(SlaKey::RetryAfterViolations),
        NON_RETRYABLE => Some(SlaKey::NonRetryableRetries),
        REWRITTEN => Some(SlaKey::RewrittenErrors),
        n if n.starts_with(FLAPPING) => Some(SlaKey::FlappingProbes),
        _ => None,
    }
}

/// The obedience checks the scenario's `[sla]` asks for, from `o`, or
/// `not_measured` with the reason when there was nothing to judge from.
pub fn checks(sc: &Scenario, o: Result<&Obedience, &str>) -> Vec<Check> {
    let sla = &sc.sla;
    let mut out = Vec::new();
    if let Some(max) = sla.max_retry_after_violations {
        out.push(count_check(RETRY_AFTER, max, o, |o| {
            let r = &o.retry_after;
            let why = r.worst.as_ref().map(|w| {
                format!(
                    "{} Retry-After answer(s) not waited for; worst: {}",
                    r.share_text(),
                    w.text()
                )
            });
            (r.state, r.violations, why.or(r.why.clone()))
        }));
    }
    if let Some(max) = sla.max_non_retryable_retries {
        out.push(count_check(NON_RETRYABLE, max, o, |o| {
            let n = &o.non_retryable;
            (n.state, n.tried_again, n.example.clone().or(n.why.clone()))
        }));
    }
    if let Some(max) = sla.max_rewritten_errors {
        out.push(count_check(REWRITTEN, max, o, |o| {
            let r = &o.rewritten;
            let why = r.pairs.first().map(|p| p.text());
            (r.state, r.rewritten, why.or(r.why.clone()))
        }));
    }
    if let Some(max) = sla.max_flapping_probes {
        flapping(&mut out, sc, max, o);
    }
    out
}

fn flapping(out: &mut Vec<Check>, sc: &Scenario, max: u64, o: Result<&Obedience, &str>) {
    let target = format!("<= {max} per down phase");
    let o = match o {
        Err(why) => {
            let c = Check::unmeasured(
                FLAPPING,
                CheckKind::Sla,
                target,
                CheckState::NotMeasured,
                why,
            );
            return out.push(c);
        }
        Ok(o) => o,
    };
    if o.flapping.is_empty() {
        let has = sc
            .faults
            .iter()
            .any(|f| matches!(f.kind, FaultKind::Flapping { .. }));
        let (state, why) = if has {
            (
                CheckState::NotReached,
                "no flapping fault inside the timeline",
            )
        } else {
            (
                CheckState::NotExercised,
                "the scenario has no flapping fault",
            )
        };
        return out.push(Check::unmeasured(
            FLAPPING,
            CheckKind::Sla,
            target,
            state,
            why,
        ));
    }
    for f in &o.flapping {
        let name = format!("{FLAPPING}: {} at {}", f.window, f.provider);
        out.push(match f.state {
            CheckState::Measured => Check::measured(
                name,
                CheckKind::Sla,
                target.clone(),
                f.probes_max.to_string(),
                f.probes_max <= max,
            )
            .because(format!(
                "{} of {} down phase(s) met, {:.1} probe(s) per met phase on average",
                f.down_phases_met, f.down_phases, f.probes_mean
            )),
            state => Check::unmeasured(
                name,
                CheckKind::Sla,
                target.clone(),
                state,
                f.why.clone().unwrap_or_default(),
            ),
        });
    }
}

/// A count against `max`: `judge` gives the state, the count and why.
fn count_check(
    name: &str,
    max: u64,
    o: Result<&Obedience, &str>,
    judge: impl FnOnce(&Obedience) -> (CheckState, u64, Option<String>),
) -> Check {
    let target = format!("<= {max}");
    let o = match o {
        Ok(o) => o,
        Err(why) => {
            return Check::unmeasured(name, CheckKind::Sla, target, CheckState::NotMeasured, why)
        }
    };
    match judge(o) {
        (CheckState::Measured, n, why) => {
            let mut c = Check::measured(name, CheckKind::Sla, target, n.to_string(), n <= max);
            c.why = why;
            c
        }
        (state, _, why) => {
            Check::unmeasured(name, CheckKind::Sla, target, state, why.unwrap_or_default())
        }
    }
}
