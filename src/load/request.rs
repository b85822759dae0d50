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
    /// The body serialised once, cut where the tag's digits go; `None`
    /// when the cut is not certain (then every body is serialised whole).
    template: Option<Vec<Vec<u8>>>,
}

/// A request number no run reaches, whose digits mark where the tag goes.
const MARK: u64 = u64::MAX;

impl ClassPlan {
    pub fn new(class: &TrafficClass) -> Self {
        // The first line of the prompt is the tag, so the filler is a little
        // shorter to keep the whole prompt at about `prompt_tokens`.
        let tag_tokens = (tag::prompt_line(0).len() / CHARS_PER_TOKEN) as u32;
        let mut plan = ClassPlan {
            model: class.model.clone(),
            max_tokens: class.max_tokens,
            stream: class.stream,
            filler: filler(class.prompt_tokens.saturating_sub(tag_tokens)),
            template: None,
        };
        plan.template = plan.cut();
        plan
    }

    /// The body of request [`MARK`], cut at its digits: the tag is in it
    /// twice (prompt line and `user`). Anything else in the body with the
    /// same digits (a model named so) would make the cut unsure: `None`.
    fn cut(&self) -> Option<Vec<Vec<u8>>> {
        let whole = self.serialise(MARK);
        let digits = MARK.to_string();
        let text = std::str::from_utf8(&whole).ok()?;
        let parts: Vec<Vec<u8>> = text.split(&digits).map(|p| p.as_bytes().to_vec()).collect();
        (parts.len() == 3).then_some(parts)
    }

    /// The JSON body of request `seq`. Built from the template: one copy
    /// and two numbers, not a serialisation, per request.
    pub fn body(&self, seq: u64) -> Vec<u8> {
        let Some(parts) = &self.template else {
            return self.serialise(seq);
        };
        let mut digits = [0u8; 20];
        let digits = decimal(seq, &mut digits);
        let len = parts.iter().map(Vec::len).sum::<usize>() + 2 * digits.len();
        let mut body = Vec::with_capacity(len);
        body.extend_from_slice(&parts[0]);
        body.extend_from_slice(digits);
        body.extend_from_slice(&parts[1]);
        body.extend_from_slice(digits);
        body.extend_from_slice(&parts[2]);
        body
    }

    fn serialise(&self, seq: u64) -> Vec<u8> {
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

/// `n` in decimal, written at the end of `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
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
    fn the_template_builds_the_same_bytes_as_serde() {
        for stream in [false, true] {
            let plan = ClassPlan::new(&class(stream));
            assert!(plan.template.is_some());
            for seq in [0, 1, 9, 10, 42, 99_999, 1 << 40, u64::MAX - 1, u64::MAX] {
                assert_eq!(plan.body(seq), plan.serialise(seq), "seq {seq}");
            }
        }
    }

    #[test]
    fn a_model_named_like_the_mark_is_serialised_whole() {
        let mut c = class(false);
        c.model = format!("m-{}", u64::MAX);
        let plan = ClassPlan::new(&c);
        assert!(plan.template.is_none());
        let body: ChatRequest = serde_json::from_slice(&plan.body(7)).unwrap();
        assert_eq!(body.user.as_deref(), Some("slb-7"));
        assert_eq!(body.model, c.model);
    }

    #[test]
    fn non_streaming_body_has_no_stream_fields() {
        let v: serde_json::Value =
            serde_json::from_slice(&ClassPlan::new(&class(false)).body(1)).unwrap();
        assert!(v.get("stream").is_none() && v.get("stream_options").is_none());
    }
}
