//! The comparison as a terminal table: one row per metric, then the
//! reasoning behind every metric that moved (regressed or improved).

use std::fmt::Write as _;

use crate::fmt::fmt_ms;
use crate::results::comparison::show;
use crate::results::{Change, Comparison};

/// The table printed after a run with `--baseline` and by `slabench compare`.
pub fn terminal(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n  baseline    {} ({}, recorded {}) · tolerance {:.0}% · floor {}",
        c.baseline_file,
        c.baseline_scenario,
        c.baseline_started_at,
        c.tolerance * 100.0,
        fmt_ms(c.floor_ms)
    );
    let width = c
        .metrics
        .iter()
        .map(|m| m.metric.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    let _ = writeln!(
        out,
        "\n  {:<width$} {:>10} {:>10} {:>8}  verdict",
        "metric", "baseline", "this run", "change"
    );
    for m in &c.metrics {
        let _ = writeln!(
            out,
            "  {:<width$} {:>10} {:>10} {:>8}  {}",
            m.metric,
            show(m.baseline, &m.unit),
            show(m.candidate, &m.unit),
            format!("{:+.1}%", m.relative_change * 100.0),
            m.change.as_str()
        );
    }
    let moved: Vec<_> = c
        .metrics
        .iter()
        .filter(|m| m.change != Change::WithinNoise)
        .collect();
    if !moved.is_empty() {
        out.push('\n');
    }
    for m in moved {
        let _ = writeln!(out, "  {} {}: {}", m.change.as_str(), m.metric, m.detail);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::MetricComparison;

    #[test]
    fn table_lists_every_metric_and_explains_the_moved_ones() {
        let metric = |name: &str, b: f64, c: f64, change| MetricComparison {
            metric: name.into(),
            class: Some("chat".into()),
            baseline: b,
            candidate: c,
            unit: "ms".into(),
            relative_change: c / b - 1.0,
            change,
            detail: format!("why {name}"),
        };
        let c = Comparison {
            baseline_file: "reports/baselines/smoke.json".into(),
            baseline_scenario: "smoke".into(),
            baseline_started_at: "2025-01-01T00:00:00Z".into(),
            tolerance: 0.1,
            floor_ms: 5.0,
            metrics: vec![
                metric("chat p50", 100.0, 101.0, Change::WithinNoise),
                metric("chat p99", 200.0, 250.0, Change::Regressed),
            ],
        };
        let text = terminal(&c);
        assert!(
            text.contains("reports/baselines/smoke.json (smoke"),
            "{text}"
        );
        assert!(text.contains("tolerance 10% · floor 5.00 ms"), "{text}");
        assert!(text.contains("chat p50") && text.contains("within noise"));
        assert!(text.contains("+25.0%  REGRESSED"), "{text}");
        assert!(text.contains("REGRESSED chat p99: why chat p99"));
        assert!(!text.contains("why chat p50"));
    }
}
