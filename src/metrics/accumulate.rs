//! The outputs that follow a run as it goes (latency.hlog, requests.csv,
//! the live progress line) are [`Accumulator`]s: the recorder feeds each
//! of them every result and every closed second, from the one task that
//! records the run, and asks them at the end what they could not write.
//! End-of-run outputs are renderers instead (`report/`): they read the
//! finished results and never see the stream.

use super::histogram::{Hist, Percentiles};
use super::request::RequestResult;

/// One second of the run, closed: nothing more will be added to its
/// latency (a late result is counted in its row, not in these histograms).
pub struct ClosedSecond<'a> {
    /// Seconds since t=0.
    pub second: u32,
    /// Per traffic class: latency of the requests that completed OK in
    /// this second.
    pub classes: &'a [Hist],
    /// The same over all classes.
    pub all: &'a Hist,
    /// Its percentiles.
    pub latency: Percentiles,
}

/// A streamed output that could not be written completely.
#[derive(Debug)]
pub struct Incomplete {
    /// The file's name in the run directory.
    pub file: &'static str,
    pub error: anyhow::Error,
}

/// Something that follows a run as it goes. Every method has a default
/// that ignores what the output does not need.
pub trait Accumulator: Send {
    /// The file it writes, for reports of what could not be written.
    fn file(&self) -> &'static str {
        "a streamed output"
    }
    /// One request's result, after the recorder has counted it.
    fn record(&mut self, _r: &RequestResult) {}
    /// A second closed.
    fn second(&mut self, _s: &ClosedSecond) {}
    /// The run ended: flush; say what could not be written (the run's
    /// measurements are in memory, so a failed output never fails the run).
    fn finish(&mut self) -> Option<Incomplete> {
        None
    }
}
