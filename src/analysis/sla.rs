//! The checks a run is judged by: generator health (INVALID when it fails)
//! and the scenario's SLA (FAIL when it fails).

use super::uptime::Uptime;
use super::verdict::{fmt_pct, Check, CheckKind};
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
}

pub fn checks(scenario: &Scenario, m: &Measured) -> Vec<Check> {
    let mut out = vec![
        Check::at_most_ms(
            "generator schedule lag p99",
            CheckKind::Generator,
            histogram::quantile_ms(m.lag, 0.99),
            scenario.load.max_lag_p99.as_secs_f64() * 1000.0,
        ),
        Check {
            name: "generator dropped sends".into(),
            kind: CheckKind::Generator,
            target: "0".into(),
            measured: m.dropped.to_string(),
            pass: m.dropped == 0,
        },
        Check {
            name: "requests counted".into(),
            kind: CheckKind::Generator,
            target: "> 0".into(),
            measured: m.uptime.counted.to_string(),
            pass: m.uptime.counted > 0,
        },
        Check {
            name: "uptime".into(),
            kind: CheckKind::Sla,
            target: format!(">= {}", fmt_pct(scenario.sla.uptime)),
            measured: fmt_pct(m.uptime.ratio),
            pass: m.uptime.counted > 0 && meets(m.uptime.ratio, scenario.sla.uptime),
        },
    ];
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

fn budget_checks(out: &mut Vec<Check>, scope: &str, budgets: &Budgets, h: &Hist) {
    for (label, q, budget) in [
        ("p50", 0.50, budgets.p50),
        ("p95", 0.95, budgets.p95),
        ("p99", 0.99, budgets.p99),
    ] {
        if let Some(b) = budget {
            let mut c = Check::at_most_ms(
                format!("{scope} latency {label}"),
                CheckKind::Sla,
                histogram::quantile_ms(h, q),
                b.as_secs_f64() * 1000.0,
            );
            // A budget over no successful request at all is not met.
            c.pass &= !h.is_empty();
            out.push(c);
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
        let had_traffic =
            |w: &&super::failover::Window| w.usual_first_share.is_some_and(|u| u > 0.0);
        for w in r
            .windows
            .iter()
            .filter(|w| w.fault.starts_with("outage"))
            .filter(had_traffic)
        {
            out.push(Check {
                name: format!("time to failover: {}", w.fault),
                kind: CheckKind::Sla,
                target: format!("<= {limit:.1} s"),
                measured: w
                    .time_to_failover_s
                    .map_or("never".into(), |t| format!("{t:.1} s")),
                pass: w.time_to_failover_s.is_some_and(|t| t <= limit),
            });
        }
    }
    if let Some(max) = scenario.sla.max_amplification {
        out.push(Check {
            name: "upstream amplification".into(),
            kind: CheckKind::Sla,
            target: format!("<= {max:.2}x"),
            measured: format!("{:.3}x", r.amplification),
            pass: r.amplification <= max,
        });
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
