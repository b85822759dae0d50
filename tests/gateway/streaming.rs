//! Streams: passed through chunk by chunk; failover only until the first
//! chunk has gone to the client.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::*;

#[tokio::test]
async fn a_stream_arrives_as_sse_ending_in_done() {
    let flash = provider(stream("flash")).await;
    let gw = start(&config(&[("fast", &["flash"])]), &[("flash", flash.uri())]).await;

    let resp = post(&gw, chat_body("fast", true, 1), 1).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-type"), "text/event-stream");
    assert_eq!(served_by(&resp), "flash");
    assert_eq!(attempts(&resp), "flash:200");
    assert_eq!(resp.text().await.unwrap(), sse_body("flash"));
    gw.shutdown().await;
}

#[tokio::test]
async fn a_stream_fails_over_before_its_first_chunk() {
    let flash = provider(status(503)).await;
    let slow = RawProvider::start(Script::HeadersThenHang).await;
    let qwen = provider(stream("qwen")).await;
    let mut cfg = config(&[("fast", &["flash", "slow", "qwen"])]);
    cfg.policy.attempt_timeout = 300 * MS;
    let gw = start(
        &cfg,
        &[
            ("flash", flash.uri()),
            ("slow", slow.url.clone()),
            ("qwen", qwen.uri()),
        ],
    )
    .await;

    let resp = post(&gw, chat_body("fast", true, 1), 1).await;
    assert_eq!(attempts(&resp), "flash:503,slow:timeout,qwen:200");
    assert!(resp.text().await.unwrap().ends_with("data: [DONE]\n\n"));
    gw.shutdown().await;
}

#[tokio::test]
async fn a_stream_cut_after_its_first_chunk_is_not_failed_over_and_counts_against_the_provider() {
    let cut = RawProvider::start(Script::FirstChunkThenClose).await;
    let qwen = provider(stream("qwen")).await;
    let mut cfg = config(&[("fast", &["cut", "qwen"])]);
    cfg.breaker.enabled = true;
    cfg.breaker.failures = 1;
    cfg.breaker.cool_off = Duration::from_secs(30);
    let gw = start(&cfg, &[("cut", cut.url.clone()), ("qwen", qwen.uri())]).await;

    let resp = post(&gw, chat_body("fast", true, 1), 1).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(attempts(&resp), "cut:200");
    let (text, broke) = read_stream(resp).await;
    assert_eq!(text, FIRST_CHUNK, "the first chunk, then the break");
    assert!(broke, "the client sees the stream break, not a clean end");
    assert_eq!(
        received(&qwen).await,
        0,
        "no failover after the first chunk"
    );

    let resp = post(&gw, chat_body("fast", true, 2), 2).await;
    assert_eq!(skipped(&resp), "cut", "the cut counted as a failure");
    assert_eq!(attempts(&resp), "qwen:200");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_stream_silent_for_longer_than_the_idle_timeout_is_ended() {
    let hang = RawProvider::start(Script::FirstChunkThenHang).await;
    let mut cfg = config(&[("fast", &["hang"])]);
    cfg.policy.attempt_timeout = Duration::from_secs(30);
    cfg.policy.stream_idle_timeout = 300 * MS;
    let gw = start(&cfg, &[("hang", hang.url.clone())]).await;

    let started = Instant::now();
    let resp = post(&gw, chat_body("fast", true, 1), 1).await;
    let (text, broke) = read_stream(resp).await;
    assert_eq!(text, FIRST_CHUNK);
    assert!(broke);
    let took = started.elapsed();
    assert!(took >= 300 * MS && took < 5000 * MS, "took {took:?}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_stream_that_pauses_longer_than_the_attempt_timeout_resumes() {
    // A reasoning model thinks mid-answer: silence past the first-event
    // limit, well inside the idle limit, is not a failure.
    let stall = RawProvider::start(Script::FirstChunkPauseThenDone).await;
    let mut cfg = config(&[("fast", &["stall"])]);
    cfg.policy.attempt_timeout = 300 * MS;
    cfg.policy.stream_idle_timeout = Duration::from_secs(10);
    let gw = start(&cfg, &[("stall", stall.url.clone())]).await;

    let resp = post(&gw, chat_body("fast", true, 1), 1).await;
    assert_eq!(attempts(&resp), "stall:200");
    let (text, broke) = read_stream(resp).await;
    assert_eq!(text, format!("{FIRST_CHUNK}{DONE}"));
    assert!(!broke, "the stream finished");
    gw.shutdown().await;
}

#[tokio::test]
async fn keep_alive_pings_do_not_commit_a_stream() {
    let pings = RawProvider::start(Script::PingsThenHang).await;
    let qwen = provider(stream("qwen")).await;
    let mut cfg = config(&[("fast", &["pings", "qwen"])]);
    cfg.policy.attempt_timeout = 300 * MS;
    let gw = start(&cfg, &[("pings", pings.url.clone()), ("qwen", qwen.uri())]).await;

    let resp = post(&gw, chat_body("fast", true, 1), 1).await;
    assert_eq!(
        attempts(&resp),
        "pings:timeout,qwen:200",
        "pings are not content"
    );
    assert_eq!(served_by(&resp), "qwen");
    assert_eq!(resp.text().await.unwrap(), sse_body("qwen"));
    gw.shutdown().await;
}

#[tokio::test]
async fn pings_before_the_first_chunk_reach_the_client_with_it() {
    let pings = RawProvider::start(Script::PingsThenContent).await;
    let gw = start(
        &config(&[("fast", &["pings"])]),
        &[("pings", pings.url.clone())],
    )
    .await;

    let resp = post(&gw, chat_body("fast", true, 1), 1).await;
    assert_eq!(attempts(&resp), "pings:200");
    let (text, broke) = read_stream(resp).await;
    assert_eq!(text, format!("{PING}{PING}{FIRST_CHUNK}{DONE}"));
    assert!(!broke);
    gw.shutdown().await;
}

#[tokio::test]
async fn an_error_event_as_the_first_event_fails_over() {
    let anthropic = RawProvider::start(Script::ErrorFirst(ANTHROPIC_ERROR)).await;
    let openai = RawProvider::start(Script::ErrorFirst(OPENAI_ERROR)).await;
    let qwen = provider(stream("qwen")).await;
    let mut cfg = config(&[("fast", &["anthropic", "openai", "qwen"])]);
    cfg.breaker.enabled = true;
    cfg.breaker.failures = 1;
    cfg.breaker.cool_off = Duration::from_secs(30);
    let gw = start(
        &cfg,
        &[
            ("anthropic", anthropic.url.clone()),
            ("openai", openai.url.clone()),
            ("qwen", qwen.uri()),
        ],
    )
    .await;

    let resp = post(&gw, chat_body("fast", true, 1), 1).await;
    assert_eq!(
        attempts(&resp),
        "anthropic:error_event,openai:error_event,qwen:200"
    );
    assert_eq!(resp.text().await.unwrap(), sse_body("qwen"));
    let resp = post(&gw, chat_body("fast", true, 2), 2).await;
    assert_eq!(skipped(&resp), "anthropic,openai", "counted as failures");
    gw.shutdown().await;
}

#[tokio::test]
async fn an_error_event_first_on_the_last_provider_is_relayed_as_it_came() {
    let anthropic = RawProvider::start(Script::ErrorFirst(ANTHROPIC_ERROR)).await;
    let gw = start(
        &config(&[("fast", &["anthropic"])]),
        &[("anthropic", anthropic.url.clone())],
    )
    .await;

    let resp = post(&gw, chat_body("fast", true, 1), 1).await;
    assert_eq!(resp.status(), 200, "the status the stream began with");
    assert_eq!(attempts(&resp), "anthropic:error_event");
    assert_eq!(header(&resp, "content-type"), "text/event-stream");
    assert_eq!(
        resp.text().await.unwrap(),
        format!("{PING}{ANTHROPIC_ERROR}")
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn an_error_event_after_content_is_relayed_and_not_failed_over() {
    let broken = RawProvider::start(Script::ContentThenError).await;
    let qwen = provider(stream("qwen")).await;
    let gw = start(
        &config(&[("fast", &["broken", "qwen"])]),
        &[("broken", broken.url.clone()), ("qwen", qwen.uri())],
    )
    .await;

    let resp = post(&gw, chat_body("fast", true, 1), 1).await;
    assert_eq!(attempts(&resp), "broken:200");
    let (text, _) = read_stream(resp).await;
    assert_eq!(text, format!("{FIRST_CHUNK}{OPENAI_ERROR}"));
    assert_eq!(received(&qwen).await, 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_role_only_first_chunk_does_not_commit_an_error_after_it_fails_over() {
    let anthropic = RawProvider::start(Script::RoleThenError(ANTHROPIC_ERROR)).await;
    let qwen = provider(stream("qwen")).await;
    let gw = start(
        &config(&[("fast", &["anthropic", "qwen"])]),
        &[("anthropic", anthropic.url.clone()), ("qwen", qwen.uri())],
    )
    .await;

    let resp = post(&gw, chat_body("fast", true, 1), 1).await;
    assert_eq!(attempts(&resp), "anthropic:error_event,qwen:200");
    assert_eq!(served_by(&resp), "qwen");
    assert_eq!(resp.text().await.unwrap(), sse_body("qwen"));
    gw.shutdown().await;
}

#[tokio::test]
async fn a_slow_first_token_after_the_role_chunk_times_out_and_fails_over() {
    let slow = RawProvider::start(Script::RoleThenHang).await;
    let qwen = provider(stream("qwen")).await;
    let mut cfg = config(&[("fast", &["slow", "qwen"])]);
    cfg.policy.attempt_timeout = 300 * MS;
    cfg.policy.stream_idle_timeout = Duration::from_secs(10);
    let gw = start(&cfg, &[("slow", slow.url.clone()), ("qwen", qwen.uri())]).await;

    let started = Instant::now();
    let resp = post(&gw, chat_body("fast", true, 1), 1).await;
    assert_eq!(attempts(&resp), "slow:timeout,qwen:200");
    assert_eq!(resp.text().await.unwrap(), sse_body("qwen"));
    let took = started.elapsed();
    assert!(took >= 300 * MS && took < 5000 * MS, "took {took:?}");
    gw.shutdown().await;
}

#[tokio::test]
async fn heartbeats_and_the_role_chunk_reach_the_client_with_the_first_content() {
    let role = RawProvider::start(Script::RoleThenContent).await;
    let gw = start(
        &config(&[("fast", &["role"])]),
        &[("role", role.url.clone())],
    )
    .await;

    let resp = post(&gw, chat_body("fast", true, 1), 1).await;
    assert_eq!(attempts(&resp), "role:200");
    let (text, broke) = read_stream(resp).await;
    assert_eq!(text, format!("{HEARTBEAT}{ROLE}{FIRST_CHUNK}{DONE}"));
    assert!(!broke);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_stream_closed_after_the_role_chunk_is_broken_and_fails_over() {
    let cut = RawProvider::start(Script::RoleThenClose).await;
    let qwen = provider(stream("qwen")).await;
    let gw = start(
        &config(&[("fast", &["cut", "qwen"])]),
        &[("cut", cut.url.clone()), ("qwen", qwen.uri())],
    )
    .await;

    let resp = post(&gw, chat_body("fast", true, 1), 1).await;
    assert_eq!(attempts(&resp), "cut:broken,qwen:200");
    assert_eq!(resp.text().await.unwrap(), sse_body("qwen"));
    gw.shutdown().await;
}

#[tokio::test]
async fn a_malformed_stream_start_fails_over_and_counts_against_the_provider() {
    let json = RawProvider::start(Script::BadStart(CUT_JSON)).await;
    let done = RawProvider::start(Script::BadStart(DONE)).await;
    let pad = RawProvider::start(Script::Padding).await;
    let qwen = provider(stream("qwen")).await;
    let mut cfg = config(&[("fast", &["json", "done", "pad", "qwen"])]);
    cfg.breaker.enabled = true;
    cfg.breaker.failures = 1;
    cfg.breaker.cool_off = Duration::from_secs(30);
    let ups = [
        ("json", json.url.clone()),
        ("done", done.url.clone()),
        ("pad", pad.url.clone()),
        ("qwen", qwen.uri()),
    ];
    let gw = start(&cfg, &ups).await;

    let resp = post(&gw, chat_body("fast", true, 1), 1).await;
    assert_eq!(
        attempts(&resp),
        "json:malformed,done:malformed,pad:malformed,qwen:200"
    );
    assert_eq!(resp.text().await.unwrap(), sse_body("qwen"));
    let resp = post(&gw, chat_body("fast", true, 2), 2).await;
    assert_eq!(skipped(&resp), "json,done,pad", "counted as failures");
    gw.shutdown().await;

    // The last provider: the gateway's 502 naming it, not "unreachable".
    let gw = start(&config(&[("fast", &["json"])]), &ups[..1]).await;
    let resp = post(&gw, chat_body("fast", true, 3), 3).await;
    assert_eq!(resp.status(), 502);
    assert_eq!(attempts(&resp), "json:malformed");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_malformed");
    assert!(body["error"]["message"].as_str().unwrap().contains("json"));
    gw.shutdown().await;
}

/// Reads a streamed body to its end: the text, and whether it broke.
async fn read_stream(mut resp: reqwest::Response) -> (String, bool) {
    let mut text = String::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), resp.chunk()).await {
            Err(_) => panic!("the stream neither ended nor broke"),
            Ok(Ok(Some(chunk))) => text.push_str(std::str::from_utf8(&chunk).unwrap()),
            Ok(Ok(None)) => return (text, false),
            Ok(Err(_)) => return (text, true),
        }
    }
}

const FIRST_CHUNK: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hel\"}}]}\n\n";

const PING: &str = ": ping\n\n";
/// The first chunk OpenAI and vLLM send: a role, no content yet.
const ROLE: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n";
/// An empty data event: not dispatched, per the SSE spec.
const HEARTBEAT: &str = "data:\n\n";
/// A chunk cut short: not JSON.
const CUT_JSON: &str = "data: {\"id\":\"x\",\"cho\n\n";
const ANTHROPIC_ERROR: &str = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
const OPENAI_ERROR: &str =
    "data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\",\"code\":null}}\n\n";
const DONE: &str = "data: [DONE]\n\n";

/// What a [`RawProvider`] does after reading a request.
#[derive(Clone, Copy)]
enum Script {
    /// 200 with stream headers, then nothing.
    HeadersThenHang,
    /// One SSE chunk, then the connection closes mid-body.
    FirstChunkThenClose,
    /// One SSE chunk, then nothing.
    FirstChunkThenHang,
    /// One SSE chunk, silence for `STALL`, then `[DONE]`.
    FirstChunkPauseThenDone,
    /// `: ping` keep-alives every 50 ms, and never any content.
    PingsThenHang,
    /// Two pings 50 ms apart, then the first chunk and `[DONE]`.
    PingsThenContent,
    /// A ping, then an error event as the first event, then the close.
    ErrorFirst(&'static str),
    /// The first chunk, then an error event, then the close.
    ContentThenError,
    /// The role-only chunk, then an error event, then the close.
    RoleThenError(&'static str),
    /// The role-only chunk, then nothing.
    RoleThenHang,
    /// The role-only chunk, then the connection closes mid-body.
    RoleThenClose,
    /// A heartbeat, the role-only chunk, the first chunk and `[DONE]`.
    RoleThenContent,
    /// A ping, then this data event, then the close.
    BadStart(&'static str),
    /// 70 KiB of comment, more than the gateway reads before content, then
    /// nothing.
    Padding,
}

impl Script {
    /// The SSE pieces it sends, each followed by a flush and a 50 ms pause.
    fn pieces(self) -> Vec<String> {
        match self {
            Script::HeadersThenHang => vec![],
            Script::FirstChunkThenClose | Script::FirstChunkThenHang => vec![FIRST_CHUNK.into()],
            Script::FirstChunkPauseThenDone => vec![FIRST_CHUNK.into(), DONE.into()],
            Script::PingsThenHang => vec![PING.into(); 40],
            Script::PingsThenContent => {
                vec![PING.into(), PING.into(), FIRST_CHUNK.into(), DONE.into()]
            }
            Script::ErrorFirst(event) => vec![PING.into(), event.into()],
            Script::ContentThenError => vec![FIRST_CHUNK.into(), OPENAI_ERROR.into()],
            Script::RoleThenError(event) => vec![ROLE.into(), event.into()],
            Script::RoleThenHang | Script::RoleThenClose => vec![ROLE.into()],
            Script::RoleThenContent => vec![
                HEARTBEAT.into(),
                ROLE.into(),
                FIRST_CHUNK.into(),
                DONE.into(),
            ],
            Script::BadStart(event) => vec![PING.into(), event.into()],
            Script::Padding => vec![format!(": {}\n\n", "x".repeat(70 * 1024))],
        }
    }

    /// The pause after piece `i`.
    fn pause_after(self, i: usize) -> Duration {
        match (self, i) {
            (Script::FirstChunkPauseThenDone, 0) => STALL,
            _ => 50 * MS,
        }
    }

    fn hangs(self) -> bool {
        matches!(
            self,
            Script::HeadersThenHang
                | Script::FirstChunkThenHang
                | Script::PingsThenHang
                | Script::RoleThenHang
                | Script::Padding
        )
    }

    /// Whether it closes the connection without the body's last chunk.
    fn cuts(self) -> bool {
        matches!(self, Script::FirstChunkThenClose | Script::RoleThenClose)
    }
}

/// Longer than the 300 ms attempt timeout the tests set.
const STALL: Duration = Duration::from_millis(900);

/// A provider on a bare TCP socket, for what wiremock cannot do: stop
/// in the middle of a chunked body.
struct RawProvider {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RawProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawProvider {
    async fn start(script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((sock, _)) = listener.accept().await {
                conns.spawn(serve(sock, script));
            }
        });
        RawProvider { url, task }
    }
}

async fn serve(mut sock: TcpStream, script: Script) {
    read_request(&mut sock).await;
    let head =
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.flush().await.unwrap();
    for (i, piece) in script.pieces().into_iter().enumerate() {
        let chunk = format!("{:x}\r\n{piece}\r\n", piece.len());
        // The gateway may have gone (it failed over, or timed out).
        if sock.write_all(chunk.as_bytes()).await.is_err() || sock.flush().await.is_err() {
            return;
        }
        tokio::time::sleep(script.pause_after(i)).await;
    }
    if script.hangs() {
        tokio::time::sleep(Duration::from_secs(30)).await;
    } else if !script.cuts() {
        let _ = sock.write_all(b"0\r\n\r\n").await;
    }
    // Give the gateway time to relay what it got before the FIN arrives.
    tokio::time::sleep(100 * MS).await;
}

/// Reads one request (headers and a Content-Length body) so that closing
/// the socket later sends a FIN, not a reset.
async fn read_request(sock: &mut TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = sock.read(&mut chunk).await.unwrap();
        assert!(n > 0, "request cut short");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return;
            }
        }
    }
}
