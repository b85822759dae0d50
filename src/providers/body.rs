//! OpenAI-shaped bodies a simulated provider sends: completions, SSE events,
//! and the deliberately broken answers of the `malformed` fault (error
//! bodies and events are in `errors.rs`, in each dialect).

use bytes::Bytes;

use crate::answer::AnswerKey;
use crate::openai::{
    self, AssistantMessage, ChatChunk, ChatCompletion, Choice, ChunkChoice, Delta, Usage,
};
use crate::scenario::Malformation;

/// The final SSE line of a complete stream.
pub const DONE: &str = "data: [DONE]\n\n";

/// Who answers: stamped into every body.
#[derive(Debug, Clone)]
pub struct Stamp {
    pub id: String,
    pub fingerprint: String,
    pub model: String,
    pub created: u64,
    /// The request's answer key and this provider's index: what the text is.
    pub key: AnswerKey,
    pub provider: u16,
}

impl Stamp {
    /// The stamp of provider `name`'s `n`th answer, the answer to the
    /// request whose key is `key`, from provider number `provider`.
    pub fn new(name: &str, model: &str, n: u64, key: AnswerKey, provider: u16) -> Self {
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Stamp {
            id: openai::completion_id(name, n),
            fingerprint: openai::fingerprint(name),
            model: model.to_string(),
            created,
            key,
            provider,
        }
    }
}

pub fn usage(input: u32, output: u32) -> Usage {
    Usage {
        prompt_tokens: input,
        completion_tokens: output,
        total_tokens: input.saturating_add(output),
    }
}

/// The text of tokens `from..from + count` of this provider's answer of
/// `total` tokens to this request: verifiable words (`crate::answer`), one
/// per token, the last one marked.
pub fn words(stamp: &Stamp, from: u32, count: u32, total: u32) -> String {
    stamp.key.text(stamp.provider, from, count, total)
}

/// A complete non-streaming answer of `output` tokens.
pub fn completion(stamp: &Stamp, input: u32, output: u32) -> Bytes {
    let body = ChatCompletion {
        id: stamp.id.clone(),
        object: "chat.completion".into(),
        created: stamp.created,
        model: stamp.model.clone(),
        system_fingerprint: Some(stamp.fingerprint.clone()),
        choices: vec![Choice {
            index: 0,
            message: AssistantMessage {
                role: "assistant".into(),
                content: Some(words(stamp, 0, output, output)),
            },
            finish_reason: Some(if output == 0 { "length" } else { "stop" }.into()),
        }],
        usage: Some(usage(input, output)),
    };
    Bytes::from(serde_json::to_vec(&body).expect("serialisable"))
}

/// One SSE event carrying a chunk; no choice at all when `delta` is `None`
/// (the usage chunk).
pub fn chunk_event(
    stamp: &Stamp,
    delta: Option<Delta>,
    finish: Option<&str>,
    usage: Option<Usage>,
) -> String {
    let chunk = ChatChunk {
        id: stamp.id.clone(),
        object: "chat.completion.chunk".into(),
        created: stamp.created,
        model: stamp.model.clone(),
        system_fingerprint: Some(stamp.fingerprint.clone()),
        choices: delta
            .map(|delta| ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish.map(str::to_string),
            })
            .into_iter()
            .collect(),
        usage,
    };
    format!(
        "data: {}\n\n",
        serde_json::to_string(&chunk).expect("serialisable")
    )
}

/// A broken 200 answer: `(content type, body)`.
pub fn malformed(
    m: Malformation,
    stamp: &Stamp,
    stream: bool,
    input: u32,
    output: u32,
) -> (&'static str, Bytes) {
    let content_type = if stream {
        "text/event-stream"
    } else {
        "application/json"
    };
    match m {
        Malformation::InvalidJson => {
            let whole = String::from_utf8_lossy(&completion(stamp, input, output)).into_owned();
            let cut = &whole[..whole.len() / 2];
            let body = if stream { format!("data: {cut}\n\n{DONE}") } else { cut.to_string() };
            (content_type, Bytes::from(body))
        }
        Malformation::NoChoices if stream => {
            let body = chunk_event(stamp, None, None, Some(usage(input, output))) + DONE;
            (content_type, Bytes::from(body))
        }
        Malformation::NoChoices => {
            let mut v: serde_json::Value =
                serde_json::from_slice(&completion(stamp, input, output)).expect("own JSON");
            v["choices"] = serde_json::Value::Array(vec![]);
            (content_type, Bytes::from(v.to_string()))
        }
        Malformation::WrongContentType => (
            "text/html; charset=utf-8",
            Bytes::from_static(
                b"<html><head><title>200 OK</title></head><body>upstream says hello</body></html>\n",
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp() -> Stamp {
        Stamp::new("flash", "m", 3, AnswerKey::new(1, 2), 0)
    }

    #[test]
    fn completion_is_stamped_with_usage() {
        let c: ChatCompletion = serde_json::from_slice(&completion(&stamp(), 5, 3)).unwrap();
        assert_eq!(openai::provider_from_id(&c.id), Some("flash"));
        assert_eq!(
            openai::provider_from_fingerprint(c.system_fingerprint.as_deref().unwrap()),
            Some("flash")
        );
        assert_eq!(
            c.choices[0].message.content.as_deref(),
            Some(AnswerKey::new(1, 2).text(0, 0, 3, 3).as_str())
        );
        assert_eq!(c.usage, Some(usage(5, 3)));
    }

    #[test]
    fn chunk_events_parse_back() {
        let e = chunk_event(&stamp(), Some(Delta::default()), Some("stop"), None);
        let json = e.strip_prefix("data: ").unwrap().trim_end();
        let c: ChatChunk = serde_json::from_str(json).unwrap();
        assert_eq!(c.choices[0].finish_reason.as_deref(), Some("stop"));
        assert!(e.ends_with("\n\n"));
    }

    #[test]
    fn malformed_bodies_are_broken_as_named() {
        let (_, b) = malformed(Malformation::InvalidJson, &stamp(), false, 1, 4);
        assert!(serde_json::from_slice::<serde_json::Value>(&b).is_err());
        let (ct, b) = malformed(Malformation::NoChoices, &stamp(), false, 1, 4);
        assert_eq!(ct, "application/json");
        let c: ChatCompletion = serde_json::from_slice(&b).unwrap();
        assert!(c.choices.is_empty());
        let (ct, _) = malformed(Malformation::WrongContentType, &stamp(), true, 1, 4);
        assert!(ct.starts_with("text/html"));
        let (_, b) = malformed(Malformation::NoChoices, &stamp(), true, 1, 4);
        assert!(std::str::from_utf8(&b).unwrap().ends_with(DONE));
    }
}
