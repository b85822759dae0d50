//! Answer integrity over real sockets: in-process fake gateways (small
//! hyper proxies) in front of the simulated providers. One heals the
//! providers' cut streams with `[DONE]` (LiteLLM does), one swaps answers
//! between requests, one passes answers through but re-chunks them mid-word
//! and trims whitespace, one asks a second provider after the first and
//! answers with the first's answer. The first two must fail uptime with
//! their own outcome class in every output; the third must be all OK, every
//! answer agreeing with the ledger; the fourth is all OK to the client, and
//! only the ledger check can show that each answer is not the serving
//! attempt's.

mod common;

use std::convert::Infallible;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::Value;
use tokio::sync::oneshot;

use common::fake::{class, quiet_into, scenario};
use slabench::analysis::Verdict;
use slabench::providers::testing;
use slabench::results::Summary;
use slabench::scenario::{CountDist, FaultKind, Scenario};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Adds `[DONE]` to a stream that lacks it.
    Heal,
    /// Hands each answer to another request.
    Swap,
    /// Passes answers through, each content chunk split in two mid-word and
    /// the first one's leading space trimmed.
    Rechunk,
    /// Sends each request to one provider, then again to the other, and
    /// answers with the first one's answer: the ledger's serving attempt
    /// (the last one) is not the provider whose answer the client got.
    Replay,
}

/// A fake gateway: forwards every chat request to the providers in turn.
struct Proxy {
    mode: Mode,
    upstream: Vec<String>,
    client: reqwest::Client,
    next: AtomicUsize,
    /// An answer waiting for another to swap with.
    parked: Mutex<Option<(oneshot::Sender<Bytes>, Bytes)>>,
}

impl Proxy {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let tag = req.headers().get("x-slabench-request").cloned();
        let body = req.into_body().collect().await.unwrap().to_bytes();
        let stream = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["stream"].as_bool())
            .unwrap_or(false);
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.upstream.len();
        let res = self.forward(i, tag.clone(), body.clone()).await;
        if self.mode == Mode::Replay {
            let other = (i + 1) % self.upstream.len();
            let _ = self.forward(other, tag, body).await.bytes().await;
        }
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.unwrap_or_default();
        let bytes = match self.mode {
            Mode::Heal => heal(bytes),
            Mode::Rechunk if stream => rechunk(&bytes),
            Mode::Rechunk | Mode::Replay => bytes,
            Mode::Swap => self.swap(bytes).await,
        };
        let mut out = Response::new(Full::new(bytes));
        *out.status_mut() = status;
        for h in ["content-type", "x-slabench-provider"] {
            if let Some(v) = headers.get(h) {
                out.headers_mut().insert(h, v.clone());
            }
        }
        out
    }

    async fn forward(
        &self,
        i: usize,
        tag: Option<hyper::header::HeaderValue>,
        body: Bytes,
    ) -> reqwest::Response {
        let mut up = self
            .client
            .post(format!("{}/v1/chat/completions", self.upstream[i]))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = tag {
            up = up.header("x-slabench-request", t);
        }
        up.send().await.expect("the quiet providers answer")
    }

    /// Parks this answer for the next request to take, and takes the one
    /// parked before; alone for 300 ms, it gives up and answers its own.
    async fn swap(&self, mine: Bytes) -> Bytes {
        let (tx, mut rx) = oneshot::channel();
        let other = {
            let mut slot = self.parked.lock().unwrap();
            match slot.take() {
                Some(other) => Some(other),
                None => {
                    *slot = Some((tx, mine.clone()));
                    None
                }
            }
        };
        if let Some((other_tx, other_body)) = other {
            let _ = other_tx.send(mine);
            return other_body;
        }
        if let Ok(Ok(b)) = tokio::time::timeout(Duration::from_millis(300), &mut rx).await {
            return b;
        }
        let still_parked = self.parked.lock().unwrap().take().is_some();
        if still_parked {
            mine
        } else {
            // Taken just now: the taker sent its answer.
            rx.await.unwrap_or(mine)
        }
    }
}

fn heal(body: Bytes) -> Bytes {
    let text = String::from_utf8_lossy(&body);
    if !text.starts_with("data: ") || text.contains("data: [DONE]") {
        return body;
    }
    Bytes::from(format!("{text}data: [DONE]\n\n"))
}

/// Every content chunk split into two events in the middle (of a word, as
/// often as not); the first content's leading whitespace trimmed.
fn rechunk(body: &[u8]) -> Bytes {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    let mut first = true;
    for event in text.split("\n\n").filter(|e| !e.is_empty()) {
        let chunk = event
            .strip_prefix("data: ")
            .and_then(|d| serde_json::from_str::<Value>(d).ok());
        let content = chunk
            .as_ref()
            .and_then(|c| c["choices"][0]["delta"]["content"].as_str())
            .map(str::to_string);
        let (Some(chunk), Some(mut content)) = (chunk, content) else {
            out.push_str(event);
            out.push_str("\n\n");
            continue;
        };
        if first {
            content = content.trim_start().to_string();
            first = false;
        }
        let mid = content.len() / 2;
        for piece in [&content[..mid], &content[mid..]] {
            let mut c = chunk.clone();
            c["choices"][0]["delta"]["content"] = Value::from(piece);
            out.push_str(&format!("data: {c}\n\n"));
        }
    }
    Bytes::from(out)
}

async fn start(mode: Mode, upstream: Vec<String>) -> String {
    let proxy = Arc::new(Proxy {
        mode,
        upstream,
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
        next: AtomicUsize::new(0),
        parked: Mutex::new(None),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let proxy = proxy.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let proxy = proxy.clone();
                    async move { Ok::<_, Infallible>(proxy.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    url
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Two quiet simulated providers (12 tokens per answer, one per chunk) on
/// fixed ports behind a fake gateway in `mode`: 1,200 RPM for 3 s.
async fn run_behind(mode: Mode, streams: &[bool], faults: bool, dir: &Path) -> Summary {
    let ports = [free_port(), free_port()];
    let upstream = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let url = start(mode, upstream).await;
    let mut sc: Scenario = scenario(&url, 1200.0, 3);
    sc.seed = 7;
    sc.traffic = streams
        .iter()
        .enumerate()
        .map(|(i, &s)| class(&format!("c{i}"), s))
        .collect();
    sc.providers = testing::scenario(7, 2).providers;
    for (p, port) in sc.providers.iter_mut().zip(ports) {
        p.port = port;
        p.profile.output_tokens = CountDist::Fixed(12);
    }
    if faults {
        // Half the streams of each provider are cut somewhere.
        sc.faults = (0..2)
            .map(|i| slabench::scenario::Fault {
                probability: 0.5,
                ..testing::fault(i, FaultKind::StreamCut, Duration::ZERO, None)
            })
            .collect();
    }
    let opts = slabench::run::RunOptions {
        requests_csv: true,
        ..quiet_into(dir)
    };
    let out = slabench::run::run(&sc, opts).await.unwrap();
    out.summary
}

fn n(s: &Summary, outcome: &str) -> u64 {
    s.requests.by_outcome[outcome]
}

fn uptime_passed(s: &Summary) -> bool {
    let c = s
        .checks
        .iter()
        .find(|c| c.name == "uptime")
        .expect("uptime");
    c.pass
}

/// Every output names the class.
fn assert_shown_everywhere(dir: &Path, outcome: &str) {
    for file in [
        "summary.json",
        "summary.md",
        "report.html",
        "junit.xml",
        "timeseries.csv",
        "requests.csv",
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(text.contains(outcome), "{file} does not show {outcome}");
    }
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert!(json["requests"]["by_outcome"][outcome].as_u64().unwrap() > 0);
    assert!(json["failover"]["answers_checked"].is_u64());
    assert!(json["failover"]["answer_mismatches"].is_u64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_heals_cut_streams_gives_truncated_answers() {
    let dir = tempfile::tempdir().unwrap();
    let s = run_behind(Mode::Heal, &[true], true, dir.path()).await;
    let f = s.failover.as_ref().expect("a ledger");
    // Only the cuts fail at the providers.
    let cuts: u64 = f.providers.values().map(|p| p.failed_attempts).sum();
    assert!(cuts >= 10, "{cuts} cuts of {}", s.requests.counted);
    assert!(n(&s, "truncated_answer") > 0);
    assert_eq!(n(&s, "truncated_stream"), 0, "the gateway healed them all");
    assert_eq!(n(&s, "wrong_answer"), 0);
    assert_eq!(n(&s, "ok") + n(&s, "truncated_answer"), s.requests.counted);
    // A stream cut before its first word reaches the client as an empty
    // answer, which is legitimate on its own; the ledger shows no complete
    // answer for it, so the answer check names it. Every cut is caught once.
    assert_eq!(
        n(&s, "truncated_answer") + f.answers.answer_mismatches,
        cuts,
        "{:?}",
        f.answers
    );
    assert_eq!(f.answers.answers_checked, n(&s, "ok"));
    assert!(!uptime_passed(&s));
    assert_eq!(s.verdict, Verdict::Fail);
    assert_shown_everywhere(dir.path(), "truncated_answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_swaps_answers_gives_wrong_answers() {
    let dir = tempfile::tempdir().unwrap();
    let s = run_behind(Mode::Swap, &[false], false, dir.path()).await;
    let counted = s.requests.counted;
    let wrong = n(&s, "wrong_answer");
    // Requests 50 ms apart pair up within the 300 ms a parked answer waits.
    assert!(wrong * 10 >= counted * 8, "{wrong} wrong of {counted}");
    assert_eq!(n(&s, "ok") + wrong, counted);
    assert_eq!(n(&s, "truncated_answer"), 0);
    let f = s.failover.as_ref().unwrap();
    assert_eq!(f.answers.answer_mismatches, 0, "{:?}", f.answers);
    assert!(!uptime_passed(&s));
    assert_eq!(s.verdict, Verdict::Fail);
    assert_shown_everywhere(dir.path(), "wrong_answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_only_rechunks_passes_every_answer() {
    let dir = tempfile::tempdir().unwrap();
    let s = run_behind(Mode::Rechunk, &[true, false], false, dir.path()).await;
    let counted = s.requests.counted;
    assert!(counted >= 50, "{counted}");
    assert_eq!(n(&s, "ok"), counted, "{:?}", s.requests.by_outcome);
    let f = s.failover.as_ref().unwrap();
    // Both providers served, and each answer is the one its ledger
    // attempt sent: same provider, same number of tokens.
    assert!(
        f.providers.values().all(|p| p.served > 0),
        "{:?}",
        f.providers
    );
    assert_eq!(f.answers.answers_checked, counted);
    assert_eq!(f.answers.answer_mismatches, 0, "{:?}", f.answers);
    assert!(uptime_passed(&s));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_replays_another_providers_answer_shows_in_the_ledger_check() {
    let dir = tempfile::tempdir().unwrap();
    let s = run_behind(Mode::Replay, &[false], false, dir.path()).await;
    let counted = s.requests.counted;
    // Each answer is correct and complete for its request: the client alone
    // cannot tell.
    assert_eq!(n(&s, "ok"), counted, "{:?}", s.requests.by_outcome);
    let f = s.failover.as_ref().unwrap();
    assert_eq!(f.attempts, 2 * counted);
    // Against the ledger, every answer is the wrong provider's.
    assert_eq!(f.answers.answers_checked, counted);
    assert_eq!(f.answers.answer_mismatches, counted, "{:?}", f.answers);
    let example = f.answers.answer_mismatch_example.as_deref().unwrap();
    assert!(
        example.contains("'s answer, but the ledger's serving attempt is at p"),
        "{example}"
    );
    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(md.contains(&format!("{counted} disagree")), "{md}");
}
