//! Latency recording (HdrHistogram), per-second timeline, outcome classes.

pub mod histogram;
pub mod outcome;
pub mod recorder;

pub use outcome::Outcome;
