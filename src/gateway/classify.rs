//! What a provider's answer means for the route: relay it, or count it as
//! a failure that may be retried or failed over; and, for a stream, whether
//! its first event is content or an error.
//!
//! Pure functions on status, body bytes and SSE text, so every rule is
//! tested without a socket.

use hyper::StatusCode;
use serde_json::Value;

/// How the router treats an answer with a complete body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Goes to the client as it is, and shows the provider alive: a
    /// success, or an error about the request itself that would fail the
    /// same way anywhere (any 4xx but 429, and a 429 for a spent quota).
    Relay,
    /// A 429 that may pass: retried or failed over as the policy says.
    RateLimited,
    /// A 5xx: retried or failed over as the policy says.
    ServerError,
}

/// `should_retry`: the answer's `x-should-retry` header (OpenAI's and
/// Anthropic's), which overrides what the status says.
pub(crate) fn kind(status: StatusCode, should_retry: Option<bool>, body: &[u8]) -> Kind {
    match should_retry {
        Some(false) => return Kind::Relay,
        Some(true) if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS => {
            return Kind::ServerError
        }
        _ => {}
    }
    if status.is_server_error() {
        Kind::ServerError
    } else if status == StatusCode::TOO_MANY_REQUESTS && !spend_cap(body) {
        Kind::RateLimited
    } else {
        Kind::Relay
    }
}

/// The `x-should-retry` header: `true` or `false`, else `None`.
pub(crate) fn should_retry(headers: &hyper::HeaderMap) -> Option<bool> {
    match headers.get("x-should-retry")?.to_str().ok()?.trim() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Whether an error body says the quota is spent (`insufficient_quota` as
/// `error.code` or `error.type`): no retry can succeed until someone pays.
/// OpenAI and Anthropic put the error under `error`; vLLM at the top.
pub(crate) fn spend_cap(body: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let says = |e: &Value| {
        ["code", "type"]
            .iter()
            .any(|k| e.get(k).and_then(Value::as_str) == Some("insufficient_quota"))
    };
    v.get("error").is_some_and(says) || says(&v)
}

/// What the start of an SSE stream holds so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// No complete event yet, or only comments (`: ping`) and events
    /// without data.
    More,
    /// The first data event is content (anything but an error).
    Content,
    /// The first data event is an error: `event: error`, or data that is an
    /// error object (has `error`, or `"type":"error"`, or `"object":"error"`).
    Error,
}

/// Judges the first complete data event in `buf`, the bytes of a stream
/// from its start. Lines end in `\n` or `\r\n`; an empty line ends an event.
pub(crate) fn scan(buf: &[u8]) -> Scan {
    // Only complete lines: the last one may still be arriving.
    let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
        return Scan::More;
    };
    let mut error_type = false;
    let mut data: Option<Vec<u8>> = None;
    for line in buf[..end].split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            if let Some(data) = data.take() {
                return if error_type || error_json(&data) {
                    Scan::Error
                } else {
                    Scan::Content
                };
            }
            error_type = false;
            continue;
        }
        if line.starts_with(b":") {
            continue;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &b""[..]),
        };
        let value = value.strip_prefix(b" ").unwrap_or(value);
        match field {
            b"event" => error_type = value == b"error",
            b"data" => {
                let data = data.get_or_insert_with(Vec::new);
                if !data.is_empty() {
                    data.push(b'\n');
                }
                data.extend_from_slice(value);
            }
            _ => {}
        }
    }
    Scan::More
}

fn error_json(data: &[u8]) -> bool {
    let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(data) else {
        return false;
    };
    let is_error = |k: &str| o.get(k).and_then(Value::as_str) == Some("error");
    o.contains_key("error") || is_error("type") || is_error("object")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_answers_are_relayed() {
        let k = |s: u16, body: &str| kind(StatusCode::from_u16(s).unwrap(), None, body.as_bytes());
        let told = |s: u16, retry| kind(StatusCode::from_u16(s).unwrap(), Some(retry), b"{}");
        assert_eq!(told(503, false), Kind::Relay, "x-should-retry: false wins");
        assert_eq!(told(429, false), Kind::Relay);
        assert_eq!(
            told(400, true),
            Kind::ServerError,
            "x-should-retry: true on a 4xx"
        );
        assert_eq!(told(429, true), Kind::RateLimited);
        let mut h = hyper::HeaderMap::new();
        assert_eq!(should_retry(&h), None);
        h.insert(
            "x-should-retry",
            hyper::header::HeaderValue::from_static("false"),
        );
        assert_eq!(should_retry(&h), Some(false));
        h.insert(
            "x-should-retry",
            hyper::header::HeaderValue::from_static("maybe"),
        );
        assert_eq!(should_retry(&h), None);
        assert_eq!(k(200, "{}"), Kind::Relay);
        assert_eq!(k(400, "{}"), Kind::Relay);
        assert_eq!(k(404, ""), Kind::Relay);
        assert_eq!(k(429, "{}"), Kind::RateLimited);
        assert_eq!(k(429, "not json"), Kind::RateLimited);
        assert_eq!(k(500, "{}"), Kind::ServerError);
        assert_eq!(k(529, "{}"), Kind::ServerError);
        let openai = r#"{"error":{"message":"m","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        let anthropic = r#"{"type":"error","error":{"type":"insufficient_quota","message":"m"}}"#;
        let vllm = r#"{"object":"error","message":"m","type":"x","param":null,"code":"insufficient_quota"}"#;
        for body in [openai, anthropic, vllm] {
            assert_eq!(k(429, body), Kind::Relay, "{body}");
        }
        let other = r#"{"error":{"type":"rate_limit_exceeded","code":"rate_limit_exceeded"}}"#;
        assert_eq!(k(429, other), Kind::RateLimited);
    }

    #[test]
    fn the_first_data_event_decides() {
        let s = |text: &str| scan(text.as_bytes());
        assert_eq!(s(""), Scan::More);
        assert_eq!(s(": ping\n\n"), Scan::More);
        assert_eq!(s(": ping\n\n: ping\r\n\r\n"), Scan::More);
        assert_eq!(s("data: {\"choices\":[]}"), Scan::More, "line incomplete");
        assert_eq!(
            s("data: {\"choices\":[]}\n"),
            Scan::More,
            "event incomplete"
        );
        assert_eq!(s(": ping\n\ndata: {\"choices\":[]}\n\n"), Scan::Content);
        assert_eq!(s("data: {\"choices\":[]}\r\n\r\n"), Scan::Content);
        assert_eq!(s("data: [DONE]\n\n"), Scan::Content);
        assert_eq!(s("event: ping\n\ndata: {\"a\":1}\n\n"), Scan::Content);
        let anthropic = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}\n\n";
        assert_eq!(s(anthropic), Scan::Error);
        assert_eq!(s(&format!(": ping\n\n{anthropic}")), Scan::Error);
        assert_eq!(s("event: error\ndata: oops\n\n"), Scan::Error);
        assert_eq!(s("data: {\"error\":{\"message\":\"x\"}}\n\n"), Scan::Error);
        assert_eq!(
            s("data: {\"object\":\"error\",\"message\":\"x\"}\n\n"),
            Scan::Error
        );
        assert_eq!(
            s("data: {\"a\":1}\n\ndata: {\"error\":{}}\n\n"),
            Scan::Content,
            "an error after content is the stream's business"
        );
    }
}
