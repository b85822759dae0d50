//! Did the case's fault fire? Faults with a probability (a stream cut in
//! 30% of streams, a cold start in 30%) can miss every request of a short
//! case, and then "no bad answer reached the client" is true about
//! nothing. The providers' ledger says what each attempt got: a case whose
//! fault left no trace there is not measured, never a pass.
//!
//! Outages and 429 faults are judged by checks that are themselves "not
//! exercised" when nothing reached them (time to failover, Retry-After,
//! non-retryable errors); the cases here are the others, whose criteria
//! would pass on an untouched run.

use std::path::Path;
use std::time::Duration;

use super::battery::Case;
use crate::providers::{read_ledger, AttemptOutcome};

/// What an attempt the fault acted on looks like in the ledger.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trace {
    /// The provider recorded this outcome.
    Outcome(AttemptOutcome),
    /// A stream went silent after its first byte for at least this long
    /// (the 3 s stall; the profile's 48-token streams take about 0.2 s).
    PausedAfterFirstByte(Duration),
    /// A stream's first byte came this late, or never within this long
    /// (the 14 s cold start; the profile's first token has p99 400 ms).
    FirstByteLate(Duration),
    /// Any attempt at all: the fault acts on every one (a latency spike).
    Any,
}

impl Trace {
    pub fn what(self) -> &'static str {
        match self {
            Trace::Outcome(AttemptOutcome::Malformed) => "malformed answer",
            Trace::Outcome(AttemptOutcome::StreamCut) => "cut stream",
            Trace::Outcome(AttemptOutcome::StreamError) => "error event",
            Trace::Outcome(AttemptOutcome::HttpError) => "error answer",
            Trace::Outcome(_) => "faulty answer",
            Trace::Any => "attempt",
            Trace::PausedAfterFirstByte(_) => "stalled stream",
            Trace::FirstByteLate(_) => "cold start",
        }
    }
}

/// The trace of `case`'s fault, for the cases whose fault can pass unseen.
pub fn trace(case: &Case) -> Option<Trace> {
    Some(match case.name {
        "malformed" => Trace::Outcome(AttemptOutcome::Malformed),
        "stream-cut" => Trace::Outcome(AttemptOutcome::StreamCut),
        "error-event-mid-stream" | "overloaded-529-stream" => {
            Trace::Outcome(AttemptOutcome::StreamError)
        }
        "error-burst-5xx" | "cascade" => Trace::Outcome(AttemptOutcome::HttpError),
        "latency-spike" => Trace::Any,
        "stream-stall" => Trace::PausedAfterFirstByte(Duration::from_millis(1500)),
        // A gateway may give up well before 1.5 s: 0.8 s without a first
        // byte is still 4 standard deviations past the profile's tail.
        "cold-start" => Trace::FirstByteLate(Duration::from_millis(800)),
        _ => return None,
    })
}

/// Attempts at `provider` arriving within `window` (µs from t0) that show
/// `trace`, from the ledger at `path`. A damaged tail ends the count: hits
/// before it stand (the fault did fire); with none, the error is returned.
pub fn count(path: &Path, provider: u16, window: (i64, i64), trace: Trace) -> anyhow::Result<u64> {
    let mut n = 0;
    for a in read_ledger(path) {
        let a = match a {
            Ok(a) => a,
            Err(_) if n > 0 => break,
            Err(e) => return Err(e),
        };
        if a.provider != provider || a.arrived_us < window.0 || a.arrived_us >= window.1 {
            continue;
        }
        let lasted =
            Duration::from_micros(a.answered_us.saturating_sub(a.arrived_us).max(0) as u64);
        let first = a.first_byte_us.map(|us| Duration::from_micros(us.into()));
        let hit = match trace {
            Trace::Outcome(o) => a.outcome == o,
            Trace::PausedAfterFirstByte(d) => {
                a.stream && first.is_some_and(|f| lasted.saturating_sub(f) >= d)
            }
            Trace::FirstByteLate(d) => a.stream && first.map_or(lasted >= d, |f| f >= d),
            Trace::Any => true,
        };
        n += u64::from(hit);
    }
    Ok(n)
}
