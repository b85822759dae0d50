//! Sending one request and classifying what came back.
//!
//! Latency is measured from the request's *intended* send instant (so a
//! stalled gateway cannot hide its stall behind a late send); the service time
//! from the actual send is kept beside it. Every failure becomes an
//! [`Outcome`]; nothing here aborts the run. With simulated providers, the
//! content of every 2xx answer is checked as it arrives (`crate::answer`):
//! one that ends as complete but stops short of the provider's last word is
//! `truncated_answer`, one that is no provider's answer to this request is
//! `wrong_answer`.

use std::error::Error as _;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use tokio::time::Instant;

use super::conn::{self, Pool, SendError};
use super::gateway_headers;
use super::sse::SseParser;
use crate::answer::{Verdict, Verifier, MAX_PROVIDERS};
use crate::metrics::request::{Account, Checked, Measured};
use crate::metrics::Outcome;
use crate::openai::{self, ChatChunk};
use crate::protocol::{self, tag};

/// Headers through which gateways pass the serving provider's stamp back:
/// slabench's own, LiteLLM's `llm_provider-` forward, the built-in gateway's.
const SERVED_BY_HEADERS: [&str; 3] = [
    protocol::PROVIDER_HEADER,
    protocol::LITELLM_PROVIDER_HEADER,
    protocol::SERVED_BY_HEADER,
];

/// Where and how requests are sent.
#[derive(Debug, Clone)]
pub struct Target {
    /// The connections; shared by clones, one of its own per [`Target::fork`].
    pool: Arc<Pool>,
    /// Idle connections kept, at most.
    max_idle: usize,
    host: conn::Host,
    /// `{base}/v1/chat/completions`.
    pub url: String,
    /// What a request carries as its target and `Host`.
    path: hyper::Uri,
    authority: HeaderValue,
    pub headers: HeaderMap,
    pub timeout: Duration,
    /// `(seed, providers)` when the answers come from simulated providers
    /// and are checked (`crate::answer`); `None`: not checked.
    pub answers: Option<(u64, usize)>,
    /// The routing config sent to a Portkey gateway, to read its account by.
    pub portkey: Option<Arc<gateway_headers::PortkeyModes>>,
}

impl Target {
    /// A target at `base` (`http://host:port`, optionally with a path),
    /// keeping at most `pool` idle connections.
    pub fn new(
        base: &str,
        headers: &[(String, String)],
        timeout: Duration,
        pool: usize,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .with_context(|| format!("invalid header name {k:?}"))?;
            // The value is a secret: do not echo it in the error.
            let value = HeaderValue::from_str(v)
                .with_context(|| format!("header {k:?} has a value that is not valid in HTTP"))?;
            map.insert(name, value);
        }
        let portkey = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(gateway_headers::PORTKEY_CONFIG))
            .and_then(|(_, v)| gateway_headers::PortkeyModes::parse(v))
            .map(Arc::new);
        let url = format!("{}/v1/chat/completions", base.trim_end_matches('/'));
        let parsed = reqwest::Url::parse(&url).with_context(|| format!("invalid URL {url:?}"))?;
        if parsed.scheme() != "http" {
            anyhow::bail!(
                "{url}: slabench's client speaks plain HTTP/1.1; give the gateway's http:// address \
                 (TLS in front of a gateway is not what a gateway load test measures)"
            );
        }
        let port = parsed.port_or_known_default().unwrap_or(80);
        let Some(name) = parsed.host_str() else {
            anyhow::bail!("{url}: no host");
        };
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        let host = match bare.parse::<std::net::IpAddr>() {
            Ok(ip) => conn::Host::Addr((ip, port).into()),
            Err(_) => conn::Host::Name(bare.to_string(), port),
        };
        let authority = match parsed.port() {
            Some(p) => format!("{}:{p}", parsed.host_str().unwrap_or_default()),
            None => parsed.host_str().unwrap_or_default().to_string(),
        };
        let mut path = parsed.path().to_string();
        if let Some(q) = parsed.query() {
            path = format!("{path}?{q}");
        }
        Ok(Target {
            pool: Arc::new(Pool::new(host.clone(), timeout, pool)),
            max_idle: pool,
            host,
            path: path
                .parse()
                .with_context(|| format!("invalid URL {url:?}"))?,
            authority: HeaderValue::from_str(&authority)
                .with_context(|| format!("invalid host in {url:?}"))?,
            url,
            headers: map,
            timeout,
            answers: None,
            portkey,
        })
    }

    /// The same target with connections of its own: they are made and kept
    /// by whichever event loop uses it (a lane's).
    pub fn fork(&self) -> Self {
        Target {
            pool: Arc::new(Pool::new(self.host.clone(), self.timeout, self.max_idle)),
            ..self.clone()
        }
    }

    /// Checks every 2xx answer's content against what the run's simulated
    /// providers (`providers` of them, seeded with `seed`) would send for
    /// the request. Above [`MAX_PROVIDERS`] providers answers are not told
    /// apart, so they are not checked.
    pub fn check_answers(mut self, seed: u64, providers: usize) -> Self {
        self.answers = (1..=MAX_PROVIDERS)
            .contains(&providers)
            .then_some((seed, providers));
        self
    }

    /// Request `seq` with `body`, as it goes on the wire.
    fn request(&self, seq: u64, body: Vec<u8>) -> hyper::Request<Full<Bytes>> {
        let mut req = hyper::Request::new(Full::new(Bytes::from(body)));
        *req.method_mut() = hyper::Method::POST;
        *req.uri_mut() = self.path.clone();
        let h = req.headers_mut();
        h.reserve(self.headers.len() + 3);
        h.insert(HOST, self.authority.clone());
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (k, v) in &self.headers {
            h.insert(k, v.clone());
        }
        if let Ok(v) = HeaderValue::from_str(&tag::format(seq)) {
            h.insert(TAG_HEADER, v);
        }
        req
    }
}

/// The tag's header, parsed once.
const TAG_HEADER: HeaderName = HeaderName::from_static(tag::HEADER);

/// Timing of one request.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// The intended send instant (absolute).
    pub intended_at: Instant,
    /// The actual send instant.
    pub sent_at: Instant,
}

/// What was read from a response before it was classified.
#[derive(Debug, Default)]
struct Answer {
    status: u16,
    first_token: Option<Instant>,
    input_tokens: u32,
    output_tokens: u32,
    served_by: Option<String>,
    account: Option<Account>,
    /// The start of an error answer's message (`error_message`).
    error_message: Option<String>,
    /// Its error type (`error_type`).
    error_type: Option<String>,
    /// The check of the content, when answers are checked.
    verifier: Option<Verifier>,
    checked: Option<Checked>,
    /// When it stopped waiting for a connection (`None`: it got none).
    left_at: std::sync::OnceLock<Instant>,
}

impl Answer {
    fn feed(&mut self, content: &str) {
        if let Some(v) = self.verifier.as_mut() {
            v.feed(content);
        }
    }

    /// The outcome of a 2xx answer that came to a complete end, after the
    /// check of its content: shorter than the provider's answer, or not a
    /// provider's answer to this request, is a failure.
    fn judge(&mut self) -> Outcome {
        let Some(v) = self.verifier.take() else {
            return Outcome::Ok;
        };
        let verdict = v.finish();
        self.checked = Some(Checked {
            tokens: verdict.tokens(),
            provider: verdict.provider(),
        });
        match verdict {
            Verdict::Complete { .. } => Outcome::Ok,
            // A simulated provider always answers with at least one word
            // (profiles are validated so): an empty 2xx is a cut the
            // gateway delivered as complete.
            Verdict::Empty | Verdict::Truncated { .. } => Outcome::TruncatedAnswer,
            Verdict::Wrong { .. } => Outcome::WrongAnswer,
        }
    }
}

/// Sends one request and measures it. Never fails: errors are outcomes.
pub async fn send(
    target: &Target,
    seq: u64,
    body: Vec<u8>,
    stream: bool,
    timing: Timing,
) -> (Outcome, Measured) {
    let deadline = timing.sent_at + target.timeout;
    let mut answer = Answer {
        verifier: target
            .answers
            .map(|(seed, providers)| Verifier::new(seed, seq, providers)),
        ..Answer::default()
    };
    let fut = exchange(target, seq, body, stream, &mut answer);
    let outcome = match tokio::time::timeout_at(deadline, fut).await {
        Ok(outcome) => outcome,
        // Still waiting inside slabench for a connection: it never left,
        // so it is not the gateway's timeout; cut off, and the wait is lag.
        Err(_) if answer.left_at.get().is_none() => Outcome::CutOff,
        Err(_) => Outcome::Timeout,
    };
    let end = Instant::now();
    let left = answer.left_at.get().copied().unwrap_or(end);
    let measured = Measured {
        status: answer.status,
        latency: end.saturating_duration_since(timing.intended_at),
        service: end.saturating_duration_since(left),
        queued: left.saturating_duration_since(timing.sent_at),
        ttft: answer
            .first_token
            .map(|t| t.saturating_duration_since(timing.intended_at)),
        tpot: answer.first_token.and_then(|t| {
            (answer.output_tokens > 1)
                .then(|| end.saturating_duration_since(t) / (answer.output_tokens - 1))
        }),
        input_tokens: answer.input_tokens,
        output_tokens: answer.output_tokens,
        served_by: answer.served_by,
        account: answer.account,
        error_message: answer.error_message,
        error_type: answer.error_type,
        checked: answer.checked,
    };
    (outcome, measured)
}

async fn exchange(
    target: &Target,
    seq: u64,
    body: Vec<u8>,
    stream: bool,
    answer: &mut Answer,
) -> Outcome {
    let (lease, response) = match target
        .pool
        .send(target.request(seq, body), &answer.left_at)
        .await
    {
        Ok(r) => r,
        Err(e) => return classify_error(&e),
    };
    let status = response.status();
    answer.status = status.as_u16();
    answer.served_by = served_by_header(response.headers());
    answer.account = gateway_headers::read_with(response.headers(), target.portkey.as_deref());
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let body = response.into_body();
    if !status.is_success() {
        // Read the error body so the connection can be reused; its content
        // does not change the outcome, but its message says who made the
        // error (a gateway's own 429 reads "No deployments available").
        if let Ok(body) = read_all(body, lease).await {
            answer.error_message = Some(error_message(&body));
            answer.error_type = error_type(&body);
        }
        return Outcome::from_status(answer.status);
    }
    if stream {
        if !content_type.starts_with("text/event-stream") {
            let _ = read_all(body, lease).await;
            return Outcome::Malformed;
        }
        read_stream(body, lease, answer).await
    } else {
        if !content_type.contains("json") {
            let _ = read_all(body, lease).await;
            return Outcome::Malformed;
        }
        match read_all(body, lease).await {
            Ok(bytes) => read_completion(&bytes, answer),
            Err(e) => classify_error(&SendError::Http(e)),
        }
    }
}

/// The whole body; the connection goes back to the pool once it is read.
async fn read_all(body: Incoming, lease: conn::Lease<'_>) -> Result<Bytes, hyper::Error> {
    let bytes = body.collect().await?.to_bytes();
    lease.release();
    Ok(bytes)
}

fn read_completion(bytes: &[u8], answer: &mut Answer) -> Outcome {
    let Ok(completion) = serde_json::from_slice::<openai::CompletionView>(bytes) else {
        return Outcome::Malformed;
    };
    if completion.choices.is_empty() {
        return Outcome::Malformed;
    }
    if let Some(u) = completion.usage {
        answer.input_tokens = u.prompt_tokens;
        answer.output_tokens = u.completion_tokens;
    }
    if answer.served_by.is_none() {
        answer.served_by = stamp_in_body(completion.system_fingerprint.as_deref(), &completion.id);
    }
    for c in &completion.choices {
        if let Some(text) = c.message.content.as_deref() {
            answer.feed(text);
        }
    }
    answer.judge()
}

async fn read_stream(mut body: Incoming, lease: conn::Lease<'_>, answer: &mut Answer) -> Outcome {
    let mut parser = SseParser::new();
    let mut state = StreamState::default();
    loop {
        match body.frame().await {
            Some(Ok(frame)) => {
                let Ok(bytes) = frame.into_data() else {
                    continue; // trailers
                };
                parser.feed(&bytes, |ev| state.on_event(&ev, answer));
                if let Some(outcome) = state.finished {
                    // The end of the body usually came with [DONE]: then the
                    // connection can be used again. Not waited for.
                    if matches!(
                        futures_util::FutureExt::now_or_never(body.frame()),
                        Some(None)
                    ) {
                        lease.release();
                    }
                    return outcome;
                }
            }
            // The body ended (cleanly or not) without [DONE].
            None | Some(Err(_)) => return Outcome::TruncatedStream,
        }
    }
}

#[derive(Debug, Default)]
struct StreamState {
    finished: Option<Outcome>,
    content_chunks: u32,
}

impl StreamState {
    fn on_event(&mut self, ev: &super::sse::Event, answer: &mut Answer) {
        if self.finished.is_some() {
            return;
        }
        if ev.is_done() {
            if answer.output_tokens == 0 {
                // No usage chunk: estimate from the content chunks seen.
                answer.output_tokens = self.content_chunks;
            }
            self.finished = Some(answer.judge());
            return;
        }
        // An error event or error object mid-stream (any provider's shape)
        // is a broken stream; anything else unparsable is a malformed answer.
        if ev.is_error() {
            self.finished = Some(Outcome::TruncatedStream);
            return;
        }
        let Ok(chunk) = serde_json::from_str::<ChatChunk>(&ev.data) else {
            self.finished = Some(Outcome::Malformed);
            return;
        };
        if answer.served_by.is_none() {
            answer.served_by = stamp_in_body(chunk.system_fingerprint.as_deref(), &chunk.id);
        }
        let mut has_content = false;
        for text in chunk
            .choices
            .iter()
            .filter_map(|c| c.delta.content.as_deref())
        {
            has_content |= !text.is_empty();
            answer.feed(text);
        }
        if has_content {
            self.content_chunks += 1;
            answer.first_token.get_or_insert_with(Instant::now);
        }
        if let Some(u) = chunk.usage {
            answer.input_tokens = u.prompt_tokens;
            answer.output_tokens = u.completion_tokens;
        }
    }
}

/// An error answer's type: `error.type` (OpenAI, Anthropic), or the
/// top-level `type` of vLLM's `{"object": "error", ...}`; at most 64
/// visible characters.
pub fn error_type(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let t = v
        .get("error")
        .and_then(|e| e.get("type"))
        .or_else(|| (v.get("object")? == "error").then(|| v.get("type"))?)?
        .as_str()?;
    let t: String = t.chars().filter(|c| !c.is_control()).take(64).collect();
    (!t.is_empty()).then_some(t)
}

/// The longest error message kept, in characters.
pub const ERROR_MESSAGE_CHARS: usize = 120;

/// The start of an error answer's message, on one line: the OpenAI-style
/// `error.message` (or an `error` or `message` string) when the body is such
/// JSON, else the body itself; at most `ERROR_MESSAGE_CHARS` characters,
/// whitespace runs folded to one space, control characters dropped.
pub fn error_message(body: &[u8]) -> String {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let from_json = json.as_ref().and_then(|v| {
        let e = v.get("error");
        e.and_then(|e| e.get("message"))
            .or(e)
            .or_else(|| v.get("message"))
            .or_else(|| v.get("detail"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    });
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let mut out = String::new();
    for word in text.split_whitespace() {
        let word: String = word.chars().filter(|c| !c.is_control()).collect();
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word);
        if out.chars().count() >= ERROR_MESSAGE_CHARS {
            break;
        }
    }
    match out.char_indices().nth(ERROR_MESSAGE_CHARS) {
        Some((cut, _)) => out[..cut].to_string(),
        None => out,
    }
}

fn served_by_header(headers: &HeaderMap) -> Option<String> {
    SERVED_BY_HEADERS
        .iter()
        .find_map(|h| headers.get(*h))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn stamp_in_body(fingerprint: Option<&str>, id: &str) -> Option<String> {
    fingerprint
        .and_then(openai::provider_from_fingerprint)
        .or_else(|| openai::provider_from_id(id))
        .map(str::to_string)
}

/// Classifies a transport error: the connect's, or the connection's (by
/// walking its source chain).
fn classify_error(err: &SendError) -> Outcome {
    let http = match err {
        SendError::Connect(io) => {
            return match io.kind() {
                io::ErrorKind::ConnectionRefused => Outcome::Refused,
                io::ErrorKind::TimedOut => Outcome::Timeout,
                _ => Outcome::Reset,
            }
        }
        SendError::Http(e) => e,
    };
    if http.is_timeout() {
        return Outcome::Timeout;
    }
    let mut source = http.source();
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return match io.kind() {
                io::ErrorKind::ConnectionRefused => Outcome::Refused,
                io::ErrorKind::TimedOut => Outcome::Timeout,
                _ => Outcome::Reset,
            };
        }
        source = e.source();
    }
    // hyper's "connection closed before message completed" and friends.
    Outcome::Reset
}

#[cfg(test)]
mod error_message_tests {
    use super::*;

    #[test]
    fn reads_the_error_type_in_each_dialect() {
        let openai = br#"{"error":{"message":"m","type":"server_error","code":null}}"#;
        assert_eq!(error_type(openai).as_deref(), Some("server_error"));
        let anthropic =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(error_type(anthropic).as_deref(), Some("overloaded_error"));
        let vllm = br#"{"object":"error","message":"m","type":"BadRequestError","code":400}"#;
        assert_eq!(error_type(vllm).as_deref(), Some("BadRequestError"));
        assert_eq!(error_type(br#"{"error":"overloaded"}"#), None);
        assert_eq!(error_type(b"<html>"), None);
    }

    #[test]
    fn keeps_the_start_of_the_message_on_one_line() {
        let litellm = br#"{"error":{"message":"No deployments available for selected model, Try again in 5 seconds.\nPassed model=default","type":"None","code":"429"}}"#;
        assert_eq!(
            error_message(litellm),
            "No deployments available for selected model, Try again in 5 seconds. Passed model=default"
        );
        assert_eq!(error_message(br#"{"error":"overloaded"}"#), "overloaded");
        assert_eq!(
            error_message(b"upstream\r\n  connect\terror"),
            "upstream connect error"
        );
        assert_eq!(error_message(b""), "");
        let long = "x".repeat(500);
        assert_eq!(error_message(long.as_bytes()).len(), ERROR_MESSAGE_CHARS);
        let words = "\u{1b}[31mred\u{1b}[0m ".repeat(100);
        let got = error_message(words.as_bytes());
        assert!(
            got.chars().count() <= ERROR_MESSAGE_CHARS && !got.contains('\u{1b}'),
            "{got}"
        );
        // Not valid UTF-8: replaced, not lost.
        assert_eq!(error_message(b"bad \xff gateway"), "bad \u{fffd} gateway");
    }
}
