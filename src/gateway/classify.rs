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

/// Whether a successful non-streaming answer is a chat completion a client
/// can use: a JSON content type and a body with at least one choice. A 200
/// that is not one is a broken provider, not an answer to relay.
pub(crate) fn completion_ok(headers: &hyper::HeaderMap, body: &[u8]) -> bool {
    let json = headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("json"));
    json && serde_json::from_slice::<crate::openai::ChatCompletion>(body)
        .is_ok_and(|c| !c.choices.is_empty())
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
    /// No complete event yet, or only comments (`: ping`), events without
    /// data, and chunks without choices (a usage-only chunk).
    More,
    /// A chunk with choices arrived before any error: the stream has begun.
    Content,
    /// An error came first: `event: error`, or data that is an error object
    /// (has `error`, or `"type":"error"`, or `"object":"error"`).
    Error,
    /// The stream is broken before its first chunk: data that is not JSON,
    /// or `[DONE]` with no choices before it (an empty answer). Nothing
    /// reached the client yet, so this fails over like a broken connection.
    Broken,
}

/// Judges the start of a stream, `buf` holding its bytes from the first
/// one: the first data event that decides (see [`Scan`]). Lines end in
/// `\n` or `\r\n`; an empty line ends an event.
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
                match event(error_type, &data) {
                    Scan::More => {}
                    decided => return decided,
                }
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

/// What one complete data event says about the stream's start.
fn event(error_type: bool, data: &[u8]) -> Scan {
    if error_type {
        return Scan::Error;
    }
    if data == b"[DONE]" {
        return Scan::Broken;
    }
    let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(data) else {
        return Scan::Broken;
    };
    let is_error = |k: &str| o.get(k).and_then(Value::as_str) == Some("error");
    if o.contains_key("error") || is_error("type") || is_error("object") {
        return Scan::Error;
    }
    match o.get("choices") {
        Some(Value::Array(c)) if !c.is_empty() => Scan::Content,
        _ => Scan::More,
    }
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
    fn a_success_is_relayed_only_if_it_is_a_chat_completion() {
        let ok = |ct: &'static str, body: &str| {
            let mut h = hyper::HeaderMap::new();
            h.insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(ct),
            );
            completion_ok(&h, body.as_bytes())
        };
        let good = r#"{"id":"x","choices":[{"message":{"role":"assistant","content":"hi"}}]}"#;
        assert!(ok("application/json", good));
        assert!(ok("application/json; charset=utf-8", good));
        assert!(!ok("text/plain", good), "wrong content type");
        assert!(
            !ok("application/json", r#"{"id":"x","choices":[]}"#),
            "no choices"
        );
        assert!(!ok("application/json", r#"{"id":"x","choi"#), "cut JSON");
        assert!(!ok("application/json", "<html>bad gateway</html>"));
        assert!(
            !completion_ok(&hyper::HeaderMap::new(), good.as_bytes()),
            "no content type"
        );
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
        let chunk = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}";
        assert_eq!(s(&format!(": ping\n\n{chunk}\n\n")), Scan::Content);
        assert_eq!(s(&format!("{chunk}\r\n\r\n")), Scan::Content);
        assert_eq!(s(&format!("event: ping\n\n{chunk}\n\n")), Scan::Content);
        assert_eq!(
            s("data: {\"choices\":[],\"usage\":{}}\n\n"),
            Scan::More,
            "a usage-only chunk decides nothing"
        );
        assert_eq!(
            s(&format!("data: {{\"choices\":[]}}\n\n{chunk}\n\n")),
            Scan::Content
        );
        assert_eq!(s("data: [DONE]\n\n"), Scan::Broken, "done before content");
        assert_eq!(
            s("data: {\"choices\":[]}\n\ndata: [DONE]\n\n"),
            Scan::Broken,
            "an empty answer"
        );
        assert_eq!(s("data: {\"id\":\"x\",\"cho\n\n"), Scan::Broken, "cut JSON");
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
            s(&format!("{chunk}\n\ndata: {{\"error\":{{}}}}\n\n")),
            Scan::Content,
            "an error after content is the stream's business"
        );
    }
}
