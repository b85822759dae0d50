//! An incremental parser for server-sent events (the OpenAI streaming format).
//!
//! Bytes arrive in arbitrary pieces; events end at a blank line. Only `data:`
//! and `event:` fields matter here; comments (`:`, such as the `: ping`
//! keep-alives providers send while a stream is quiet) and other fields are
//! skipped, so a comment alone is no event at all.

/// One complete event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

impl Event {
    pub fn is_done(&self) -> bool {
        self.data.trim() == "[DONE]"
    }

    /// Whether the event says the stream failed: `event: error`
    /// (Anthropic), or data that is an error object in any provider's
    /// shape: `{"error": ...}` (OpenAI), `{"type": "error", ...}`
    /// (Anthropic), `{"object": "error", ...}` (vLLM).
    pub fn is_error(&self) -> bool {
        if self.event.as_deref() == Some("error") {
            return true;
        }
        let data = self.data.trim_start();
        if !data.starts_with('{') {
            return false;
        }
        let Ok(serde_json::Value::Object(v)) = serde_json::from_str(data) else {
            return false;
        };
        v.contains_key("error")
            || v.get("type").and_then(|t| t.as_str()) == Some("error")
            || v.get("object").and_then(|t| t.as_str()) == Some("error")
    }
}

#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; calls `on_event` for each event they complete.
    pub fn feed(&mut self, bytes: &[u8], mut on_event: impl FnMut(Event)) {
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(nl) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + nl;
            let mut line = &self.buf[start..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            if line.is_empty() {
                if let Some(data) = self.data.take() {
                    on_event(Event {
                        event: self.event.take(),
                        data,
                    });
                }
                self.event = None;
            } else {
                let line = String::from_utf8_lossy(line).into_owned();
                self.field(&line);
            }
            start = end + 1;
        }
        self.buf.drain(..start);
    }

    fn field(&mut self, line: &str) {
        let (name, value) = match line.split_once(':') {
            Some((n, v)) => (n, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match name {
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            "event" => self.event = Some(value.to_string()),
            _ => {}
        }
    }

    /// Bytes received that do not yet form a complete event.
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty() || self.data.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(input: &str, piece: usize) -> Vec<Event> {
        let mut p = SseParser::new();
        let mut out = vec![];
        for chunk in input.as_bytes().chunks(piece) {
            p.feed(chunk, |e| out.push(e));
        }
        out
    }

    #[test]
    fn events_survive_any_split() {
        let input = ": keep-alive\r\n\r\ndata: {\"a\":1}\n\nevent: error\ndata: x\ndata: y\n\ndata: [DONE]\n\n";
        for piece in 1..input.len() {
            let ev = parse_in_pieces(input, piece);
            assert_eq!(ev.len(), 3, "piece {piece}");
            assert_eq!(ev[0].data, "{\"a\":1}");
            assert_eq!(ev[1].event.as_deref(), Some("error"));
            assert_eq!(ev[1].data, "x\ny");
            assert!(ev[2].is_done());
        }
    }

    #[test]
    fn pings_are_nothing() {
        let input = ": ping\n\ndata: {\"a\":1}\n: ping\ndata: {\"b\":2}\n\n: ping\n\n";
        for piece in 1..input.len() {
            let ev = parse_in_pieces(input, piece);
            assert_eq!(ev.len(), 1, "piece {piece}");
            assert_eq!(ev[0].data, "{\"a\":1}\n{\"b\":2}");
            assert!(!ev[0].is_error());
        }
        let mut p = SseParser::new();
        p.feed(b": ping\n\n: ping\n\n", |_| panic!("a ping is no event"));
        assert!(!p.has_partial());
    }

    #[test]
    fn error_events_in_every_dialect() {
        let ev = |event: Option<&str>, data: &str| Event {
            event: event.map(str::to_string),
            data: data.to_string(),
        };
        let openai = r#"{"error":{"message":"m","type":"server_error","param":null,"code":null}}"#;
        let anthropic =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let vllm = r#"{"object":"error","message":"m","type":"InternalServerError","param":null,"code":500}"#;
        assert!(ev(None, openai).is_error());
        assert!(ev(Some("error"), anthropic).is_error());
        assert!(ev(None, anthropic).is_error());
        assert!(ev(None, vllm).is_error());
        assert!(ev(Some("error"), "not json").is_error());
        let chunk = r#"{"id":"c","object":"chat.completion.chunk","choices":[]}"#;
        assert!(!ev(None, chunk).is_error());
        assert!(!ev(None, "[DONE]").is_error());
        assert!(!ev(None, "{broken").is_error());
    }

    #[test]
    fn an_unterminated_event_is_partial() {
        let mut p = SseParser::new();
        let mut n = 0;
        p.feed(b"data: {\"a\":1}\n", |_| n += 1);
        assert_eq!(n, 0);
        assert!(p.has_partial());
    }
}
