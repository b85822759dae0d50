//! Latency recording (HdrHistogram), per-second timeline, outcome classes.

pub mod accumulate;
pub mod histogram;
pub mod host;
pub mod messages;
pub mod outcome;
pub mod recorder;
pub mod request;

pub use outcome::Outcome;
