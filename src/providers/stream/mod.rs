//! Server-sent events at the profile's token pace.
//!
//! [`script`] says what each write is and when it is due (chunks, the
//! finish, a cut or an error event where the stream breaks); this module
//! sends them on that timeline, deadlines absolute from the request's
//! arrival so the pace does not drift with scheduling delays, and keeps the
//! ledger entry up to date. Around the script:
//!
//! - **keep-alive** (`keepalive`): a `: ping` comment whenever nothing has
//!   been written for that long, including before the first token;
//! - **a byte-rate cap** (`bytes_per_s`): writes leave in slices of at most
//!   20 ms' worth, each when the body's bytes so far stay within
//!   `bytes_per_s × time since arrival`; a slow stream, still complete;
//! - **fake streaming** (`fake_stream`): every write leaves together when
//!   the last one is due.

mod script;

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio::time::Instant;

use super::body::Stamp;
use super::entry::LedgerEntry;
use super::fault::{Plan, Shape, LONGEST};
use super::ledger::AttemptOutcome;
use super::server::Body;
use super::timer;
use script::{Due, Script};

/// The comment a keep-alive sends.
pub const PING: &str = ": ping\n\n";
/// The longest slice of a paced write, in seconds of the cap.
const SLICE_SECS: f64 = 0.02;

pub struct SseAnswer {
    pub plan: Plan,
    pub arrived: Instant,
    pub chunk_tokens: u32,
    pub input_tokens: u32,
    pub include_usage: bool,
    pub stamp: Stamp,
    /// The error event of an `ErrorEvent` shape, in the provider's dialect.
    pub error_event: String,
    pub keepalive: Option<Duration>,
    pub bytes_per_s: Option<f64>,
}

/// A write being sent, maybe in slices.
struct Out {
    bytes: Bytes,
    pos: usize,
    /// An SSE event (not a ping): its first byte is the answer's first byte.
    event: bool,
    tokens: Option<u32>,
    end: Option<AttemptOutcome>,
}

struct Driver {
    script: Script,
    fake: bool,
    /// The fault whose error event ends the stream, if one does.
    error_fault: Option<u16>,
    rec: Option<LedgerEntry>,
    arrived: Instant,
    keepalive: Option<Duration>,
    cap: Option<f64>,
    /// Body bytes handed out so far.
    sent: u64,
    last_write: Instant,
    due: Option<Due>,
    out: Option<Out>,
}

/// The SSE body; `rec` is written when the stream ends or is dropped.
pub fn body(answer: SseAnswer, mut rec: LedgerEntry) -> Body {
    rec.progress(200, 0);
    rec.on_drop(AttemptOutcome::ClientGone);
    let error_fault = match answer.plan.shape {
        Shape::ErrorEvent { fault, .. } => fault,
        _ => None,
    };
    let mut script = Script::new(
        answer.plan,
        answer.chunk_tokens,
        answer.stamp,
        answer.error_event,
    );
    script.input_tokens = answer.input_tokens;
    script.include_usage = answer.include_usage;
    let driver = Driver {
        script,
        fake: answer.plan.fake_stream,
        error_fault,
        rec: Some(rec),
        arrived: answer.arrived,
        keepalive: answer.keepalive,
        cap: answer.bytes_per_s.filter(|c| *c > 0.0),
        sent: 0,
        last_write: answer.arrived,
        due: None,
        out: None,
    };
    let frames = stream::unfold(driver, |mut d| async move {
        let bytes = d.next_frame().await?;
        Some((Ok::<_, Infallible>(Frame::data(bytes)), d))
    });
    StreamBody::new(frames).boxed_unsync()
}

impl Driver {
    /// The next piece of the body, or `None` when it is over.
    async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            self.rec.as_ref()?;
            if self.out.is_some() {
                match self.next_piece().await {
                    Some(piece) => return Some(piece),
                    None => continue,
                }
            }
            if self.due.is_none() {
                self.due = self.next_due();
            }
            let Some(at) = self.due.as_ref().map(|d| self.arrived + d.at) else {
                // The script always ends the stream; should it not, the
                // answer is complete as far as it went.
                self.end(AttemptOutcome::Ok, None);
                return None;
            };
            if let Some(ping_at) = self.keepalive.map(|k| self.last_write + k) {
                if ping_at < at {
                    timer::sleep_until(ping_at).await;
                    self.out = Some(Out::text(PING.into(), false, None, None));
                    continue;
                }
            }
            timer::sleep_until(at).await;
            let due = self.due.take()?;
            self.out = Some(Out::text(due.text, true, Some(due.tokens), due.end));
        }
    }

    /// The script's next write; a fake stream's writes all in one, due
    /// when the last is.
    fn next_due(&mut self) -> Option<Due> {
        let first = self.script.next()?;
        if !self.fake {
            return Some(first);
        }
        Some(self.script.by_ref().fold(first, |mut all, d| {
            all.text += &d.text;
            all.at = all.at.max(d.at);
            all.tokens = d.tokens;
            all.end = d.end;
            all
        }))
    }

    /// The next slice of the write in progress, at the byte cap's pace;
    /// `None` once it is all out (its effects on the ledger applied).
    async fn next_piece(&mut self) -> Option<Bytes> {
        let out = self.out.as_mut()?;
        let left = out.bytes.len() - out.pos;
        if left == 0 {
            let out = self.out.take()?;
            self.complete(out);
            return None;
        }
        let n = match self.cap {
            Some(cap) => left.min(((cap * SLICE_SECS) as usize).max(1)),
            None => left,
        };
        if let Some(cap) = self.cap {
            let secs = (self.sent + n as u64) as f64 / cap;
            let wait = Duration::try_from_secs_f64(secs).unwrap_or(LONGEST);
            timer::sleep_until(self.arrived + wait.min(LONGEST)).await;
        }
        let out = self.out.as_mut()?;
        let piece = out.bytes.slice(out.pos..out.pos + n);
        out.pos += n;
        self.sent += n as u64;
        self.last_write = Instant::now();
        if out.event {
            if let Some(rec) = self.rec.as_mut() {
                rec.first_byte();
            }
        }
        if out.pos == out.bytes.len() {
            // Settled as the last byte is handed out: a client that leaves
            // right after [DONE] has its answer recorded as complete.
            let out = self.out.take()?;
            self.complete(out);
        }
        Some(piece)
    }

    fn complete(&mut self, out: Out) {
        if let (Some(rec), Some(tokens)) = (self.rec.as_mut(), out.tokens) {
            rec.progress(200, tokens);
        }
        if let Some(end) = out.end {
            self.end(end, out.tokens);
        }
    }

    fn end(&mut self, outcome: AttemptOutcome, tokens: Option<u32>) {
        let Some(mut rec) = self.rec.take() else {
            return;
        };
        if outcome == AttemptOutcome::StreamError {
            rec.error(None, self.error_fault);
        }
        let sent = tokens.unwrap_or_else(|| self.script.sent());
        rec.finish_stream(outcome, 200, sent);
    }
}

impl Out {
    fn text(text: String, event: bool, tokens: Option<u32>, end: Option<AttemptOutcome>) -> Self {
        Out {
            bytes: Bytes::from(text),
            pos: 0,
            event,
            tokens,
            end,
        }
    }
}
