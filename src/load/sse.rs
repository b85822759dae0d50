//! An incremental parser for server-sent events (the OpenAI streaming format).
//!
//! Bytes arrive in arbitrary pieces; events end at a blank line. Only `data:`
//! and `event:` fields matter here; comments (`:`) and other fields are skipped.

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
    fn an_unterminated_event_is_partial() {
        let mut p = SseParser::new();
        let mut n = 0;
        p.feed(b"data: {\"a\":1}\n", |_| n += 1);
        assert_eq!(n, 0);
        assert!(p.has_partial());
    }
}
