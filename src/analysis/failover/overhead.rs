//! Gateway overhead: the time a request spent in the gateway rather than at a
//! provider, measured for any gateway from the join, with no instrumentation.
//!
//! Per request: the client's service time (from the actual send to the end
//! of the answer) minus the time spent at providers. Time at providers is
//! the *union* of the request's attempts' intervals in the ledger (arrival
//! to answer), so that overlapping attempts (hedges, a retry sent before
//! the first gave up) count once, and cut at the moment the serving attempt
//! finished answering: whatever a losing hedge did after that, the client
//! was no longer waiting for it. Gaps between attempts (backoff, picking
//! the next provider) and everything before the first and after the last
//! byte are the gateway's (and the network's, and the client's own stack,
//! all on loopback).
//!
//! For streams, time to first token likewise: the client's TTFT from the
//! send minus the union of the attempts' intervals cut at the moment the
//! serving attempt sent its first content byte (the ledger's
//! `first_byte_us`).
//!
//! Measured: successful requests that reached a provider, whose serving
//! attempt the ledger holds. Excluded: requests no provider received, failed
//! requests, requests cut off at the end. Nothing is clamped: a request
//! whose providers' time exceeds the client's (clocks are one monotonic
//! clock here, so this should not happen) is counted in `negative` and left
//! out of the percentiles.
//!
//! The join hands each request's attempts just before the request (in
//! request order), so only the intervals of the request at hand are kept
//! (sorted by arrival), and the per-second rows (by the second the request
//! was meant to leave) need one interval histogram.

use serde::{Deserialize, Serialize};

use super::events::Class;
use super::facts::Fact;
use crate::metrics::histogram::{self, Hist};
use crate::metrics::recorder::ClientTiming;
use crate::providers::ledger::{Attempt, AttemptOutcome};

/// One spread of overhead values, in ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Requests measured (in the percentiles).
    pub requests: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    /// Requests whose providers' time exceeded the client's: counted here,
    /// not in the percentiles.
    pub negative: u64,
}

/// `gateway_overhead_ms` in summary.json.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Overhead {
    /// Every measured request.
    #[serde(flatten)]
    pub all: Spread,
    /// Requests whose first attempt succeeded.
    pub normal: Spread,
    /// Requests whose first attempt failed and that were answered after a
    /// retry or a failover.
    pub failed_over: Spread,
    /// Streams: the overhead in time to first token; `null` without streams.
    pub ttft: Option<Spread>,
    /// Successful requests that reached a provider but whose ledger has no
    /// successful attempt to measure against (e.g. an answer the gateway
    /// made up or patched): not measured.
    pub unmeasured: u64,
    /// p50 and p99 per second, by the second the requests were meant to leave.
    pub per_second: Vec<OverheadSecond>,
}

impl Overhead {
    /// The overhead in one line, for the terminal and summary.md:
    /// `gateway overhead p50 0.31 ms, p99 0.94 ms (normal, 980 requests),
    /// failed over p99 412 ms (20) · ttft p50 0.40 ms, p99 1.2 ms`.
    pub fn headline(&self) -> String {
        use crate::fmt::fmt_ms;
        let (n, f) = (&self.normal, &self.failed_over);
        // The normal requests first; a run whose every request failed over
        // shows those instead.
        let (main, kind) = if n.requests > 0 {
            (n, "normal")
        } else {
            (f, "failed over")
        };
        let mut line = if self.all.requests == 0 {
            "gateway overhead not measured (no answered request to measure)".to_string()
        } else {
            format!(
                "gateway overhead p50 {}, p99 {} ({kind}, {} requests)",
                fmt_ms(main.p50),
                fmt_ms(main.p99),
                main.requests
            )
        };
        if n.requests > 0 && f.requests > 0 {
            line += &format!(", failed over p99 {} ({})", fmt_ms(f.p99), f.requests);
        }
        if let Some(t) = self.ttft.filter(|t| t.requests > 0) {
            line += &format!(" · ttft p50 {}, p99 {}", fmt_ms(t.p50), fmt_ms(t.p99));
        }
        let negative = self.all.negative + self.ttft.map_or(0, |t| t.negative);
        if negative > 0 {
            line += &format!(" · {negative} negative (not in the percentiles)");
        }
        if self.unmeasured > 0 {
            line += &format!(
                " · {} answered without a successful attempt (not measured)",
                self.unmeasured
            );
        }
        line
    }
}

/// One second of `Overhead::per_second` (seconds without a measured
/// request are left out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct OverheadSecond {
    pub second: u32,
    pub requests: u64,
    pub p50: f64,
    pub p99: f64,
}

/// One attempt's interval, as the overhead needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Span {
    pub arrived_us: i64,
    /// Arrival to answer (or to giving up), µs.
    pub busy_us: u32,
    /// Arrival to first content byte, µs.
    pub first_byte_us: Option<u32>,
    pub seq: u32,
    pub provider: u16,
    pub ok: bool,
}

impl Span {
    fn of(seq: u32, a: &Attempt) -> Span {
        let busy = a
            .answered_us
            .saturating_sub(a.arrived_us)
            .clamp(0, i64::from(u32::MAX));
        Span {
            arrived_us: a.arrived_us,
            busy_us: busy as u32,
            first_byte_us: a.first_byte_us,
            seq,
            provider: a.provider,
            ok: a.outcome == AttemptOutcome::Ok,
        }
    }

    fn end_us(&self) -> i64 {
        self.arrived_us + i64::from(self.busy_us)
    }

    /// When its first content byte left (its end when it sent none).
    fn first_byte_at(&self) -> i64 {
        self.arrived_us + i64::from(self.first_byte_us.unwrap_or(self.busy_us))
    }
}

/// One request's overheads, µs (negative when the providers' time exceeds
/// the client's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Measure {
    pub overhead_us: i64,
    pub ttft_us: Option<i64>,
}

/// Time spent at providers before `until`: the union of the intervals of
/// `spans` (sorted by arrival), each cut at `until`.
pub(super) fn busy_until(spans: &[Span], until: i64) -> i64 {
    let mut total = 0;
    let mut open: Option<(i64, i64)> = None;
    for s in spans {
        let (from, to) = (s.arrived_us, s.end_us().min(until));
        if to <= from {
            continue;
        }
        open = match open {
            Some((a, b)) if from <= b => Some((a, b.max(to))),
            Some((a, b)) => {
                total += b - a;
                Some((from, to))
            }
            None => Some((from, to)),
        };
    }
    total + open.map_or(0, |(a, b)| b - a)
}

/// The overheads of one successful request served by `served`, or `None`
/// when no successful attempt at `served` is in `spans` (sorted by arrival)
/// or the client has no service time.
pub(super) fn measure(spans: &[Span], served: u16, timing: ClientTiming) -> Option<Measure> {
    let service = ClientTiming::get(timing.service_us)?;
    // With several successful attempts there (a hedge both sides of which
    // answered), the one whose answer started first is the one served.
    let serving = spans
        .iter()
        .filter(|s| s.ok && s.provider == served)
        .min_by_key(|s| s.first_byte_at())?;
    let overhead_us = i64::from(service) - busy_until(spans, serving.end_us());
    let ttft_us = ClientTiming::get(timing.ttft_us)
        .zip(serving.first_byte_us)
        .map(|(ttft, _)| i64::from(ttft) - busy_until(spans, serving.first_byte_at()));
    Some(Measure {
        overhead_us,
        ttft_us,
    })
}

/// A spread being filled.
struct Tally {
    hist: Hist,
    negative: u64,
}

impl Tally {
    fn new() -> Self {
        Tally {
            hist: histogram::new(),
            negative: 0,
        }
    }

    fn add(&mut self, us: i64) {
        match u64::try_from(us) {
            Ok(us) => histogram::record_us(&mut self.hist, us),
            Err(_) => self.negative += 1,
        }
    }

    fn spread(&self) -> Spread {
        let q = |q| histogram::quantile_ms(&self.hist, q);
        Spread {
            requests: self.hist.len(),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            max: self.hist.max() as f64 / 1000.0,
            negative: self.negative,
        }
    }
}

/// Collects the attempts' intervals during the join, then measures the
/// requests in request order.
pub(super) struct OverheadTally<'a> {
    // Read only by the slice-based `request` the tests use.
    #[cfg_attr(not(test), allow(dead_code))]
    timings: &'a [ClientTiming],
    /// Whether the client's timings were kept (else nothing is measured).
    kept: bool,
    spans: Vec<Span>,
    sorted: bool,
    next: usize,
    all: Tally,
    normal: Tally,
    failed_over: Tally,
    ttft: Tally,
    unmeasured: u64,
    second: Option<u32>,
    interval: Hist,
    per_second: Vec<OverheadSecond>,
}

impl<'a> OverheadTally<'a> {
    /// `timings` by request number, as the recorder kept them.
    #[cfg(test)]
    pub fn new(timings: &'a [ClientTiming]) -> Self {
        OverheadTally {
            kept: !timings.is_empty(),
            ..Self::streamed(false)
        }
        .with_timings(timings)
    }

    #[cfg(test)]
    fn with_timings(mut self, timings: &'a [ClientTiming]) -> Self {
        self.timings = timings;
        self
    }

    /// Timings handed in with each request (`request_timed`); `kept`:
    /// whether the client kept them.
    pub fn streamed(kept: bool) -> Self {
        OverheadTally {
            timings: &[],
            kept,
            spans: Vec::new(),
            sorted: false,
            next: 0,
            all: Tally::new(),
            normal: Tally::new(),
            failed_over: Tally::new(),
            ttft: Tally::new(),
            unmeasured: 0,
            second: None,
            interval: histogram::new(),
            per_second: Vec::new(),
        }
    }

    /// One joined attempt of request `seq`.
    pub fn attempt(&mut self, seq: u64, a: &Attempt) {
        if !self.kept {
            return;
        }
        if let Ok(seq) = u32::try_from(seq) {
            self.spans.push(Span::of(seq, a));
            self.sorted = false;
        }
    }

    /// One request, in request order, with its class.
    #[cfg(test)]
    pub fn request(&mut self, f: &Fact, class: Class) {
        let timing = self
            .timings
            .get(f.seq)
            .copied()
            .unwrap_or(ClientTiming::MISSING);
        self.request_timed(f, class, timing);
    }

    /// One request, in request order, with its class and the client's
    /// timing; the attempts' intervals up to it are let go.
    pub fn request_timed(&mut self, f: &Fact, class: Class, timing: ClientTiming) {
        if !self.sorted {
            self.spans
                .sort_unstable_by_key(|s| (s.seq, s.arrived_us, s.busy_us));
            self.sorted = true;
        }
        let seq = f.seq as u32;
        while self.spans.get(self.next).is_some_and(|s| s.seq < seq) {
            self.next += 1;
        }
        let from = self.next;
        while self.spans.get(self.next).is_some_and(|s| s.seq == seq) {
            self.next += 1;
        }
        // Answered requests only: not those no provider received
        // (`Unreached`, `Unattempted`), failed ones, or those cut off.
        let answered = matches!(class, Class::Normal | Class::Event(_)) && f.rec.outcome.is_ok();
        let m = answered.then(|| measure(&self.spans[from..self.next], f.served, timing));
        // Memory: only the intervals of requests not seen yet stay.
        if self.next * 2 >= self.spans.len() {
            self.spans.drain(..self.next);
            self.next = 0;
        }
        match m {
            None => {}
            Some(None) => self.unmeasured += 1,
            Some(Some(m)) => self.record(f, class, m),
        }
    }

    fn record(&mut self, f: &Fact, class: Class, m: Measure) {
        self.all.add(m.overhead_us);
        if matches!(class, Class::Normal) {
            self.normal.add(m.overhead_us);
        } else {
            self.failed_over.add(m.overhead_us);
        }
        if let Some(t) = m.ttft_us {
            self.ttft.add(t);
        }
        let second = f.rec.intended_ms / 1000;
        if self.second.is_some_and(|s| s != second) {
            self.close_second();
        }
        self.second = Some(second);
        if let Ok(us) = u64::try_from(m.overhead_us) {
            histogram::record_us(&mut self.interval, us);
        }
    }

    fn close_second(&mut self) {
        if let Some(second) = self.second.take() {
            if !self.interval.is_empty() {
                self.per_second.push(OverheadSecond {
                    second,
                    requests: self.interval.len(),
                    p50: histogram::quantile_ms(&self.interval, 0.5),
                    p99: histogram::quantile_ms(&self.interval, 0.99),
                });
            }
            self.interval.reset();
        }
    }

    /// The overhead, or `None` when the client's timings were not kept.
    pub fn finish(mut self) -> Option<Overhead> {
        if !self.kept {
            return None;
        }
        self.close_second();
        Some(Overhead {
            all: self.all.spread(),
            normal: self.normal.spread(),
            failed_over: self.failed_over.spread(),
            ttft: (self.ttft.hist.len() + self.ttft.negative > 0).then(|| self.ttft.spread()),
            unmeasured: self.unmeasured,
            per_second: self.per_second,
        })
    }
}

#[cfg(test)]
#[path = "overhead_tests.rs"]
mod tests;
