//! A run compared with a stored baseline, as summary.json carries it. The
//! rules that produce it are in `baseline/`; `report/` renders it.

use serde::{Deserialize, Serialize};

use crate::fmt::{fmt_ms, fmt_pct};

/// How one metric moved against the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Regressed,
    Improved,
    WithinNoise,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Regressed => "REGRESSED",
            Change::Improved => "improved",
            Change::WithinNoise => "within noise",
        }
    }
}

/// One compared metric, e.g. `chat p99`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricComparison {
    /// `chat p99`, `all p50`, `uptime`, `time to failover (flash)`.
    pub metric: String,
    /// The traffic class, for latency metrics.
    pub class: Option<String>,
    pub baseline: f64,
    pub candidate: f64,
    /// `ms`, `ratio` or `s`.
    pub unit: String,
    /// candidate ÷ baseline − 1 (positive is slower for latency).
    pub relative_change: f64,
    pub change: Change,
    /// How the verdict was reached, with numbers, e.g. the noise interval.
    pub detail: String,
}

/// The comparison of a run with a baseline, as summary.json carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub baseline_file: String,
    pub baseline_scenario: String,
    pub baseline_started_at: String,
    pub tolerance: f64,
    pub floor_ms: f64,
    pub metrics: Vec<MetricComparison>,
}

impl Comparison {
    /// Whether any metric regressed (`slabench compare` exits 4).
    pub fn regressed(&self) -> bool {
        self.metrics.iter().any(|m| m.change == Change::Regressed)
    }
}

/// A metric's value in its unit: `12.5 ms`, `99.950%`, `3 s`.
pub fn show(v: f64, unit: &str) -> String {
    match unit {
        "ms" => fmt_ms(v),
        "ratio" => fmt_pct(v),
        "s" => format!("{v:.0} s"),
        _ => format!("{v}"),
    }
}
