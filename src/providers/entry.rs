//! One request's ledger entry, written exactly once.
//!
//! A [`LedgerEntry`] is created when a request arrives and travels with it (into
//! the SSE body for streams). Whatever ends the request, the entry is written
//! when the entry is dropped: an explicit outcome when the handler set one,
//! otherwise `on_drop` (client gone, or hang: the peer gave up waiting). That
//! covers the paths where hyper simply drops the handler or body because the
//! peer went away.

use std::sync::Arc;

use tokio::time::Instant;

use super::ledger::{Attempt, AttemptOutcome};
use super::server::ProviderCtx;

pub struct LedgerEntry {
    ctx: Arc<ProviderCtx>,
    attempt: Attempt,
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
        };
        LedgerEntry { ctx, attempt }
    }

    pub fn request(&mut self, tag: Option<u64>, input_tokens: u32, stream: bool) {
        self.attempt.tag = tag;
        self.attempt.input_tokens = input_tokens;
        self.attempt.stream = stream;
    }

    pub fn set_tag(&mut self, tag: Option<u64>) {
        self.attempt.tag = tag;
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

    /// Records how the request ended.
    pub fn finish(mut self, outcome: AttemptOutcome, status: u16, output_tokens: u32) {
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
