//! The checks a run is judged by: generator health (INVALID when it fails)
//! and the scenario's SLA (FAIL when it fails).

use super::failover::Reach;
use super::uptime::Uptime;
use super::verdict::{
    fmt_pct, Check, CheckKind, CheckState, COMPLETED_CHECK, INTERNAL_ERROR_CHECK,
};
use crate::metrics::histogram::{self, Hist};
use crate::scenario::{Budgets, Scenario};

/// What the checks read.
pub struct Measured<'a> {
    pub lag: &'a Hist,
    pub dropped: u64,
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
}

pub fn checks(scenario: &Scenario, m: &Measured) -> Vec<Check> {
    let mut out = run_checks(m.run);
    out.extend(generator_checks(m));
    let uptime = if m.uptime.counted > 0 {
        Check::measured(
            "uptime",
            CheckKind::Sla,
            format!(">= {}", fmt_pct(scenario.sla.uptime)),
            fmt_pct(m.uptime.ratio),
            meets(m.uptime.ratio, scenario.sla.uptime),
        )
    } else {
        Check::unmeasured(
            "uptime",
            CheckKind::Sla,
            format!(">= {}", fmt_pct(scenario.sla.uptime)),
            CheckState::NotMeasured,
            "no request was counted",
        )
    };
    out.push(uptime);
    budget_checks(&mut out, "all", &scenario.sla.budgets, m.all);
    if let Some(report) = m.failover {
        failover_checks(&mut out, scenario, report);
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
    let mut lag = Check::at_most_ms(
        "generator schedule lag p99",
        CheckKind::Generator,
        histogram::quantile_ms(m.lag, 0.99),
        m.run.lag_limit_ms,
    );
    if !lag.pass {
        lag.why = context.map(str::to_string);
    }
    let mut out = vec![lag];
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
    out.push(Check::measured(
        "requests counted",
        CheckKind::Generator,
        "> 0",
        m.uptime.counted.to_string(),
        m.uptime.counted > 0,
    ));
    out
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
                    format!("<= {}", super::verdict::fmt_ms(limit)),
                    CheckState::NotMeasured,
                    format!("no successful request in {scope}"),
                )
            } else {
                Check::at_most_ms(name, CheckKind::Sla, histogram::quantile_ms(h, q), limit)
            });
        }
    }
}

fn failover_checks(out: &mut Vec<Check>, scenario: &Scenario, r: &super::failover::Report) {
    if let Some(max) = scenario.sla.max_time_to_failover {
        let limit = max.as_secs_f64();
        // Only outages call for a failover; a latency spike or a squeeze may
        // legitimately keep traffic where it is.
        // A provider with no first attempts before the fault (a fallback
        // that only takes overflow) has nothing to fail over from.
        // A window the run never reached is shown as such, whatever its traffic.
        let had_traffic = |w: &&super::failover::Window| {
            w.reach == Reach::NotReached || w.usual_first_share.is_some_and(|u| u > 0.0)
        };
        for w in r
            .windows
            .iter()
            .filter(|w| w.fault.starts_with("outage"))
            .filter(had_traffic)
        {
            out.push(time_to_failover_check(w, limit));
        }
    }
    if let Some(max) = scenario.sla.max_amplification {
        out.push(Check::measured(
            "upstream amplification",
            CheckKind::Sla,
            format!("<= {max:.2}x"),
            format!("{:.3}x", r.amplification),
            r.amplification <= max,
        ));
    }
}

fn time_to_failover_check(w: &super::failover::Window, limit: f64) -> Check {
    let name = format!("time to failover: {}", w.fault);
    let target = format!("<= {limit:.1} s");
    match (w.reach, w.time_to_failover_s) {
        (Reach::NotReached, _) => Check::unmeasured(
            name,
            CheckKind::Sla,
            target,
            CheckState::NotReached,
            format!(
                "the run stopped before the window began at {:.0} s",
                w.start_s
            ),
        ),
        // Stopped inside the window before traffic left: "never" would be
        // a guess about time the run did not see.
        (Reach::CutShort, None) => Check::unmeasured(
            name,
            CheckKind::Sla,
            target,
            CheckState::NotReached,
            "the run stopped inside the window before first attempts left the provider",
        ),
        (_, ttf) => Check::measured(
            name,
            CheckKind::Sla,
            target,
            ttf.map_or("never".into(), |t| format!("{t:.1} s")),
            ttf.is_some_and(|t| t <= limit),
        ),
    }
}

/// `ratio >= target`, forgiving the rounding of a parsed percentage
/// ("99.9%" is 0.9990000000000001): exactly 999 of 1,000 meets 99.9%.
pub fn meets(ratio: f64, target: f64) -> bool {
    ratio >= target - 1e-12
}

#[cfg(test)]
mod tests {
    #[test]
    fn uptime_exactly_at_a_parsed_percentage_target_meets_it() {
        let target = 99.9 / 100.0; // how "99.9%" parses: 0.9990000000000001
        assert!(super::meets(999.0 / 1000.0, target));
        assert!(super::meets(99_900.0 / 100_000.0, target));
        assert!(!super::meets(998.0 / 1000.0, target));
    }
}
