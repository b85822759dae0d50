//! The run's shared clock: t=0 is the start of the first stage.
//!
//! Providers, the gateway and the generator all hold one `RunClock`, so fault
//! windows, stages and the report's time axes agree. Providers start before
//! t=0 (readiness and preflight happen first); until `start` is called,
//! `elapsed` is `None` and no fault is active.

use std::sync::OnceLock;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Default)]
pub struct RunClock {
    origin: OnceLock<Instant>,
}

impl RunClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// A clock whose t=0 is `origin` (tests, and the generator's own start).
    pub fn started_at(origin: Instant) -> Self {
        let clock = Self::new();
        clock.origin.set(origin).expect("fresh clock");
        clock
    }

    /// Sets t=0 to `origin`; later calls are ignored and return the first origin.
    pub fn start(&self, origin: Instant) -> Instant {
        *self.origin.get_or_init(|| origin)
    }

    pub fn origin(&self) -> Option<Instant> {
        self.origin.get().copied()
    }

    /// Time since t=0; `None` before the run started, zero for instants before it.
    pub fn elapsed_at(&self, at: Instant) -> Option<Duration> {
        self.origin.get().map(|o| at.saturating_duration_since(*o))
    }

    pub fn elapsed(&self) -> Option<Duration> {
        self.elapsed_at(Instant::now())
    }

    /// Microseconds since t=0 (negative before it, or before the run started: `i64::MIN`).
    pub fn micros_at(&self, at: Instant) -> i64 {
        match self.origin.get() {
            None => i64::MIN,
            Some(o) if at >= *o => at.duration_since(*o).as_micros() as i64,
            Some(o) => -(o.duration_since(at).as_micros() as i64),
        }
    }
}
