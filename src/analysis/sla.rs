//! The checks a run is judged by: generator health (INVALID when it fails)
//! and the scenario's SLA (FAIL when it fails).

use super::uptime::Uptime;
use super::verdict::{Check, CheckKind, CheckState, COMPLETED_CHECK, INTERNAL_ERROR_CHECK};
use crate::fmt::fmt_pct;
use crate::metrics::histogram::{self, Hist};
use crate::scenario::{Budgets, Scenario, SlaKey};

/// What the checks read.
pub struct Measured<'a> {
    pub lag: &'a Hist,
    pub dropped: u64,
    /// Requests still in flight when the run ended: not counted, and their
    /// outcome unknown.
    pub cut_off: u64,
    pub uptime: &'a Uptime,
    /// Latency of successful requests over all classes.
    pub all: &'a Hist,
    /// Per class (same order as the scenario's traffic): successful latency.
    pub classes: Vec<Option<&'a Hist>>,
    /// The ledger join, when simulated providers ran.
    pub failover: Option<&'a super::failover::Report>,
    /// How the run itself went.
    pub run: &'a RunFacts,
}

/// What happened to the run as a whole, beside what it measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFacts {
    /// How the run was interrupted (`interrupted at 10.2 s`), if it was.
    pub interrupted: Option<String>,
    /// Panics and other internal errors inside slabench during the run.
    pub internal_errors: Vec<String>,
    /// Why the generator gave up before the end of the schedule.
    pub gave_up: Option<String>,
    /// The started gateway process exited during the run: `exited at 12.3 s
    /// (exit status 1)`. A gateway that dies fails its SLA.
    pub gateway_exit: Option<String>,
    /// The effective schedule-lag limit and where it came from.
    pub lag_limit_ms: f64,
    /// Why the generator's checks failed, in terms a CI user can act on
    /// (the CPU slabench got, the machine's load); `None` when it kept up.
    pub generator_context: Option<String>,
    /// With `--start-at`: how late the load began against it.
    pub start: Option<super::start::StartFact>,
    /// Why there is no ledger although the scenario has providers
    /// (`--no-providers`: they were served elsewhere).
    pub no_ledger_why: Option<String>,
}

pub fn checks(scenario: &Scenario, m: &Measured) -> Vec<Check> {
    let mut out = run_checks(m.run);
    out.extend(generator_checks(m));
    out.push(uptime_check(scenario.sla.uptime, m.uptime, m.cut_off));
    budget_checks(&mut out, "all", &scenario.sla.budgets, m.all);
    if m.failover.is_none() {
        unmeasurable_without_ledger(&mut out, scenario, m.run.no_ledger_why.as_deref());
    }
    if let Some(report) = m.failover {
        let first = out.len();
        failover_checks(&mut out, scenario, report);
        let obedience = report.obedience.as_ref();
        let why = "this summary was written before obedience was judged";
        out.extend(super::obedience::checks(scenario, obedience.ok_or(why)));
        if let Some(e) = &report.ledger_error {
            // Judging a partly read ledger would judge attempts nobody read.
            for c in &mut out[first..] {
                *c = Check::unmeasured(
                    c.name.clone(),
                    c.kind,
                    c.target.clone(),
                    CheckState::NotMeasured,
                    format!("the providers' ledger was only partly read ({e})"),
                );
            }
        }
    }
    for (class, hist) in scenario.traffic.iter().zip(&m.classes) {
        let empty = histogram::new();
        budget_checks(
            &mut out,
            &class.name,
            &class.budgets,
            hist.unwrap_or(&empty),
        );
    }
    mark_optional(&mut out, &scenario.sla.optional);
    out
}

/// The run's own checks: it ran its whole schedule, slabench did not fail.
/// Only shown when they fail, so a clean run's table stays as it was.
fn run_checks(run: &RunFacts) -> Vec<Check> {
    let mut out = Vec::new();
    if !run.internal_errors.is_empty() {
        out.push(
            Check::measured(
                INTERNAL_ERROR_CHECK,
                CheckKind::Run,
                "none",
                format!("{}", run.internal_errors.len()),
                false,
            )
            .because(format!(
                "slabench itself failed (a bug in slabench, not in the gateway): {}",
                run.internal_errors.join("; ")
            )),
        );
    }
    if let Some(how) = &run.gateway_exit {
        out.push(
            Check::measured(
                "gateway process stayed up",
                CheckKind::Sla,
                "until the end",
                how.clone(),
                false,
            )
            .because("the gateway under test exited during the run; its last log lines are in the report and gateway.log"),
        );
    }
    if let Some(how) = &run.interrupted {
        out.push(
            Check::measured(
                COMPLETED_CHECK,
                CheckKind::Run,
                "to the end",
                how.clone(),
                false,
            )
            .because("stopped by Ctrl-C or SIGTERM; the numbers cover only the part that ran"),
        );
    }
    out
}

fn generator_checks(m: &Measured) -> Vec<Check> {
    let context = m.run.generator_context.as_deref();
    let lag = if m.lag.is_empty() {
        // No send, no lag: a 0 ms here would be a PASS nothing measured.
        Check::unmeasured(
            "generator schedule lag p99",
            CheckKind::Generator,
            format!("<= {}", crate::fmt::fmt_ms(m.run.lag_limit_ms)),
            CheckState::NotMeasured,
            "no request was sent, so the schedule's lag was never measured",
        )
    } else {
        let mut lag = Check::at_most_ms(
            "generator schedule lag p99",
            CheckKind::Generator,
            histogram::quantile_ms(m.lag, 0.99),
            m.run.lag_limit_ms,
        );
        if !lag.pass {
            lag.why = context.map(str::to_string);
        }
        lag
    };
    let mut out = vec![lag];
    let start = m.run.start.as_ref();
    out.extend(start.map(|s| super::start::check(s, m.run.lag_limit_ms)));
    if let Some(why) = &m.run.gave_up {
        out.push(
            Check::measured(
                "generator kept up with the schedule",
                CheckKind::Generator,
                "to the end",
                "gave up",
                false,
            )
            .because(why.clone()),
        );
    }
    let mut dropped = Check::measured(
        "generator dropped sends",
        CheckKind::Generator,
        "0",
        m.dropped.to_string(),
        m.dropped == 0,
    );
    if !dropped.pass {
        dropped.why = Some(
            "sends would have exceeded load.max_in_flight: raise it, or the gateway is too slow \
             for this rate"
                .into(),
        );
    }
    out.push(dropped);
    // Nothing counted because the run was stopped first, or because every
    // request was still in flight at the end, is not the generator's fault.
    out.push(
        if m.uptime.counted == 0 && (m.run.interrupted.is_some() || m.cut_off > 0) {
            Check::unmeasured(
                "requests counted",
                CheckKind::Generator,
                "> 0",
                CheckState::NotMeasured,
                "no request ended before the run did (interrupted, or all still in flight)",
            )
        } else {
            Check::measured(
                "requests counted",
                CheckKind::Generator,
                "> 0",
                m.uptime.counted.to_string(),
                m.uptime.counted > 0,
            )
        },
    );
    out
}

/// Uptime over the counted requests. Requests still in flight when the run
/// ended have an unknown outcome: the check passes only if the target is
/// met even were they all failures, fails only if it is missed even were
/// they all successes, and is not measured in between.
fn uptime_check(target: f64, u: &Uptime, cut_off: u64) -> Check {
    let target_s = format!(">= {}", fmt_pct(target));
    if u.counted == 0 {
        return Check::unmeasured(
            "uptime",
            CheckKind::Sla,
            target_s,
            CheckState::NotMeasured,
            "no request was counted",
        );
    }
    let worst = u.ok as f64 / (u.counted + cut_off) as f64;
    if meets(worst, target) || !meets(u.ratio, target) {
        return Check::measured(
            "uptime",
            CheckKind::Sla,
            target_s,
            fmt_pct(u.ratio),
            meets(u.ratio, target),
        );
    }
    Check {
        measured: format!("{}–{}", fmt_pct(worst), fmt_pct(u.ratio)),
        ..Check::unmeasured(
            "uptime",
            CheckKind::Sla,
            target_s,
            CheckState::NotMeasured,
            format!(
                "{cut_off} request(s) were still in flight when the run ended, so their outcome \
                 is unknown: uptime is {} if they all failed and {} if they all succeeded; give \
                 load.drain the length of load.timeout so that every request ends",
                fmt_pct(worst),
                fmt_pct(u.ratio)
            ),
        )
    }
}

fn budget_checks(out: &mut Vec<Check>, scope: &str, budgets: &Budgets, h: &Hist) {
    for (label, q, budget) in [
        ("p50", 0.50, budgets.p50),
        ("p95", 0.95, budgets.p95),
        ("p99", 0.99, budgets.p99),
    ] {
        if let Some(b) = budget {
            let name = format!("{scope} latency {label}");
            let limit = b.as_secs_f64() * 1000.0;
            out.push(if h.is_empty() {
                // No successful request: the budget was neither met nor
                // missed (the uptime check says whether requests failed).
                Check::unmeasured(
                    name,
                    CheckKind::Sla,
                    format!("<= {}", crate::fmt::fmt_ms(limit)),
                    CheckState::NotMeasured,
                    format!("no successful request in {scope}"),
                )
            } else {
                Check::at_most_ms(name, CheckKind::Sla, histogram::quantile_ms(h, q), limit)
            });
        }
    }
}

/// The SLA asks for time to failover or amplification, but nothing could
/// measure them: no simulated providers, so no ledger.
fn unmeasurable_without_ledger(out: &mut Vec<Check>, scenario: &Scenario, why: Option<&str>) {
    let why = why.unwrap_or(
        "no simulated [[providers]], so no ledger of provider attempts to measure it from",
    );
    if let Some(max) = scenario.sla.max_time_to_failover {
        out.push(Check::unmeasured(
            "time to failover",
            CheckKind::Sla,
            format!("<= {:.1} s", max.as_secs_f64()),
            CheckState::NotMeasured,
            why,
        ));
    }
    if let Some(max) = scenario.sla.max_amplification {
        out.push(Check::unmeasured(
            "upstream amplification",
            CheckKind::Sla,
            format!("<= {max:.2}x"),
            CheckState::NotMeasured,
            why,
        ));
    }
    out.extend(super::obedience::checks(scenario, Err(why)));
}

fn failover_checks(out: &mut Vec<Check>, scenario: &Scenario, r: &super::failover::Report) {
    if let Some(max) = scenario.sla.max_time_to_failover {
        let limit = max.as_secs_f64();
        // Only outages call for a failover; a latency spike or a squeeze may
        // legitimately keep traffic where it is. Every outage window gets
        // its check, in whatever state it is: one with nothing to react to
        // says so (NOT EXERCISED), it is not skipped.
        for w in r.windows.iter().filter(|w| w.fault.starts_with("outage")) {
            out.push(time_to_failover_check(w, limit));
        }
    }
    if let Some(max) = scenario.sla.max_amplification {
        let target = format!("<= {max:.2}x");
        // No attempt joined to a request (a gateway that forwards none of
        // the tags, or upstreams that are not the simulated providers):
        // 0.000x would be a pass about nothing.
        out.push(if r.attempts == 0 {
            Check::unmeasured(
                "upstream amplification",
                CheckKind::Sla,
                target,
                CheckState::NotMeasured,
                format!(
                    "no provider attempt could be joined to a request ({} untagged, {} unmatched)",
                    r.untagged_attempts, r.unmatched_attempts
                ),
            )
        } else if let Some(why) = unseen_refusals(r).filter(|_| r.amplification <= max) {
            // Refused attempts were not counted: the figure is a lower
            // bound, which can fail the check but never pass it.
            let mut c = Check::unmeasured(
                "upstream amplification",
                CheckKind::Sla,
                target,
                CheckState::NotObservable,
                format!(
                    "at least {:.3}x, but connections refused in a refuse window were not observable, so the attempts they were are not counted: {why}",
                    r.amplification
                ),
            );
            c.measured = format!(">= {:.3}x", r.amplification);
            c
        } else {
            Check::measured(
                "upstream amplification",
                CheckKind::Sla,
                target,
                format!("{:.3}x", r.amplification),
                r.amplification <= max,
            )
        });
    }
}

/// Why refused connections went uncounted, when a refuse window that the
/// run reached could not watch them (its window is `not_observable`).
fn unseen_refusals(r: &super::failover::Report) -> Option<&str> {
    r.windows
        .iter()
        .find(|w| w.state == super::failover::WindowState::NotObservable)
        .map(|w| w.why.as_deref().unwrap_or("not watched"))
}

/// The time-to-failover check of one window, in the window's state.
fn time_to_failover_check(w: &super::failover::Window, limit: f64) -> Check {
    use super::failover::WindowState as S;
    let name = format!("time to failover: {}", w.fault);
    let target = format!("<= {limit:.1} s");
    let why = w.why.clone().unwrap_or_default();
    let unmeasured = |state| {
        Check::unmeasured(
            name.clone(),
            CheckKind::Sla,
            target.clone(),
            state,
            why.clone(),
        )
    };
    match (w.state, w.time_to_failover_s) {
        (S::Measured, Some(t)) => Check::measured(
            name,
            CheckKind::Sla,
            target,
            format!("{t:.1} s"),
            t <= limit,
        ),
        // Measured `never`, or a file whose state was lost: a failure.
        (S::Measured | S::Never, _) => {
            Check::measured(name, CheckKind::Sla, target, "never", false).because(why)
        }
        (S::NotExercised, _) => unmeasured(CheckState::NotExercised),
        (S::NotObservable, _) => unmeasured(CheckState::NotObservable),
        (S::NotReached, _) => unmeasured(CheckState::NotReached),
    }
}

/// Marks the checks of the `[sla]` keys the scenario made optional.
fn mark_optional(out: &mut [Check], optional: &[SlaKey]) {
    for c in out.iter_mut().filter(|c| c.kind == CheckKind::Sla) {
        let key = match c.name.as_str() {
            "uptime" => SlaKey::Uptime,
            "all latency p50" => SlaKey::P50,
            "all latency p95" => SlaKey::P95,
            "all latency p99" => SlaKey::P99,
            "upstream amplification" => SlaKey::Amplification,
            n if n.starts_with("time to failover") => SlaKey::TimeToFailover,
            n => match super::obedience::check_key(n) {
                Some(key) => key,
                None => continue,
            },
        };
        c.optional = optional.contains(&key);
    }
}

/// `ratio >= target`, forgiving the rounding of a parsed percentage
/// ("99.9%" is 0.9990000000000001): exactly 999 of 1,000 meets 99.9%.
pub fn meets(ratio: f64, target: f64) -> bool {
    ratio >= target - 1e-12
}

#[cfg(test)]
#[path = "sla_tests.rs"]
pub(crate) mod tests;
