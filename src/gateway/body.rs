//! Response bodies the gateway sends: a buffered answer, or a stream relayed
//! from the provider chunk by chunk.
//!
//! A relayed stream is already committed to its provider (its first chunk
//! went out with the headers), so it cannot fail over: an upstream break, or
//! silence longer than `stream_idle_timeout` between chunks, ends the client's
//! body with an error. hyper then closes the connection without the final
//! chunk, so the client sees a truncated stream, not a clean one that merely
//! lacks `[DONE]`. The relay also reports the stream's fate to the breaker:
//! a stream counts as a success only if it ended cleanly after `[DONE]`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::upstream::Permit;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response the gateway sends.
#[derive(Debug)]
pub(crate) enum GatewayBody {
    Full(Option<Bytes>),
    Relay(Box<Relay>),
}

impl GatewayBody {
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        GatewayBody::Full(Some(bytes.into()))
    }
}

impl Body for GatewayBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            GatewayBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            GatewayBody::Relay(relay) => relay.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, GatewayBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            GatewayBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            GatewayBody::Relay(_) => SizeHint::default(),
        }
    }
}

/// A provider's stream on its way to the client.
#[derive(Debug)]
pub(crate) struct Relay {
    first: Option<Bytes>,
    upstream: reqwest::Body,
    idle: Duration,
    /// Runs only while the relay waits on the provider: time the client
    /// spends not reading (back-pressure) is not the provider's silence.
    timer: Pin<Box<Sleep>>,
    waiting: bool,
    tail: Tail,
    /// `None` once the stream's fate is known.
    permit: Option<Permit>,
}

impl Relay {
    pub(crate) fn new(
        first: Bytes,
        upstream: reqwest::Body,
        idle: Duration,
        permit: Permit,
    ) -> Self {
        Relay {
            first: Some(first),
            upstream,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            waiting: false,
            tail: Tail::default(),
            permit: Some(permit),
        }
    }

    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(self.pass(first))));
        }
        if self.permit.is_none() {
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut self.upstream).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => return Poll::Ready(Some(Ok(self.pass(data)))),
                    // Empty data and trailers carry nothing for an SSE client.
                    _ => continue,
                },
                Poll::Ready(Some(Err(e))) => {
                    self.finish(false);
                    return Poll::Ready(Some(Err(e.into())));
                }
                Poll::Ready(None) => {
                    let ok = self.tail.ends_with_done();
                    self.finish(ok);
                    return Poll::Ready(None);
                }
                Poll::Pending => break,
            }
        }
        if !self.waiting {
            self.waiting = true;
            self.timer.as_mut().reset(Instant::now() + self.idle);
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            self.finish(false);
            let msg = format!("upstream stream silent for {:?}", self.idle);
            return Poll::Ready(Some(Err(msg.into())));
        }
        Poll::Pending
    }

    fn pass(&mut self, data: Bytes) -> Frame<Bytes> {
        self.tail.push(&data);
        self.waiting = false;
        Frame::data(data)
    }

    fn finish(&mut self, ok: bool) {
        if let Some(permit) = self.permit.take() {
            permit.finish(ok);
        }
    }
}

/// The last bytes of a stream, to tell whether it ended with `[DONE]`
/// without keeping the stream.
#[derive(Debug, Default)]
struct Tail {
    buf: [u8; Tail::LEN],
    len: usize,
}

impl Tail {
    const LEN: usize = 16;

    fn push(&mut self, data: &[u8]) {
        if data.len() >= Self::LEN {
            self.buf.copy_from_slice(&data[data.len() - Self::LEN..]);
            self.len = Self::LEN;
            return;
        }
        let keep = self.len.min(Self::LEN - data.len());
        self.buf.copy_within(self.len - keep..self.len, 0);
        self.buf[keep..keep + data.len()].copy_from_slice(data);
        self.len = keep + data.len();
    }

    fn ends_with_done(&self) -> bool {
        self.buf[..self.len].trim_ascii_end().ends_with(b"[DONE]")
    }
}

#[cfg(test)]
mod tests {
    use super::Tail;

    fn fed(chunks: &[&str]) -> bool {
        let mut tail = Tail::default();
        for c in chunks {
            tail.push(c.as_bytes());
        }
        tail.ends_with_done()
    }

    #[test]
    fn sees_done_across_chunk_boundaries() {
        assert!(fed(&["data: {\"a\":1}\n\n", "data: [DONE]\n\n"]));
        assert!(fed(&["data: {\"a\":1}\n\ndata: [DO", "NE]", "\n", "\n"]));
        assert!(fed(&[
            "d", "a", "t", "a", ":", " ", "[", "D", "O", "N", "E", "]"
        ]));
        assert!(fed(&[&"x".repeat(100), "data: [DONE]\r\n\r\n"]));
    }

    #[test]
    fn a_cut_stream_has_no_done() {
        assert!(!fed(&[]));
        assert!(!fed(&["data: {\"a\":1}\n\n"]));
        assert!(!fed(&["data: [DONE]\n\n", "data: {\"late\":1}\n\n"]));
        assert!(!fed(&["data: [DO"]));
    }
}
