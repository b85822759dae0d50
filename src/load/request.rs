//! Building the request body for one scheduled request.
//!
//! The tag goes in the OpenAI `user` field and in the prompt's first line
//! (the header is added by the client), because gateways forward different
//! parts of a request. The prompt filler is built once per traffic class.

use crate::openai::{ChatRequest, Message, StreamOptions};
use crate::protocol::tag;
use crate::scenario::TrafficClass;

/// Characters per token used to size prompts (the usual English average;
/// the simulated providers count input tokens the same way).
pub const CHARS_PER_TOKEN: usize = 4;

const WORDS: &[&str] = &[
    "the", "gateway", "routes", "each", "request", "to", "a", "provider", "and", "fails", "over",
    "when", "it", "breaks", "latency", "budget", "holds", "under", "load",
];

/// Prompt text of about `tokens` tokens (`tokens * CHARS_PER_TOKEN` characters).
pub fn filler(tokens: u32) -> String {
    let want = tokens as usize * CHARS_PER_TOKEN;
    let mut s = String::with_capacity(want + 16);
    let mut i = 0;
    while s.len() < want {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(WORDS[i % WORDS.len()]);
        i += 1;
    }
    s.truncate(want);
    s
}

/// A traffic class made ready to send: the parts of the body that do not change.
#[derive(Debug, Clone)]
pub struct ClassPlan {
    pub model: String,
    pub max_tokens: u32,
    pub stream: bool,
    filler: String,
}

impl ClassPlan {
    pub fn new(class: &TrafficClass) -> Self {
        // The first line of the prompt is the tag, so the filler is a little
        // shorter to keep the whole prompt at about `prompt_tokens`.
        let tag_tokens = (tag::prompt_line(0).len() / CHARS_PER_TOKEN) as u32;
        ClassPlan {
            model: class.model.clone(),
            max_tokens: class.max_tokens,
            stream: class.stream,
            filler: filler(class.prompt_tokens.saturating_sub(tag_tokens)),
        }
    }

    /// The JSON body of request `seq`.
    pub fn body(&self, seq: u64) -> Vec<u8> {
        let req = ChatRequest {
            model: self.model.clone(),
            messages: vec![Message {
                role: "user".into(),
                content: format!("{}\n{}", tag::prompt_line(seq), self.filler).into(),
            }],
            max_tokens: Some(self.max_tokens),
            stream: self.stream.then_some(true),
            stream_options: self.stream.then_some(StreamOptions {
                include_usage: true,
            }),
            user: Some(tag::format(seq)),
            extra: Default::default(),
        };
        serde_json::to_vec(&req).expect("a request always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Budgets;

    fn class(stream: bool) -> TrafficClass {
        TrafficClass {
            name: "default".into(),
            weight: 1.0,
            model: "m".into(),
            prompt_tokens: 400,
            max_tokens: 64,
            stream,
            budgets: Budgets::default(),
        }
    }

    #[test]
    fn body_carries_the_tag_twice_and_has_the_requested_size() {
        let plan = ClassPlan::new(&class(true));
        let body: ChatRequest = serde_json::from_slice(&plan.body(42)).unwrap();
        assert_eq!(body.user.as_deref(), Some("slb-42"));
        let prompt = body.messages[0].content.as_str().unwrap();
        assert_eq!(tag::parse_prompt(prompt), Some(42));
        let tokens = prompt.len() / CHARS_PER_TOKEN;
        assert!((395..=405).contains(&tokens), "{tokens}");
        assert_eq!(body.stream, Some(true));
        assert!(body.stream_options.unwrap().include_usage);
        assert_eq!(body.max_tokens, Some(64));
    }

    #[test]
    fn non_streaming_body_has_no_stream_fields() {
        let v: serde_json::Value =
            serde_json::from_slice(&ClassPlan::new(&class(false)).body(1)).unwrap();
        assert!(v.get("stream").is_none() && v.get("stream_options").is_none());
    }
}
