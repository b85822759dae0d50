//! Shared helpers for the provider tests: start a scenario's providers on
//! loopback, send chat requests with reqwest, read the ledger back.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use slabench::clock::RunClock;
use slabench::providers::{read_ledger, Attempt, LedgerStats, ProviderSet};
use slabench::scenario::Scenario;

pub use slabench::providers::testing::{fault, scenario};

pub const MS: fn(u64) -> Duration = Duration::from_millis;
pub const S: fn(u64) -> Duration = Duration::from_secs;

pub struct Running {
    pub set: ProviderSet,
    pub clock: Arc<RunClock>,
    pub urls: Vec<String>,
    pub ledger: PathBuf,
    _dir: tempfile::TempDir,
}

/// Starts the providers with the run clock started now (faults are live).
pub fn start(s: &Scenario) -> Running {
    let clock = Arc::new(RunClock::new());
    clock.start(tokio::time::Instant::now());
    start_with(s, clock)
}

pub fn start_with(s: &Scenario, clock: Arc<RunClock>) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.bin");
    let set = ProviderSet::start(s, clock.clone(), &ledger).unwrap();
    let urls = set.urls().into_iter().map(|(_, u)| u).collect();
    Running {
        set,
        clock,
        urls,
        ledger,
        _dir: dir,
    }
}

impl Running {
    pub fn chat_url(&self, i: usize) -> String {
        format!("{}/v1/chat/completions", self.urls[i])
    }

    /// Shuts down and returns the stats and every ledger record.
    pub async fn finish(self) -> (LedgerStats, Vec<Attempt>) {
        let stats = self.set.shutdown().await.unwrap();
        let attempts = read_ledger(&self.ledger).map(Result::unwrap).collect();
        (stats, attempts)
    }
}

pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder().timeout(timeout).build().unwrap()
}

pub fn body(tag: u64, stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": "m",
        "stream": stream,
        "stream_options": { "include_usage": true },
        "messages": [{ "role": "user", "content": format!("{}\nSay hello.", slabench::protocol::tag::prompt_line(tag)) }],
    })
}

pub async fn post(
    c: &reqwest::Client,
    url: &str,
    tag: u64,
    stream: bool,
) -> reqwest::Result<reqwest::Response> {
    c.post(url).json(&body(tag, stream)).send().await
}

/// Whether an error's source chain holds an I/O error of `kind`.
pub fn has_io_kind(err: &(dyn std::error::Error + 'static), kind: std::io::ErrorKind) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == kind)
        {
            return true;
        }
        cur = e.source();
    }
    false
}

/// Reads an SSE body, returning the text and the instants its pieces arrived.
pub async fn read_stream(res: reqwest::Response) -> (String, Vec<tokio::time::Instant>) {
    use futures_util::StreamExt;
    let mut text = String::new();
    let mut times = Vec::new();
    let mut s = res.bytes_stream();
    while let Some(Ok(b)) = s.next().await {
        times.push(tokio::time::Instant::now());
        text.push_str(std::str::from_utf8(&b).unwrap());
    }
    (text, times)
}
