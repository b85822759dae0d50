//! The HTTP side of one simulated provider: routes, request parsing, and
//! carrying out the fault model's [`Decision`].
//!
//! Routes: `POST /v1/chat/completions`, `GET /v1/models`, `GET /health`.
//! Every chat request (and every request to an unknown path, which is most
//! likely a misconfigured gateway) gets a ledger entry; the two GET probes do
//! not. Every answer carries the `x-slabench-provider` header, and every
//! chat answer the rate limiter saw its `x-ratelimit-*` headers when the
//! profile's `[rate_limit]` asks for them (`limit_headers.rs`).

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::watch;
use tokio::time::Instant;

use super::body::{self, Stamp};
use super::entry::LedgerEntry;
use super::errors;
use super::fault::{Decision, FaultModel, Plan, RequestInfo, Shape};
use super::ledger::AttemptOutcome;
use super::ledger_writer::LedgerSink;
use super::limit_headers;
use super::listener::ConnCtl;
use super::rate_limit::retry_after_secs;
use super::stream::{self, SseAnswer};
use super::timer;
use crate::answer::AnswerKey;
use crate::clock::RunClock;
use crate::openai::{self, ChatRequest};
use crate::protocol::tag;
use crate::scenario::{Dialect, ErrorSpec, Provider, RetryAfter};

pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Chat request bodies above this are refused (400).
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Everything a provider's request handlers share.
pub struct ProviderCtx {
    pub index: u16,
    /// The run's seed: with the request's tag, it makes the answer text.
    pub seed: u64,
    pub name: String,
    pub model_name: String,
    pub chunk_tokens: u32,
    pub clock: Arc<RunClock>,
    pub model: Mutex<FaultModel>,
    pub sink: LedgerSink,
    /// Numbers the answers' ids.
    pub answers: AtomicU64,
    /// Origin of the rate limiter's time (it runs before t=0 too).
    pub epoch: Instant,
    pub shutdown: watch::Receiver<bool>,
    /// Whose error bodies it sends (the profile's dialect).
    pub dialect: Dialect,
    /// Every scenario fault's error shape, by its index in `Scenario::faults`.
    pub errors: Vec<ErrorSpec>,
    /// The profile's `keepalive` and `bytes_per_s`, for streams.
    pub keepalive: Option<Duration>,
    pub bytes_per_s: Option<f64>,
    provider_header: HeaderValue,
}

impl ProviderCtx {
    /// The context of `provider`, number `index` of the scenario with
    /// `seed` and the faults' error shapes `errors`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        index: u16,
        seed: u64,
        provider: &Provider,
        clock: Arc<RunClock>,
        model: FaultModel,
        sink: LedgerSink,
        shutdown: watch::Receiver<bool>,
        errors: Vec<ErrorSpec>,
    ) -> anyhow::Result<Self> {
        let profile = &provider.profile;
        Ok(ProviderCtx {
            index,
            seed,
            name: provider.name.clone(),
            model_name: profile.model.clone(),
            chunk_tokens: profile.stream_chunk_tokens,
            clock,
            model: Mutex::new(model),
            sink,
            answers: AtomicU64::new(0),
            epoch: Instant::now(),
            shutdown,
            dialect: profile.dialect,
            errors,
            keepalive: profile.keepalive,
            bytes_per_s: profile.bytes_per_s,
            provider_header: HeaderValue::from_str(&provider.name)?,
        })
    }

    /// Time since t=0, `None` before the run (then no fault is active).
    fn run_time(&self, at: Instant) -> Option<Duration> {
        let us = self.clock.micros_at(at);
        (us >= 0).then(|| Duration::from_micros(us as u64))
    }

    /// The stamp of an answer to the request tagged `tag` (untagged:
    /// `u64::MAX`, which no client expects, so it cannot pass as an answer).
    fn stamp(&self, tag: Option<u64>) -> Stamp {
        Stamp::new(
            &self.name,
            &self.model_name,
            self.answers.fetch_add(1, Relaxed),
            AnswerKey::new(self.seed, tag.unwrap_or(u64::MAX)),
            self.index,
        )
    }

    fn respond(&self, status: u16, content_type: &str, body: Bytes) -> Response<Body> {
        let mut res = Response::new(Full::new(body).boxed_unsync());
        *res.status_mut() =
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let h = res.headers_mut();
        h.insert(openai::PROVIDER_HEADER, self.provider_header.clone());
        if let Ok(v) = HeaderValue::from_str(content_type) {
            h.insert(CONTENT_TYPE, v);
        }
        res
    }

    fn json(&self, status: u16, body: Bytes) -> Response<Body> {
        self.respond(status, "application/json", body)
    }
}

/// The hyper service function.
pub async fn handle(
    ctx: Arc<ProviderCtx>,
    conn: Arc<ConnCtl>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let res = match (req.method(), req.uri().path()) {
        (&Method::POST, "/v1/chat/completions") => chat(ctx, conn, req).await,
        (&Method::GET, "/health") => ctx.json(200, Bytes::from_static(b"{\"status\":\"ok\"}")),
        (&Method::GET, "/v1/models") => models(&ctx),
        _ => not_found(ctx, req),
    };
    Ok(res)
}

fn models(ctx: &ProviderCtx) -> Response<Body> {
    let body = serde_json::json!({
        "object": "list",
        "data": [{ "id": ctx.model_name, "object": "model", "created": 0, "owned_by": "slabench" }],
    });
    ctx.json(200, Bytes::from(body.to_string()))
}

fn not_found(ctx: Arc<ProviderCtx>, req: Request<Incoming>) -> Response<Body> {
    let mut rec = LedgerEntry::new(ctx.clone(), Instant::now());
    rec.set_tag(header_tag(&req));
    rec.finish(AttemptOutcome::BadRequest, 404, 0);
    let msg = format!("no route for {} {}", req.method(), req.uri().path());
    ctx.json(
        404,
        Bytes::from(openai::error_body(
            &msg,
            "invalid_request_error",
            Some("not_found"),
        )),
    )
}

fn header_tag(req: &Request<Incoming>) -> Option<u64> {
    req.headers()
        .get(tag::HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(tag::parse)
}

/// What the handler needs from a valid chat request.
#[derive(Debug)]
struct Parsed {
    tag: Option<u64>,
    input_tokens: u32,
    info: RequestInfo,
    include_usage: bool,
}

fn parse(body: &[u8], header_tag: Option<u64>) -> Result<Parsed, String> {
    let req: ChatRequest =
        serde_json::from_slice(body).map_err(|e| format!("invalid request body: {e}"))?;
    if req.messages.is_empty() {
        return Err("'messages' must be a non-empty array".into());
    }
    let texts = || req.messages.iter().flat_map(|m| message_texts(&m.content));
    let tag = header_tag
        .or_else(|| req.user.as_deref().and_then(tag::parse))
        .or_else(|| texts().find_map(tag::parse_prompt));
    // About four bytes per token, like the generator's prompt text.
    let bytes: usize = texts().map(str::len).sum();
    let input_tokens = u32::try_from(bytes.div_ceil(4)).unwrap_or(u32::MAX);
    Ok(Parsed {
        tag,
        input_tokens,
        info: RequestInfo {
            stream: req.stream.unwrap_or(false),
            max_tokens: req.max_tokens,
            input_tokens,
        },
        include_usage: req.stream_options.is_some_and(|o| o.include_usage),
    })
}

/// The text of a message: a string, or the `text` of its content parts.
fn message_texts(content: &serde_json::Value) -> Vec<&str> {
    match content {
        serde_json::Value::String(s) => vec![s.as_str()],
        serde_json::Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(|t| t.as_str()))
            .collect(),
        _ => vec![],
    }
}

async fn chat(ctx: Arc<ProviderCtx>, conn: Arc<ConnCtl>, req: Request<Incoming>) -> Response<Body> {
    let arrived = Instant::now();
    crate::crash::failpoint("provider.answer");
    let mut rec = LedgerEntry::new(ctx.clone(), arrived);
    let header_tag = header_tag(&req);
    rec.set_tag(header_tag);
    // If the peer goes away while sending the body, `rec` records ClientGone.
    let parsed = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => parse(&b.to_bytes(), header_tag),
        Err(e) => Err(format!("could not read the request body: {e}")),
    };
    let parsed = match parsed {
        Ok(p) => p,
        Err(msg) => {
            rec.finish(AttemptOutcome::BadRequest, 400, 0);
            let body = openai::error_body(&msg, "invalid_request_error", None);
            return ctx.json(400, Bytes::from(body));
        }
    };
    rec.request(parsed.tag, parsed.input_tokens, parsed.info.stream);
    let (decision, limits) = {
        let mut model = ctx.model.lock().unwrap_or_else(|p| p.into_inner());
        model.decide(ctx.run_time(arrived), arrived - ctx.epoch, parsed.info)
    };
    let mut res = match decision {
        Decision::Status {
            status,
            retry_after,
            fault,
        } => status_answer(&ctx, rec, status, retry_after, fault),
        Decision::Reset => {
            rec.finish(AttemptOutcome::Reset, 0, 0);
            conn.reset();
            std::future::pending().await
        }
        Decision::Hang => {
            rec.on_drop(AttemptOutcome::Hang);
            // Hyper drops this future when the peer closes; at shutdown, the
            // connection is reset (still never answered).
            let mut shutdown = ctx.shutdown.clone();
            let _ = shutdown.wait_for(|s| *s).await;
            drop(rec);
            conn.reset();
            std::future::pending().await
        }
        Decision::Answer(plan) => answer(&ctx, rec, plan, &parsed, arrived).await,
    };
    if let Some(limits) = limits {
        limit_headers::set(res.headers_mut(), &limits);
    }
    res
}

fn status_answer(
    ctx: &ProviderCtx,
    mut rec: LedgerEntry,
    status: u16,
    retry_after: Option<RetryAfter>,
    fault: Option<u16>,
) -> Response<Body> {
    let outcome = if status == 429 {
        AttemptOutcome::RateLimited
    } else {
        AttemptOutcome::HttpError
    };
    let spec = fault.and_then(|f| ctx.errors.get(usize::from(f)));
    let dialect = spec.and_then(|s| s.dialect).unwrap_or(ctx.dialect);
    let body = errors::error_body(dialect, status, spec.unwrap_or(&ErrorSpec::default()));
    let mut res = ctx.json(status, body);
    let waited = retry_after.map(|r| set_retry_after(res.headers_mut(), r));
    if let Some(retry) = spec.and_then(|s| s.retryable) {
        // `retryable = ...` overrides what the status says; OpenAI and
        // Anthropic tell clients the same way.
        let v = if retry { "true" } else { "false" };
        res.headers_mut()
            .insert("x-should-retry", HeaderValue::from_static(v));
    }
    rec.error(waited, fault);
    rec.finish(outcome, status, 0);
    res
}

/// The error event a stream broken by `stream_error` sends: the fault's
/// error shape (status 500) in its dialect, else the provider's.
fn stream_error_event(ctx: &ProviderCtx, shape: Shape) -> String {
    let Shape::ErrorEvent { fault, .. } = shape else {
        return String::new();
    };
    let spec = fault.and_then(|f| ctx.errors.get(usize::from(f)));
    let dialect = spec.and_then(|s| s.dialect).unwrap_or(ctx.dialect);
    errors::error_event(dialect, 500, spec.unwrap_or(&ErrorSpec::default()))
}

/// Writes the Retry-After headers; returns the wait they announce, in ms.
/// Seconds: `Retry-After` rounded up, and `retry-after-ms` exact (as
/// OpenAI sends both). A date: `Retry-After` as an HTTP date at the next
/// whole second after the wait (a date has no finer grain), alone.
fn set_retry_after(h: &mut hyper::HeaderMap, r: RetryAfter) -> u32 {
    let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX - 1);
    if r.as_date {
        let now = std::time::SystemTime::now();
        let unix = now
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let at = Duration::from_secs((unix + r.wait).as_secs_f64().ceil() as u64);
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(std::time::UNIX_EPOCH + at)) {
            h.insert(RETRY_AFTER, v);
        }
        return ms(at.saturating_sub(unix));
    }
    h.insert(RETRY_AFTER, HeaderValue::from(retry_after_secs(r.wait)));
    h.insert(
        "retry-after-ms",
        HeaderValue::from(r.wait.as_millis() as u64),
    );
    ms(r.wait)
}

async fn answer(
    ctx: &ProviderCtx,
    rec: LedgerEntry,
    plan: Plan,
    req: &Parsed,
    arrived: Instant,
) -> Response<Body> {
    let stream = req.info.stream;
    if let Shape::Malformed(m) = plan.shape {
        let at = if stream { plan.ttft } else { plan.finish_at() };
        timer::sleep_until(arrived + at).await;
        let stamp = ctx.stamp(req.tag);
        let (ct, body) = body::malformed(m, &stamp, stream, req.input_tokens, plan.output_tokens);
        rec.finish(AttemptOutcome::Malformed, 200, plan.output_tokens);
        return ctx.respond(200, ct, body);
    }
    if stream {
        let sse = SseAnswer {
            plan,
            arrived,
            chunk_tokens: ctx.chunk_tokens,
            input_tokens: req.input_tokens,
            include_usage: req.include_usage,
            stamp: ctx.stamp(req.tag),
            error_event: stream_error_event(ctx, plan.shape),
            keepalive: ctx.keepalive,
            bytes_per_s: ctx.bytes_per_s,
        };
        let mut res = Response::new(stream::body(sse, rec));
        let h = res.headers_mut();
        h.insert(openai::PROVIDER_HEADER, ctx.provider_header.clone());
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        h.insert("cache-control", HeaderValue::from_static("no-cache"));
        return res;
    }
    let done = arrived + plan.finish_at();
    if done > Instant::now() {
        timer::sleep_until(done).await;
    }
    let body = body::completion(&ctx.stamp(req.tag), req.input_tokens, plan.output_tokens);
    rec.finish(AttemptOutcome::Ok, 200, plan.output_tokens);
    ctx.json(200, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_comes_from_header_then_user_then_prompt() {
        let body = |user: &str, prompt: &str| {
            serde_json::json!({
                "model": "m",
                "user": user,
                "messages": [
                    { "role": "system", "content": "be brief" },
                    { "role": "user", "content": [{ "type": "text", "text": prompt }] },
                ],
            })
            .to_string()
        };
        let prompt = format!("{}\nhello", tag::prompt_line(3));
        let b = body("slb-2", &prompt);
        assert_eq!(parse(b.as_bytes(), Some(1)).unwrap().tag, Some(1));
        assert_eq!(parse(b.as_bytes(), None).unwrap().tag, Some(2));
        let b = body("someone", &prompt);
        assert_eq!(parse(b.as_bytes(), None).unwrap().tag, Some(3));
        let b = body("someone", "hello");
        let p = parse(b.as_bytes(), None).unwrap();
        assert_eq!(p.tag, None);
        assert_eq!(p.input_tokens, 4); // "be brief" + "hello" = 13 bytes
    }

    #[test]
    fn bad_requests_are_named() {
        assert!(parse(b"not json", None)
            .unwrap_err()
            .contains("invalid request body"));
        let none = br#"{"model":"m","messages":[]}"#;
        assert!(parse(none, None).unwrap_err().contains("messages"));
        let missing = br#"{"model":"m"}"#;
        assert!(parse(missing, None).unwrap_err().contains("messages"));
    }

    #[test]
    fn stream_options_are_read() {
        let b = br#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,
                    "max_tokens":9,"stream_options":{"include_usage":true}}"#;
        let p = parse(b, None).unwrap();
        assert_eq!(
            p.info,
            RequestInfo {
                stream: true,
                max_tokens: Some(9),
                input_tokens: 1,
            }
        );
        assert!(p.include_usage);
    }
}
