//! The gateway's responses: relayed answers, OpenAI-style errors, and the
//! `x-slabench-*` headers that say which provider served and what was tried.

use std::fmt::Write as _;

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

/// Upstream response headers the client gets too.
const PASSED_THROUGH: [HeaderName; 3] = [CONTENT_TYPE, PROVIDER, RETRY_AFTER];

/// What a request went through, for the response headers.
#[derive(Debug, Default)]
pub(crate) struct AttemptLog {
    /// `flash:503,flash:timeout,qwen:200`: one entry per request a provider received.
    attempts: String,
    /// Providers passed over because their breaker was open: `flash,qwen`.
    skipped: String,
}

impl AttemptLog {
    pub fn attempt(&mut self, up: &Upstream, outcome: &Outcome) {
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

    pub fn is_empty(&self) -> bool {
        self.attempts.is_empty()
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
