//! The gateway's responses: relayed answers, OpenAI-style errors, and the
//! `x-slabench-*` headers that say which provider served and what was tried.

use std::fmt::Write as _;
use std::time::Duration;

use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Response, StatusCode};

use super::body::GatewayBody;
use super::upstream::{Outcome, Upstream};
use super::{ATTEMPTS_HEADER, SERVED_BY_HEADER, SKIPPED_HEADER};
use crate::openai::{self, PROVIDER_HEADER};

const SERVED_BY: HeaderName = HeaderName::from_static(SERVED_BY_HEADER);
const ATTEMPTS: HeaderName = HeaderName::from_static(ATTEMPTS_HEADER);
const SKIPPED: HeaderName = HeaderName::from_static(SKIPPED_HEADER);
const PROVIDER: HeaderName = HeaderName::from_static(PROVIDER_HEADER);

const RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");

/// Upstream response headers the client gets too.
const PASSED_THROUGH: [HeaderName; 4] = [CONTENT_TYPE, PROVIDER, RETRY_AFTER, RETRY_AFTER_MS];

/// What a request went through, for the response headers.
#[derive(Debug, Default)]
pub(crate) struct AttemptLog {
    /// `flash:503,flash:timeout,qwen:200`: one entry per request a provider received.
    attempts: String,
    /// Providers passed over because their breaker was open or they were
    /// cooling down after a `Retry-After`: `flash,qwen`.
    skipped: String,
    /// The index of the provider the first attempt went to.
    first: Option<usize>,
}

impl AttemptLog {
    pub fn attempt(&mut self, up: &Upstream, outcome: &Outcome) {
        self.first.get_or_insert(up.index);
        if !self.attempts.is_empty() {
            self.attempts.push(',');
        }
        // Writing to a String cannot fail.
        let _ = write!(self.attempts, "{}:{outcome}", up.name);
    }

    pub fn skip(&mut self, up: &Upstream) {
        if !self.skipped.is_empty() {
            self.skipped.push(',');
        }
        self.skipped.push_str(&up.name);
    }

    pub fn summary(&self) -> &str {
        &self.attempts
    }

    fn stamp(self, headers: &mut HeaderMap) {
        // Provider names and outcome labels are checked visible ASCII, so
        // these conversions cannot fail; skip the header rather than panic.
        for (name, value) in [(ATTEMPTS, self.attempts), (SKIPPED, self.skipped)] {
            if !value.is_empty() {
                if let Ok(value) = HeaderValue::try_from(value) {
                    headers.insert(name, value);
                }
            }
        }
    }
}

/// A provider's answer, relayed: its status, body and passed-through headers.
pub(crate) fn answer(
    up: &Upstream,
    status: StatusCode,
    upstream_headers: &HeaderMap,
    body: GatewayBody,
    log: AttemptLog,
) -> Response<GatewayBody> {
    // A failover, for the live metrics: another provider than the first
    // one tried answers.
    if let Some(first) = log.first.filter(|&f| f != up.index) {
        up.stats.failover_from(first);
    }
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    for name in PASSED_THROUGH {
        if let Some(value) = upstream_headers.get(&name) {
            headers.insert(name, value.clone());
        }
    }
    headers.insert(SERVED_BY, up.name_header.clone());
    log.stamp(headers);
    resp
}

/// An OpenAI-style error from the gateway itself.
pub(crate) fn error(
    status: StatusCode,
    message: &str,
    kind: &str,
    code: &str,
    log: AttemptLog,
) -> Response<GatewayBody> {
    let mut resp = Response::new(GatewayBody::full(openai::error_body(
        message,
        kind,
        Some(code),
    )));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    log.stamp(resp.headers_mut());
    resp
}

/// Every provider of the route is cooling down (or open): 429, with the
/// shortest wait left as `Retry-After` (whole seconds, rounded up) and
/// `retry-after-ms`.
pub(crate) fn cooling(model: &str, left: Duration, log: AttemptLog) -> Response<GatewayBody> {
    let msg = format!(
        "every provider for model `{model}` asked to wait (Retry-After); \
         the first is free again in {} ms",
        left.as_millis()
    );
    let mut resp = error(
        StatusCode::TOO_MANY_REQUESTS,
        &msg,
        "rate_limit_error",
        "providers_cooling_down",
        log,
    );
    let ms = u64::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
    let secs = ms.div_ceil(1000);
    let headers = resp.headers_mut();
    headers.insert(RETRY_AFTER, HeaderValue::from(secs));
    headers.insert(RETRY_AFTER_MS, HeaderValue::from(ms));
    resp
}

/// An error about the request itself, answered before any attempt.
pub(crate) fn invalid_request(
    status: StatusCode,
    message: &str,
    code: &str,
) -> Response<GatewayBody> {
    error(
        status,
        message,
        "invalid_request_error",
        code,
        AttemptLog::default(),
    )
}

/// The last provider tried answered a success status with a body that is
/// not a chat completion, or a stream that broke before any content: 502,
/// never the broken body as if it were an answer.
pub(crate) fn malformed(up: &Upstream, log: AttemptLog) -> Response<GatewayBody> {
    let msg = format!(
        "provider {} answered a success status with a body that is not a chat completion \
         (or a stream that broke before any content)",
        up.name
    );
    error(
        StatusCode::BAD_GATEWAY,
        &msg,
        "upstream_error",
        "upstream_malformed",
        log,
    )
}
