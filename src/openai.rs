//! The OpenAI chat-completions wire format, as much of it as slabench speaks.
//!
//! The generator builds [`ChatRequest`]s, the providers and the built-in
//! gateway parse them, and everyone reads [`ChatCompletion`] / [`ChatChunk`].
//! Unknown fields are kept in `extra` so a gateway's additions pass through.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// Response header with which a simulated provider stamps its answers.
pub use crate::protocol::PROVIDER_HEADER;
/// Prefix of `system_fingerprint` on a simulated provider's answers.
pub const FINGERPRINT_PREFIX: &str = "slabench:";
/// Prefix of the `id` of a simulated provider's answers: `chatcmpl-slb-<provider>-<n>`.
pub const ID_PREFIX: &str = "chatcmpl-slb-";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Message {
    pub role: String,
    /// Plain text content. (Content parts arrays are accepted as raw JSON by
    /// providers, which only need the first line of text for the tag.)
    pub content: serde_json::Value,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatCompletion {
    pub id: String,
    #[serde(default)]
    pub object: String,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Choice {
    #[serde(default)]
    pub index: u32,
    pub message: AssistantMessage,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AssistantMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatChunk {
    pub id: String,
    #[serde(default)]
    pub object: String,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChunkChoice {
    #[serde(default)]
    pub index: u32,
    pub delta: Delta,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// A [`ChatCompletion`] read without copying its strings (the load's
/// client reads one per request). It accepts and refuses exactly the
/// bodies [`ChatCompletion`] does: the same fields are required, and every
/// field present must have the same type.
#[derive(Debug, Deserialize)]
pub struct CompletionView<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(default, borrow)]
    pub object: Cow<'a, str>,
    #[serde(default)]
    pub created: u64,
    #[serde(default, borrow)]
    pub model: Cow<'a, str>,
    #[serde(default, borrow)]
    pub system_fingerprint: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub choices: Vec<ChoiceView<'a>>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

/// A [`Choice`], borrowed.
#[derive(Debug, Deserialize)]
pub struct ChoiceView<'a> {
    #[serde(default)]
    pub index: u32,
    #[serde(borrow)]
    pub message: MessageView<'a>,
    #[serde(default, borrow)]
    pub finish_reason: Option<Cow<'a, str>>,
}

/// An [`AssistantMessage`], borrowed.
#[derive(Debug, Deserialize)]
pub struct MessageView<'a> {
    #[serde(borrow)]
    pub role: Cow<'a, str>,
    #[serde(default, borrow)]
    pub content: Option<Cow<'a, str>>,
}

/// OpenAI-style error body: `{"error": {"message", "type", "code"}}`.
pub fn error_body(message: &str, kind: &str, code: Option<&str>) -> String {
    serde_json::json!({ "error": { "message": message, "type": kind, "code": code } }).to_string()
}

/// `system_fingerprint` value for provider `name`.
pub fn fingerprint(provider: &str) -> String {
    format!("{FINGERPRINT_PREFIX}{provider}")
}

/// The provider named by a `system_fingerprint`, if slabench stamped it.
pub fn provider_from_fingerprint(fp: &str) -> Option<&str> {
    fp.strip_prefix(FINGERPRINT_PREFIX)
        .filter(|s| !s.is_empty())
}

/// Completion `id` for the `n`th answer of provider `name`.
pub fn completion_id(provider: &str, n: u64) -> String {
    format!("{ID_PREFIX}{provider}-{n}")
}

/// The provider named by a completion `id`, if slabench stamped it.
pub fn provider_from_id(id: &str) -> Option<&str> {
    let rest = id.strip_prefix(ID_PREFIX)?;
    let (name, n) = rest.rsplit_once('-')?;
    (!name.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip() {
        assert_eq!(
            provider_from_fingerprint(&fingerprint("flash")),
            Some("flash")
        );
        assert_eq!(
            provider_from_id(&completion_id("qwen-32b", 7)),
            Some("qwen-32b")
        );
        assert_eq!(provider_from_id("chatcmpl-abc"), None);
        assert_eq!(provider_from_fingerprint("fp_44709d6fcb"), None);
    }

    #[test]
    fn request_keeps_unknown_fields() {
        let body = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.2}"#;
        let req: ChatRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.extra["temperature"], 0.2);
        let back = serde_json::to_value(&req).unwrap();
        assert_eq!(back["temperature"], 0.2);
    }

    /// The borrowed view accepts and refuses the same bodies as the owned
    /// type, and reads the same values.
    #[test]
    fn the_completion_view_reads_what_the_owned_completion_reads() {
        let ok = r#"{"id":"chatcmpl-flash-1","object":"chat.completion","created":1,"model":"m","system_fingerprint":"fp","choices":[{"index":0,"message":{"role":"assistant","content":"a \"quoted\" \u00e9 word"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5},"extra":[1,{"x":null}]}"#;
        let bodies = [
            ok,
            r#"{"id":"x","choices":[]}"#,
            r#"{"id":"x","choices":[{"message":{"role":"assistant","content":null}}]}"#,
            r#"{"id":"x","system_fingerprint":null,"choices":[{"message":{"role":"assistant"}}]}"#,
            // Refused by both: a missing or mistyped field.
            r#"{"choices":[]}"#,
            r#"{"id":"x"}"#,
            r#"{"id":7,"choices":[]}"#,
            r#"{"id":"x","object":null,"choices":[]}"#,
            r#"{"id":"x","created":-1,"choices":[]}"#,
            r#"{"id":"x","created":"1","choices":[]}"#,
            r#"{"id":"x","choices":[{"message":{"content":"a"}}]}"#,
            r#"{"id":"x","choices":[{"index":-1,"message":{"role":"assistant"}}]}"#,
            r#"{"id":"x","choices":[{"message":{"role":"assistant"},"finish_reason":3}]}"#,
            r#"{"id":"x","choices":[],"usage":{"prompt_tokens":1}}"#,
            r#"{"id":"x","choices":[]"#,
            "[]",
        ];
        for body in bodies {
            let owned = serde_json::from_str::<ChatCompletion>(body);
            let view = serde_json::from_str::<CompletionView>(body);
            assert_eq!(owned.is_ok(), view.is_ok(), "{body}");
            let (Ok(owned), Ok(view)) = (owned, view) else {
                continue;
            };
            assert_eq!(owned.id, view.id);
            assert_eq!(
                owned.system_fingerprint.as_deref(),
                view.system_fingerprint.as_deref()
            );
            assert_eq!(owned.usage, view.usage);
            let texts = |c: &[Choice]| {
                c.iter()
                    .map(|c| c.message.content.clone())
                    .collect::<Vec<_>>()
            };
            let view_texts: Vec<Option<String>> = view
                .choices
                .iter()
                .map(|c| c.message.content.as_deref().map(str::to_string))
                .collect();
            assert_eq!(texts(&owned.choices), view_texts, "{body}");
        }
    }
}
