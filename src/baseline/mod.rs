//! Comparing a run with a stored baseline (the p99 regression gate).
//!
//! CONTRACT (shared with the reports): a comparison is a list of metric
//! verdicts; each failing one also becomes a `Check` of kind `Baseline`, so
//! the verdict is REGRESSION (exit 4) when nothing worse happened.
//!
//! `file` is the stored form of a run, `compare` the rules, `stats` the noise
//! tests, `gate` the hooks around a run and `slabench compare`. The comparison's
//! data types live in `results::comparison`; `report::comparison` renders
//! them.

pub mod compare;
#[cfg(test)]
mod compare_tests;
pub mod error;
pub mod file;
pub mod gate;
pub mod stats;

pub use error::BaselineError;
pub use file::Baseline;
pub use gate::{compare_files, RunGate};

/// The curves of the baseline a run was compared with, loaded from the file
/// its summary names; empty when there was none or the file is not at hand
/// (a run directory copied elsewhere).
pub fn curves_of(
    summary: &crate::results::Summary,
    classes: &[String],
) -> Vec<Option<crate::metrics::histogram::Hist>> {
    summary
        .baseline
        .as_ref()
        .and_then(|c| Baseline::load(std::path::Path::new(&c.baseline_file)).ok())
        .map(|(b, _)| b.curves(classes))
        .unwrap_or_default()
}

pub use crate::results::comparison::{Change, Comparison, MetricComparison};
