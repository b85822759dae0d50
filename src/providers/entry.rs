//! One request's ledger entry, written exactly once.
//!
//! A [`LedgerEntry`] is created when a request arrives and travels with it (into
//! the SSE body for streams). Whatever ends the request, the entry is written
//! when the entry is dropped: an explicit outcome when the handler set one,
//! otherwise `on_drop` (client gone, or hang: the peer gave up waiting). That
//! covers the paths where hyper simply drops the handler or body because the
//! peer went away.
//!
//! The entry also notes when the first content byte left
//! ([`first_byte`](LedgerEntry::first_byte)): the gateway-overhead analysis
//! subtracts a stream's time to first byte at the provider from the
//! client's time to first token.

use std::sync::Arc;

use tokio::time::Instant;

use super::ledger::{Attempt, AttemptOutcome};
use super::server::ProviderCtx;

pub struct LedgerEntry {
    ctx: Arc<ProviderCtx>,
    attempt: Attempt,
    arrived: Instant,
}

impl LedgerEntry {
    pub fn new(ctx: Arc<ProviderCtx>, arrived: Instant) -> Self {
        let attempt = Attempt {
            tag: None,
            provider: ctx.index,
            arrived_us: ctx.clock.micros_at(arrived),
            answered_us: 0,
            outcome: AttemptOutcome::ClientGone,
            status: 0,
            input_tokens: 0,
            output_tokens: 0,
            stream: false,
            first_byte_us: None,
            retry_after_ms: None,
            fault: None,
        };
        LedgerEntry {
            ctx,
            attempt,
            arrived,
        }
    }

    pub fn request(&mut self, tag: Option<u64>, input_tokens: u32, stream: bool) {
        self.attempt.tag = tag;
        self.attempt.input_tokens = input_tokens;
        self.attempt.stream = stream;
    }

    pub fn set_tag(&mut self, tag: Option<u64>) {
        self.attempt.tag = tag;
    }

    /// The error's Retry-After (ms) and the fault that decided it.
    pub fn error(&mut self, retry_after_ms: Option<u32>, fault: Option<u16>) {
        self.attempt.retry_after_ms = retry_after_ms;
        self.attempt.fault = fault;
    }

    /// What to record if the request ends without [`finish`](Self::finish).
    pub fn on_drop(&mut self, outcome: AttemptOutcome) {
        self.attempt.outcome = outcome;
    }

    /// The status line has gone out (streams), with `tokens` sent so far.
    pub fn progress(&mut self, status: u16, tokens: u32) {
        self.attempt.status = status;
        self.attempt.output_tokens = tokens;
    }

    /// The first content byte is leaving now (the first SSE event, or a whole
    /// body); later calls keep the first.
    pub fn first_byte(&mut self) {
        if self.attempt.first_byte_us.is_none() {
            let us = Instant::now()
                .saturating_duration_since(self.arrived)
                .as_micros();
            self.attempt.first_byte_us = Some(us.min(u128::from(u32::MAX - 1)) as u32);
        }
    }

    /// Records how the request ended. An answer with a status goes out whole
    /// now: its first byte is now, unless marked before.
    pub fn finish(mut self, outcome: AttemptOutcome, status: u16, output_tokens: u32) {
        if status != 0 {
            self.first_byte();
        }
        self.finish_stream(outcome, status, output_tokens);
    }

    /// Records how an SSE body ended: its first byte was marked when its
    /// first event left, if one did.
    pub fn finish_stream(mut self, outcome: AttemptOutcome, status: u16, output_tokens: u32) {
        self.attempt.outcome = outcome;
        self.attempt.status = status;
        self.attempt.output_tokens = output_tokens;
    }
}

impl Drop for LedgerEntry {
    fn drop(&mut self) {
        self.attempt.answered_us = self.ctx.clock.micros_at(Instant::now());
        self.ctx.sink.record(self.attempt);
    }
}
