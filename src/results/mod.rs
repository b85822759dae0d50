//! The results of a run as data: [`Summary`] (summary.json) and the types
//! it holds, built once by [`Summary::build`] from what the run recorded
//! and analysed.
//!
//! This layer sits between the measurement and its consumers: `report/`
//! renders a Summary, `baseline/` compares Summaries, and neither imports
//! the other. Nothing here reads or writes files or decides a verdict (the
//! checks and the verdict come from `analysis/`).

pub mod brief;
mod build;
pub mod comparison;
pub mod summary;

pub use build::BuildInput;
pub use comparison::{Change, Comparison, MetricComparison};
pub use summary::*;
