//! Comparing a run with a stored baseline (the p99 regression gate).
//!
//! CONTRACT (shared with the reports): a comparison is a list of metric
//! verdicts; each failing one also becomes a `Check` of kind `Baseline`, so
//! the verdict is REGRESSION (exit 4) when nothing worse happened.
//!
//! `file` is the stored form of a run, `compare` the rules, `stats` the noise
//! tests, `gate` the hooks around a run and `slabench compare`, `render` the
//! terminal table.

use serde::{Deserialize, Serialize};

pub mod compare;
#[cfg(test)]
mod compare_tests;
pub mod error;
pub mod file;
pub mod gate;
pub mod render;
pub mod stats;

pub use error::BaselineError;
pub use file::Baseline;
pub use gate::{compare_files, RunGate};

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
