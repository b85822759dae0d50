//! Error answers in each provider's dialect: the body of an error status
//! and the error event of a broken stream, shaped like OpenAI, Anthropic or
//! vLLM shape theirs, with the scenario's code, type and message.

use bytes::Bytes;
use serde_json::{json, Value};

use crate::scenario::{Dialect, ErrorSpec};

/// What one error says, resolved against the dialect's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorText {
    pub error_type: String,
    pub code: Option<String>,
    pub message: String,
}

impl ErrorText {
    pub fn new(dialect: Dialect, status: u16, spec: &ErrorSpec) -> Self {
        let code = spec.code.clone();
        let error_type = spec
            .error_type
            .clone()
            .unwrap_or_else(|| dialect.default_type(status, code.as_deref()).to_string());
        let message = spec
            .message
            .clone()
            .unwrap_or_else(|| default_message(dialect, status, code.as_deref()).to_string());
        ErrorText {
            error_type,
            code,
            message,
        }
    }
}

fn default_message(dialect: Dialect, status: u16, code: Option<&str>) -> &'static str {
    match (dialect, status, code) {
        (_, 429, Some("insufficient_quota")) => {
            "You exceeded your current quota, please check your plan and billing details (simulated)"
        }
        (_, 400, Some("context_length_exceeded")) => {
            "This model's maximum context length was exceeded (simulated)"
        }
        (Dialect::Anthropic, 529, _) => "Overloaded (simulated)",
        (_, 429, _) => "Rate limit reached (simulated)",
        (_, 400..=499, _) => "Request rejected (simulated)",
        _ => "The server had an error (simulated)",
    }
}

/// The JSON of an error answer with `status` in `dialect`.
pub fn error_json(dialect: Dialect, status: u16, text: &ErrorText) -> Value {
    match dialect {
        Dialect::OpenAi => json!({
            "error": {
                "message": text.message,
                "type": text.error_type,
                "param": null,
                "code": text.code,
            }
        }),
        Dialect::Anthropic => json!({
            "type": "error",
            "error": { "type": text.error_type, "message": text.message },
        }),
        Dialect::Vllm => json!({
            "object": "error",
            "message": text.message,
            "type": text.error_type,
            "param": null,
            "code": text.code.as_deref().map_or(json!(status), |c| json!(c)),
        }),
    }
}

/// The body of an error status.
pub fn error_body(dialect: Dialect, status: u16, spec: &ErrorSpec) -> Bytes {
    let text = ErrorText::new(dialect, status, spec);
    Bytes::from(error_json(dialect, status, &text).to_string())
}

/// The SSE error event that ends a broken stream: `event: error` with the
/// Anthropic envelope, a bare `data:` line with OpenAI's or vLLM's.
pub fn error_event(dialect: Dialect, status: u16, spec: &ErrorSpec) -> String {
    let text = ErrorText::new(dialect, status, spec);
    let data = error_json(dialect, status, &text);
    match dialect {
        Dialect::Anthropic => format!("event: error\ndata: {data}\n\n"),
        Dialect::OpenAi | Dialect::Vllm => format!("data: {data}\n\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &Bytes) -> Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn each_dialect_has_its_envelope() {
        let spec = ErrorSpec::default();
        let o = parse(&error_body(Dialect::OpenAi, 503, &spec));
        assert_eq!(o["error"]["type"], "server_error");
        let a = parse(&error_body(Dialect::Anthropic, 529, &spec));
        assert_eq!(a["type"], "error");
        assert_eq!(a["error"]["type"], "overloaded_error");
        let v = parse(&error_body(Dialect::Vllm, 400, &spec));
        assert_eq!(v["object"], "error");
        assert_eq!(v["type"], "BadRequestError");
        assert_eq!(v["code"], 400);
    }

    #[test]
    fn the_scenario_names_code_type_and_message() {
        let spec = ErrorSpec {
            code: Some("context_length_exceeded".into()),
            message: Some("too long".into()),
            ..ErrorSpec::default()
        };
        let o = parse(&error_body(Dialect::OpenAi, 400, &spec));
        assert_eq!(o["error"]["code"], "context_length_exceeded");
        assert_eq!(o["error"]["type"], "invalid_request_error");
        assert_eq!(o["error"]["message"], "too long");
        let quota = ErrorSpec {
            code: Some("insufficient_quota".into()),
            ..ErrorSpec::default()
        };
        let q = parse(&error_body(Dialect::OpenAi, 429, &quota));
        assert_eq!(q["error"]["type"], "insufficient_quota");
    }

    #[test]
    fn error_events_are_sse() {
        let e = error_event(Dialect::Anthropic, 529, &ErrorSpec::default());
        assert!(e.starts_with("event: error\ndata: {"));
        assert!(e.contains("overloaded_error") && e.ends_with("\n\n"));
        let e = error_event(Dialect::OpenAi, 500, &ErrorSpec::default());
        assert!(e.starts_with("data: {\"error\""));
    }
}
