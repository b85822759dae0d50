//! One provider behind the gateway and one attempt on it: send the request,
//! wait within the attempt's deadline, classify what came back.
//!
//! The classification is the router's vocabulary ([`Outcome`]); what to do
//! about an outcome (retry, move on, answer) is the router's business. One
//! thing happens here because it cannot wait: an answer's `Retry-After`
//! puts the provider in its cool-down as soon as the headers arrive, before
//! the body is read, so that no other request sends in between.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use hyper::StatusCode;
use tokio::time::{timeout_at, Instant};

use super::breaker::{Breaker, BreakerState, Ticket};
use super::classify::{self, Scan};
use super::cooldown::{self, Cooldown, Hint};
use super::stats::{self, UpstreamStats};
use crate::scenario::BreakerPolicy;

/// A provider the gateway routes to, with its circuit breaker.
#[derive(Debug)]
pub(crate) struct Upstream {
    pub name: String,
    /// Its place among the gateway's upstreams.
    pub index: usize,
    /// What it counts for the live metrics.
    pub stats: UpstreamStats,
    /// `name` as a header value, built once.
    pub name_header: HeaderValue,
    /// `{base}/v1/chat/completions`.
    pub url: reqwest::Url,
    /// A plain mutex: the critical sections are a few comparisons, never an
    /// await, so contention costs less than any lock-free scheme would save.
    breaker: Mutex<Breaker>,
    /// Until when the provider asked (by `Retry-After`) not to be sent to.
    cooldown: Cooldown,
}

/// Why a provider gets no attempt now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    /// Its breaker is open (or half-open with every probe slot taken).
    Open,
    /// It is cooling down for this much longer.
    Cooling(Duration),
}

impl Upstream {
    /// The upstream number `index` of `providers`.
    pub fn new(
        name: &str,
        base_url: &str,
        policy: &BreakerPolicy,
        (index, providers): (usize, usize),
    ) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b',' && b != b':');
        anyhow::ensure!(
            valid,
            "provider name {name:?} cannot go into the x-slabench-attempts header: \
             use visible ASCII without ',' or ':'"
        );
        let url = format!("{}/v1/chat/completions", base_url.trim_end_matches('/'));
        let url = reqwest::Url::parse(&url)
            .with_context(|| format!("provider {name}: base URL {base_url:?} is not a URL"))?;
        let now = Instant::now();
        Ok(Upstream {
            name: name.to_owned(),
            index,
            stats: UpstreamStats::new(providers),
            name_header: HeaderValue::from_str(name)?,
            url,
            breaker: Mutex::new(Breaker::new(policy, now)),
            cooldown: Cooldown::new(now),
        })
    }

    fn breaker(&self) -> MutexGuard<'_, Breaker> {
        // The breaker never panics while held; a poisoned lock still holds a
        // consistent state machine.
        self.breaker.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn state(&self, now: Instant) -> BreakerState {
        self.breaker().state(now)
    }

    /// How long it still cools down at `now` (zero if not).
    pub fn cooling(&self, now: Instant) -> Duration {
        self.cooldown.remaining(now).unwrap_or_default()
    }

    /// Asks for one attempt: refused while the provider cools down, then
    /// while its breaker is open. The cool-down is asked first, so that a
    /// provider cooling down takes no half-open probe slot.
    pub fn admit(self: &Arc<Self>, now: Instant) -> Result<Permit, Skip> {
        if let Some(left) = self.cooldown.remaining(now) {
            return Err(Skip::Cooling(left));
        }
        let ticket = self.breaker().admit(now).ok_or(Skip::Open)?;
        Ok(Permit {
            upstream: Arc::clone(self),
            ticket: Some(ticket),
        })
    }
}

/// An admitted attempt. Report its result with [`Permit::finish`]; dropping
/// it unfinished (the client went away mid-stream) frees its slot and counts
/// nothing.
#[derive(Debug)]
pub(crate) struct Permit {
    upstream: Arc<Upstream>,
    ticket: Option<Ticket>,
}

impl Permit {
    /// `ok = false` for failures that speak about the provider's health.
    pub fn finish(mut self, ok: bool) {
        if let Some(ticket) = self.ticket.take() {
            self.upstream.breaker().record(Instant::now(), ticket, ok);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.upstream.breaker().cancel(ticket);
        }
    }
}

/// The parts of the client's request that are forwarded.
pub(crate) struct Outgoing<'a> {
    /// Sent unchanged (tag in `user` and in the prompt included).
    pub body: &'a Bytes,
    /// The client's `x-slabench-request`.
    pub tag: Option<&'a HeaderValue>,
    pub accept: Option<&'a HeaderValue>,
    pub stream: bool,
    /// Whether an answer's `Retry-After` puts the provider in cool-down
    /// (the route's `honor_retry_after`).
    pub cooldowns: bool,
}

/// What one attempt came to.
pub(crate) enum Outcome {
    /// The provider answered with a status and a complete body.
    Answer(Answer),
    /// A successful stream that reached its first chunk with content (see
    /// [`classify::scan`]); every byte before and with it is in `first`.
    Stream(StreamStart),
    /// A successful status whose stream sent an error event before any
    /// content. `body` holds the bytes up to the event.
    StreamError(Answer),
    /// A success status whose answer is not one: a non-streaming body that
    /// is not a chat completion ([`classify::completion_ok`]), or a stream
    /// that broke before any content (data that is not JSON, `[DONE]`
    /// first, `FIRST_EVENT_LIMIT` bytes without content). The provider
    /// answered, badly: the router treats it like a 5xx.
    Malformed,
    /// No answer (or, for a stream, no first content) within
    /// `attempt_timeout`.
    Timeout,
    /// Could not connect (refused, unreachable).
    Connect,
    /// The connection broke after the request went out: reset, a malformed
    /// response, a body cut short, a stream that ended (its connection
    /// closed) before its first content.
    Broken,
}

pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// What its `Retry-After` asked for, if it had one.
    pub retry_after: Option<Hint>,
}

pub(crate) struct StreamStart {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub first: Bytes,
    pub rest: reqwest::Body,
}

impl fmt::Display for Outcome {
    /// The label in `x-slabench-attempts`: `503`, `error_event`,
    /// `malformed`, `timeout`, `connect`, `broken`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Answer(a) => write!(f, "{}", a.status.as_u16()),
            Outcome::Stream(s) => write!(f, "{}", s.status.as_u16()),
            Outcome::StreamError(_) => f.write_str("error_event"),
            Outcome::Malformed => f.write_str("malformed"),
            Outcome::Timeout => f.write_str("timeout"),
            Outcome::Connect => f.write_str("connect"),
            Outcome::Broken => f.write_str("broken"),
        }
    }
}

impl Outcome {
    /// Its counter's slot in [`UpstreamStats`], which is labelled as
    /// [`Outcome`]'s `Display` writes it.
    pub fn slot(&self) -> usize {
        match self {
            Outcome::Answer(a) => stats::code_slot(a.status.as_u16()),
            Outcome::Stream(s) => stats::code_slot(s.status.as_u16()),
            Outcome::StreamError(_) => stats::named_slot("error_event"),
            Outcome::Malformed => stats::named_slot("malformed"),
            Outcome::Timeout => stats::named_slot("timeout"),
            Outcome::Connect => stats::named_slot("connect"),
            Outcome::Broken => stats::named_slot("broken"),
        }
    }
}

const TAG_HEADER: HeaderName = HeaderName::from_static(crate::protocol::tag::HEADER);

/// Sends one attempt to `up`. The whole attempt (connect, headers, body, or
/// for a successful stream its first content) must finish within `limit`.
pub(crate) async fn send(
    client: &reqwest::Client,
    up: &Upstream,
    out: &Outgoing<'_>,
    limit: Duration,
) -> Outcome {
    let deadline = Instant::now() + limit;
    let mut req = client
        .post(up.url.clone())
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(out.body.clone());
    if let Some(tag) = out.tag {
        req = req.header(TAG_HEADER, tag.clone());
    }
    if let Some(accept) = out.accept {
        req = req.header(ACCEPT, accept.clone());
    }
    let mut resp = match timeout_at(deadline, req.send()).await {
        Err(_) => return Outcome::Timeout,
        Ok(Err(e)) => return classify(&e),
        Ok(Ok(resp)) => resp,
    };
    let status = resp.status();
    let headers = std::mem::take(resp.headers_mut());
    let retry_after = cooldown::retry_after(&headers, std::time::SystemTime::now());
    if let (true, Some(Hint::For(wait))) = (out.cooldowns, retry_after) {
        up.cooldown.hold(Instant::now(), wait);
    }
    if out.stream && status.is_success() {
        let mut rest = reqwest::Body::from(resp);
        return match timeout_at(deadline, first_event(&mut rest)).await {
            Err(_) => Outcome::Timeout,
            Ok(Err(e)) => classify(&e),
            Ok(Ok(First::Ended)) => Outcome::Broken,
            Ok(Ok(First::Malformed)) => Outcome::Malformed,
            Ok(Ok(First::Content(first))) => Outcome::Stream(StreamStart {
                status,
                headers,
                first,
                rest,
            }),
            Ok(Ok(First::Error(body))) => Outcome::StreamError(Answer {
                status,
                headers,
                body,
                retry_after,
            }),
        };
    }
    match timeout_at(deadline, resp.bytes()).await {
        Err(_) => Outcome::Timeout,
        Ok(Err(e)) => classify(&e),
        Ok(Ok(body)) if status.is_success() && !classify::completion_ok(&headers, &body) => {
            Outcome::Malformed
        }
        Ok(Ok(body)) => Outcome::Answer(Answer {
            status,
            headers,
            body,
            retry_after,
        }),
    }
}

/// How a stream began.
enum First {
    Content(Bytes),
    Error(Bytes),
    /// The body ended before its first content.
    Ended,
    /// The stream broke before its first content (see [`Scan::Broken`]), or
    /// sent `FIRST_EVENT_LIMIT` bytes without any.
    Malformed,
}

/// Past this many bytes with no content yet the stream is malformed: no
/// provider sends that much before its first token, and the buffer must
/// stay bounded.
const FIRST_EVENT_LIMIT: usize = 64 * 1024;

/// Reads until the first chunk with content or an error: comments (`: ping`
/// keep-alives), heartbeats and chunks without content (the role-only
/// first chunk, usage) before it are kept and go to the client with it.
/// The caller's deadline bounds the wait.
async fn first_event(body: &mut reqwest::Body) -> Result<First, reqwest::Error> {
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        match classify::scan(&buf) {
            Scan::Content => return Ok(First::Content(buf.freeze())),
            Scan::Error => return Ok(First::Error(buf.freeze())),
            Scan::Broken => return Ok(First::Malformed),
            Scan::More if buf.len() > FIRST_EVENT_LIMIT => return Ok(First::Malformed),
            Scan::More => {}
        }
    }
    Ok(First::Ended)
}

fn classify(e: &reqwest::Error) -> Outcome {
    if e.is_connect() {
        Outcome::Connect
    } else if e.is_timeout() {
        Outcome::Timeout
    } else {
        Outcome::Broken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outcomes_counter_is_labelled_as_its_header_entry() {
        let answer = |code| Answer {
            status: StatusCode::from_u16(code).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            retry_after: None,
        };
        let outcomes = [
            Outcome::Answer(answer(200)),
            Outcome::Answer(answer(529)),
            Outcome::StreamError(answer(200)),
            Outcome::Malformed,
            Outcome::Timeout,
            Outcome::Connect,
            Outcome::Broken,
        ];
        for o in outcomes {
            assert_eq!(stats::slot_label(o.slot()), o.to_string());
        }
    }
}
