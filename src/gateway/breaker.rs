//! Per-provider circuit breaker: a pure state machine on an injected clock.
//!
//! Nothing here reads the time: every call takes `now`, so the whole machine
//! is tested on synthetic instants (see the tests at the bottom, including an
//! exhaustive comparison with a naive reference model).
//!
//! ```text
//!   Closed ──(failures in window ≥ `failures`, or rate ≥ `failure_rate`
//!             with ≥ `min_requests` attempts)──▶ Open
//!   Open ──(`cool_off` elapsed, checked on the next admit)──▶ HalfOpen
//!   HalfOpen ──(`half_open_probes` probe successes)──▶ Closed
//!   HalfOpen ──(any probe failure)──▶ Open (a full `cool_off` again)
//! ```
//!
//! Every admitted attempt gets a [`Ticket`], which must come back through
//! [`Breaker::record`] or [`Breaker::cancel`]. Tickets carry the *generation*
//! they were issued in; each transition to Open or to Closed starts a new
//! one, and results from an older generation are ignored. That is what keeps
//! a hundred requests that were in flight when the breaker opened from
//! counting against the next closed period, and what keeps a slow probe from
//! an earlier half-open round from closing the breaker.

use std::time::Duration;
use tokio::time::Instant;

use crate::scenario::BreakerPolicy;

/// Buckets in the sliding window. A result counts for between 90% and 100%
/// of `window` after it happened: the window slides one bucket at a time.
pub const WINDOW_BUCKETS: usize = 10;

/// What an observer sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// Permission for one attempt; hand it back with the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    generation: u64,
    probe: bool,
}

impl Ticket {
    /// Whether this attempt is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { in_flight: u32, successes: u32 },
}

#[derive(Debug, Clone)]
pub struct Breaker {
    enabled: bool,
    /// 0 disables the count rule.
    failures: u32,
    failure_rate: Option<f64>,
    min_requests: u32,
    cool_off: Duration,
    /// At least 1.
    probes: u32,
    state: State,
    generation: u64,
    window: Window,
}

impl Breaker {
    /// A closed breaker; `now` anchors the window's buckets.
    pub fn new(policy: &BreakerPolicy, now: Instant) -> Self {
        Self::with_buckets(policy, now, WINDOW_BUCKETS)
    }

    /// As [`Breaker::new`] with `buckets` window buckets (tests use few, so
    /// that short event sequences reach the window's edge).
    pub(crate) fn with_buckets(policy: &BreakerPolicy, now: Instant, buckets: usize) -> Self {
        Breaker {
            enabled: policy.enabled,
            failures: policy.failures,
            failure_rate: policy.failure_rate,
            min_requests: policy.min_requests.max(1),
            cool_off: policy.cool_off,
            probes: policy.half_open_probes.max(1),
            state: State::Closed,
            generation: 0,
            window: Window::new(now, policy.window, buckets),
        }
    }

    pub fn state(&self, now: Instant) -> BreakerState {
        match self.state {
            State::Closed => BreakerState::Closed,
            State::Open { until } if now < until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Asks to send one attempt. `None`: the breaker is open, or half-open
    /// with every probe slot taken; skip this provider.
    pub fn admit(&mut self, now: Instant) -> Option<Ticket> {
        if !self.enabled {
            return Some(self.ticket(false));
        }
        if let State::Open { until } = self.state {
            if now < until {
                return None;
            }
            self.state = State::HalfOpen {
                in_flight: 0,
                successes: 0,
            };
        }
        match &mut self.state {
            State::Closed => Some(self.ticket(false)),
            State::HalfOpen {
                in_flight,
                successes,
            } => {
                // No point in more probes than successes still needed.
                if *in_flight + *successes >= self.probes {
                    return None;
                }
                *in_flight += 1;
                Some(self.ticket(true))
            }
            State::Open { .. } => unreachable!("handled above"),
        }
    }

    /// The result of an admitted attempt: `ok` is false for a failure that
    /// speaks about the provider's health (5xx, 429, timeout, connection).
    pub fn record(&mut self, now: Instant, ticket: Ticket, ok: bool) {
        if !self.enabled || ticket.generation != self.generation {
            return;
        }
        match &mut self.state {
            State::Closed => {
                self.window.add(now, ok);
                if !ok && self.tripped(now) {
                    self.open(now);
                }
            }
            State::HalfOpen {
                in_flight,
                successes,
            } => {
                *in_flight = in_flight.saturating_sub(1);
                if !ok {
                    self.open(now);
                } else {
                    *successes += 1;
                    if *successes >= self.probes {
                        self.close();
                    }
                }
            }
            // Tickets of the current generation are never issued while open:
            // entering Open always starts a new generation.
            State::Open { .. } => {}
        }
    }

    /// An admitted attempt that ended without a verdict (the client went
    /// away): frees its probe slot, counts nothing.
    pub fn cancel(&mut self, ticket: Ticket) {
        if ticket.generation != self.generation {
            return;
        }
        if let State::HalfOpen { in_flight, .. } = &mut self.state {
            *in_flight = in_flight.saturating_sub(1);
        }
    }

    fn ticket(&self, probe: bool) -> Ticket {
        Ticket {
            generation: self.generation,
            probe,
        }
    }

    fn tripped(&self, now: Instant) -> bool {
        let (ok, failed) = self.window.counts(now);
        let total = u64::from(ok) + u64::from(failed);
        let by_count = self.failures > 0 && failed >= self.failures;
        let by_rate = self.failure_rate.is_some_and(|rate| {
            total >= u64::from(self.min_requests) && f64::from(failed) >= rate * total as f64
        });
        by_count || by_rate
    }

    fn open(&mut self, now: Instant) {
        self.state = State::Open {
            until: now + self.cool_off,
        };
        self.generation += 1;
        self.window.clear();
    }

    fn close(&mut self) {
        self.state = State::Closed;
        self.generation += 1;
        self.window.clear();
    }
}

/// Successes and failures over the last `window`, in a fixed ring of buckets.
#[derive(Debug, Clone)]
struct Window {
    origin: Instant,
    /// Nanoseconds per bucket, at least 1.
    width: u128,
    buckets: Box<[Bucket]>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    epoch: u64,
    ok: u32,
    failed: u32,
}

impl Window {
    fn new(origin: Instant, window: Duration, buckets: usize) -> Self {
        let buckets = buckets.max(1);
        Window {
            origin,
            width: (window.as_nanos() / buckets as u128).max(1),
            buckets: vec![Bucket::default(); buckets].into_boxed_slice(),
        }
    }

    fn epoch(&self, now: Instant) -> u64 {
        let nanos = now.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(nanos / self.width).unwrap_or(u64::MAX)
    }

    fn add(&mut self, now: Instant, ok: bool) {
        let epoch = self.epoch(now);
        let n = self.buckets.len() as u64;
        let bucket = &mut self.buckets[(epoch % n) as usize];
        if bucket.epoch != epoch {
            *bucket = Bucket {
                epoch,
                ..Bucket::default()
            };
        }
        if ok {
            bucket.ok = bucket.ok.saturating_add(1);
        } else {
            bucket.failed = bucket.failed.saturating_add(1);
        }
    }

    fn counts(&self, now: Instant) -> (u32, u32) {
        let current = self.epoch(now);
        let n = self.buckets.len() as u64;
        self.buckets
            .iter()
            .filter(|b| b.epoch <= current && current - b.epoch < n)
            .fold((0u32, 0u32), |(ok, failed), b| {
                (ok.saturating_add(b.ok), failed.saturating_add(b.failed))
            })
    }

    fn clear(&mut self) {
        self.buckets.fill(Bucket::default());
    }
}

#[cfg(test)]
#[path = "breaker_tests.rs"]
mod tests;
