//! Server-sent events at the profile's token pace.
//!
//! Chunk `k` carries tokens `k*c .. (k+1)*c` (`c` = `stream_chunk_tokens`)
//! and leaves when its last token is out ([`Plan::token_at`]), each chunk its
//! own write. Deadlines are absolute from the request's arrival, so the pace
//! does not drift with scheduling delays. The last chunk carries
//! `finish_reason`, then the usage chunk (when `stream_options.include_usage`)
//! and `data: [DONE]`. Stream faults bend this timeline: a stall delays the
//! chunks from its strike point, a cut ends the body there without `[DONE]`
//! (a clean end of the HTTP body, so only the missing `[DONE]` tells), and an
//! error event replaces the chunk at the strike point and ends the body.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio::time::Instant;

use super::body::{self, Stamp};
use super::entry::LedgerEntry;
use super::fault::{Plan, Shape};
use super::ledger::AttemptOutcome;
use super::server::Body;
use super::timer;
use crate::openai::Delta;

pub struct SseAnswer {
    pub plan: Plan,
    pub arrived: Instant,
    pub chunk_tokens: u32,
    pub input_tokens: u32,
    pub include_usage: bool,
    pub stamp: Stamp,
}

struct State {
    answer: SseAnswer,
    rec: Option<LedgerEntry>,
    next: u32,
    chunks: u32,
}

/// The SSE body; `rec` is written when the stream ends or is dropped.
pub fn body(answer: SseAnswer, mut rec: LedgerEntry) -> Body {
    rec.progress(200, 0);
    rec.on_drop(AttemptOutcome::ClientGone);
    let chunks = answer
        .plan
        .output_tokens
        .div_ceil(answer.chunk_tokens.max(1))
        .max(1);
    let state = State {
        answer,
        rec: Some(rec),
        next: 0,
        chunks,
    };
    let frames = stream::unfold(state, |mut st| async move {
        let bytes = st.step().await?;
        Some((Ok::<_, Infallible>(Frame::data(Bytes::from(bytes))), st))
    });
    StreamBody::new(frames).boxed_unsync()
}

impl State {
    /// Tokens in chunks `0..k`.
    fn tokens_before(&self, k: u32) -> u32 {
        (k.saturating_mul(self.answer.chunk_tokens.max(1))).min(self.answer.plan.output_tokens)
    }

    /// When chunk `k` leaves, from arrival.
    fn deadline(&self, k: u32) -> Instant {
        let plan = &self.answer.plan;
        let last_token = self.tokens_before(k + 1).saturating_sub(1);
        let mut at = plan.token_at(last_token);
        if let Shape::Stall {
            after_chunks,
            pause,
        } = plan.shape
        {
            if k >= after_chunks {
                at += pause;
            }
        }
        self.answer.arrived + at
    }

    fn end(&mut self, outcome: AttemptOutcome) {
        let sent = self.tokens_before(self.next);
        if let Some(rec) = self.rec.take() {
            rec.finish_stream(outcome, 200, sent);
        }
    }

    /// The next write, or `None` when the body is over.
    async fn step(&mut self) -> Option<String> {
        self.rec.as_ref()?;
        let k = self.next;
        match self.answer.plan.shape {
            Shape::Cut { after_chunks } if k == after_chunks => {
                timer::sleep_until(self.deadline(k)).await;
                self.end(AttemptOutcome::StreamCut);
                return None;
            }
            Shape::ErrorEvent { after_chunks } if k == after_chunks => {
                timer::sleep_until(self.deadline(k)).await;
                if let Some(rec) = self.rec.as_mut() {
                    rec.first_byte();
                }
                self.end(AttemptOutcome::StreamError);
                return Some(body::error_event());
            }
            _ => {}
        }
        timer::sleep_until(self.deadline(k)).await;
        let out = self.chunk(k);
        self.next += 1;
        let sent = self.tokens_before(self.next);
        if let Some(rec) = self.rec.as_mut() {
            rec.first_byte();
            rec.progress(200, sent);
        }
        if self.next == self.chunks {
            self.end(AttemptOutcome::Ok);
        }
        Some(out)
    }

    fn chunk(&self, k: u32) -> String {
        let a = &self.answer;
        let from = self.tokens_before(k);
        let count = self.tokens_before(k + 1) - from;
        let delta = Delta {
            role: (k == 0).then(|| "assistant".to_string()),
            content: Some(body::words(&a.stamp, from, count, a.plan.output_tokens)),
        };
        let last = k + 1 == self.chunks;
        let mut out = body::chunk_event(&a.stamp, Some(delta), None, None);
        if last {
            let finish = if a.plan.output_tokens == 0 {
                "length"
            } else {
                "stop"
            };
            out += &body::chunk_event(&a.stamp, Some(Delta::default()), Some(finish), None);
            if a.include_usage {
                let usage = body::usage(a.input_tokens, a.plan.output_tokens);
                out += &body::chunk_event(&a.stamp, None, None, Some(usage));
            }
            out += body::DONE;
        }
        out
    }
}
