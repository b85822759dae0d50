//! What a provider's answer means for the route: relay it, or count it as
//! a failure that may be retried or failed over; whether a success is a
//! chat completion; and, for a stream, whether content, an error or a
//! break comes first.
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
/// can use: a JSON content type and a JSON object whose `choices` is a
/// non-empty array of objects. Nothing more is asked of it: content as an
/// array of parts, no `id`, usage without `total_tokens` are all answers. A
/// 200 that is not one is a broken provider, not an answer to relay.
pub(crate) fn completion_ok(headers: &hyper::HeaderMap, body: &[u8]) -> bool {
    let json = headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("json"));
    json && match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => match o.get("choices") {
            Some(Value::Array(c)) => !c.is_empty() && c.iter().all(Value::is_object),
            _ => false,
        },
        _ => false,
    }
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
    /// data or with empty data (heartbeats), and chunks without content: a
    /// usage-only chunk, or the role-only chunk OpenAI, vLLM and LiteLLM
    /// send first.
    More,
    /// A chunk with content (see `has_content`) arrived before any error:
    /// the stream has begun.
    Content,
    /// An error came first: `event: error`, or data that is an error object
    /// (has `error`, or `"type":"error"`, or `"object":"error"`).
    Error,
    /// The stream is broken before its first content: data that is not
    /// JSON, or `[DONE]` with no content before it (an empty answer).
    /// Nothing reached the client yet, so this is a malformed answer.
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
            // An empty data buffer is not dispatched (the SSE spec): a
            // `data:` heartbeat is neither content nor broken.
            if let Some(data) = data.take().filter(|d| !d.is_empty()) {
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

/// What one complete, non-empty data event says about the stream's start.
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
        Some(Value::Array(c)) if c.iter().any(has_content) => Scan::Content,
        _ => Scan::More,
    }
}

/// Whether a chunk's choice carries something of the answer: a non-empty
/// `delta.content`, `delta.tool_calls` or (legacy) `delta.function_call`,
/// a `delta.refusal`, non-empty `delta.reasoning_content` or
/// `delta.reasoning` (reasoning models stream these first), or a
/// `finish_reason`. A role-only delta (`"content":""`, `"refusal":null`)
/// is not: the answer may still fail before its first token.
fn has_content(choice: &Value) -> bool {
    let filled = |v: &Value| match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    };
    let delta = choice.get("delta");
    let field = |k: &str| delta.and_then(|d| d.get(k)).is_some_and(filled);
    [
        "content",
        "tool_calls",
        "function_call",
        "refusal",
        "reasoning_content",
        "reasoning",
    ]
    .into_iter()
    .any(field)
        || choice.get("finish_reason").is_some_and(|f| !f.is_null())
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
        let parts = r#"{"choices":[{"message":{"content":[{"type":"text","text":"hi"}]}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#;
        assert!(
            ok("application/json", parts),
            "content parts, no id, usage without total_tokens"
        );
        assert!(
            !ok("application/json", r#"{"choices":["hi"]}"#),
            "a choice must be an object"
        );
        assert!(
            !ok("application/json", r#"[{"choices":[{}]}]"#),
            "not an object"
        );
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
        let chunk = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}";
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

    /// The chunks real providers send, built from their deltas.
    fn chunk(choice: &str) -> String {
        format!("data: {{\"id\":\"c\",\"choices\":[{choice}]}}\n\n")
    }

    const ROLE: &str = r#"{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"finish_reason":null}"#;

    #[test]
    fn a_role_only_chunk_decides_nothing() {
        let role = chunk(ROLE);
        assert_eq!(
            scan(role.as_bytes()),
            Scan::More,
            "OpenAI's and vLLM's first chunk"
        );
        let content = chunk(r#"{"index":0,"delta":{"content":"Hel"},"finish_reason":null}"#);
        assert_eq!(scan(format!("{role}{content}").as_bytes()), Scan::Content);
        let overloaded = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}\n\n";
        assert_eq!(
            scan(format!("{role}{overloaded}").as_bytes()),
            Scan::Error,
            "an error after the role chunk is still before any content"
        );
        assert_eq!(
            scan(format!("{role}data: [DONE]\n\n").as_bytes()),
            Scan::Broken,
            "a role and nothing else is an empty answer"
        );
        let role_only = chunk(r#"{"index":0,"delta":{"role":"assistant"}}"#);
        assert_eq!(scan(role_only.as_bytes()), Scan::More);
        let empty_calls = chunk(r#"{"index":0,"delta":{"tool_calls":[]}}"#);
        assert_eq!(scan(empty_calls.as_bytes()), Scan::More);
    }

    #[test]
    fn each_kind_of_content_commits() {
        let commits = |choice: &str| scan(chunk(choice).as_bytes());
        let tool = r#"{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}"#;
        assert_eq!(commits(tool), Scan::Content, "tool_calls first");
        let reasoning =
            r#"{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":"Let"}}"#;
        assert_eq!(commits(reasoning), Scan::Content, "reasoning_content first");
        let reasoning = r#"{"index":0,"delta":{"reasoning":"Let"}}"#;
        assert_eq!(commits(reasoning), Scan::Content, "vLLM's reasoning");
        let refusal = r#"{"index":0,"delta":{"refusal":"I can't"}}"#;
        assert_eq!(commits(refusal), Scan::Content, "a refusal");
        let finish = r#"{"index":0,"delta":{},"finish_reason":"stop"}"#;
        assert_eq!(commits(finish), Scan::Content, "finish_reason only");
        let legacy = r#"{"index":0,"delta":{"function_call":{"name":"f"}}}"#;
        assert_eq!(commits(legacy), Scan::Content, "a legacy function_call");
        let second = format!("{ROLE},{{\"index\":1,\"delta\":{{\"content\":\"x\"}}}}");
        assert_eq!(commits(&second), Scan::Content, "any choice with content");
        let empty = r#"{"index":0,"delta":{"content":"","reasoning_content":""}}"#;
        assert_eq!(commits(empty), Scan::More, "empty strings are no content");
    }

    #[test]
    fn usage_only_chunks_and_empty_data_are_skipped() {
        let usage =
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":0}}\n\n";
        assert_eq!(scan(usage.as_bytes()), Scan::More, "usage-only");
        for heartbeat in [
            "data:\n\n",
            "data: \n\n",
            "data:\r\n\r\n",
            "event: error\ndata:\n\n",
        ] {
            assert_eq!(scan(heartbeat.as_bytes()), Scan::More, "{heartbeat:?}");
            let then = format!("{heartbeat}{}", chunk(r#"{"delta":{"content":"a"}}"#));
            assert_eq!(scan(then.as_bytes()), Scan::Content, "{heartbeat:?}");
        }
        assert_eq!(
            scan(format!("data:\n\n{usage}data: [DONE]\n\n").as_bytes()),
            Scan::Broken
        );
    }
}
