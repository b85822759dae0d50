//! The writes of one SSE answer and when each is due: a pure function of
//! the plan, so the exact break points are tested without sockets.
//!
//! Chunk boundaries fall every `stream_chunk_tokens` tokens and at the
//! stream fault's break point (the chunk that would straddle it is split
//! there). A chunk is due when its last token is out ([`Plan::token_at`]);
//! a stall adds its pause to everything from the break point on; a cut or
//! an error event comes when the next chunk would have. The last chunk
//! carries `finish_reason`, the usage chunk (when asked) and `[DONE]`,
//! unless a stall right at the end holds them back.

use std::time::Duration;

use super::super::body::{self, Stamp};
use super::super::fault::{Plan, Shape};
use super::super::ledger::AttemptOutcome;
use crate::openai::Delta;

/// One write and when it is due.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    /// From the request's arrival.
    pub at: Duration,
    pub text: String,
    /// Content tokens sent once it is out.
    pub tokens: u32,
    /// How the stream ends with it, if it does.
    pub end: Option<AttemptOutcome>,
}

/// What an answer's script is made from.
pub struct Script {
    pub plan: Plan,
    pub chunk_tokens: u32,
    pub input_tokens: u32,
    pub include_usage: bool,
    pub stamp: Stamp,
    /// The error event an `ErrorEvent` shape sends (in the provider's dialect).
    pub error_event: String,
    sent: u32,
    started: bool,
    over: bool,
}

impl Script {
    pub fn new(plan: Plan, chunk_tokens: u32, stamp: Stamp, error_event: String) -> Self {
        Script {
            plan,
            chunk_tokens: chunk_tokens.max(1),
            input_tokens: 0,
            include_usage: false,
            stamp,
            error_event,
            sent: 0,
            started: false,
            over: false,
        }
    }

    /// Content tokens in the writes taken so far.
    pub fn sent(&self) -> u32 {
        self.sent
    }

    /// The break point of a stream fault, if the answer has one.
    fn break_at(&self) -> Option<u32> {
        match self.plan.shape {
            Shape::Stall { after_tokens, .. }
            | Shape::Cut { after_tokens }
            | Shape::ErrorEvent { after_tokens, .. } => Some(after_tokens),
            Shape::Complete | Shape::Malformed(_) => None,
        }
    }

    /// Where the chunk starting at token `from` ends.
    fn boundary_after(&self, from: u32) -> u32 {
        let c = self.chunk_tokens;
        let to = (from / c + 1)
            .saturating_mul(c)
            .min(self.plan.output_tokens);
        match self.break_at() {
            Some(b) if b > from => to.min(b),
            _ => to,
        }
    }

    /// When a write whose last token is `token` is due, for a write that
    /// starts at token `from` (a stall delays everything from its point).
    fn due_at(&self, token: u32, from: u32) -> Duration {
        let at = self.plan.token_at(token);
        match self.plan.shape {
            Shape::Stall {
                after_tokens,
                pause,
            } if from >= after_tokens => at.saturating_add(pause),
            _ => at,
        }
    }

    /// The cut or error event, when the stream has reached its point.
    fn break_here(&self) -> Option<Due> {
        let (b, text, end) = match self.plan.shape {
            Shape::Cut { after_tokens } => (after_tokens, String::new(), AttemptOutcome::StreamCut),
            Shape::ErrorEvent { after_tokens, .. } => (
                after_tokens,
                self.error_event.clone(),
                AttemptOutcome::StreamError,
            ),
            _ => return None,
        };
        if self.sent != b {
            return None;
        }
        let n = self.plan.output_tokens;
        // When the next chunk would have left; at the end, at once.
        let token = if b < n {
            self.boundary_after(b) - 1
        } else {
            n.saturating_sub(1)
        };
        Some(Due {
            at: self.plan.token_at(token),
            text,
            tokens: b,
            end: Some(end),
        })
    }

    /// Whether the finish, usage and `[DONE]` go out with the last chunk.
    fn finishes_with_last_chunk(&self) -> bool {
        match self.plan.shape {
            Shape::Complete | Shape::Malformed(_) => true,
            Shape::Stall { after_tokens, .. } => after_tokens < self.plan.output_tokens,
            Shape::Cut { .. } | Shape::ErrorEvent { .. } => false,
        }
    }

    fn content(&mut self) -> Due {
        let n = self.plan.output_tokens;
        let from = self.sent;
        let to = self.boundary_after(from);
        let delta = Delta {
            role: (from == 0).then(|| "assistant".to_string()),
            content: Some(body::words(&self.stamp, from, to - from, n)),
        };
        let mut text = body::chunk_event(&self.stamp, Some(delta), None, None);
        self.started = true;
        self.sent = to;
        let at = self.due_at(to.saturating_sub(1), from);
        let mut end = None;
        if to == n && self.finishes_with_last_chunk() {
            text += &self.tail();
            self.over = true;
            end = Some(AttemptOutcome::Ok);
        }
        Due {
            at,
            text,
            tokens: to,
            end,
        }
    }

    /// The finish chunk, the usage chunk when asked, and `[DONE]`.
    fn tail(&self) -> String {
        let n = self.plan.output_tokens;
        let finish = if n == 0 { "length" } else { "stop" };
        let mut out = body::chunk_event(&self.stamp, Some(Delta::default()), Some(finish), None);
        if self.include_usage {
            let usage = body::usage(self.input_tokens, n);
            out += &body::chunk_event(&self.stamp, None, None, Some(usage));
        }
        out + body::DONE
    }
}

impl Iterator for Script {
    type Item = Due;

    fn next(&mut self) -> Option<Due> {
        if self.over {
            return None;
        }
        if let Some(due) = self.break_here() {
            self.over = true;
            return Some(due);
        }
        let n = self.plan.output_tokens;
        if self.sent < n || !self.started {
            return Some(self.content());
        }
        // Only a stall right at the end leaves the finish for later.
        self.over = true;
        Some(Due {
            at: self.due_at(n.saturating_sub(1), n),
            text: self.tail(),
            tokens: n,
            end: Some(AttemptOutcome::Ok),
        })
    }
}

#[cfg(test)]
#[path = "script_tests.rs"]
mod tests;
