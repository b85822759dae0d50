//! Benchmarks of the simulated providers, printed as figures (`harness = false`).
//!
//! 1. Open loop: a fixed 100 ms provider at 1,000 req/s; latency from each
//!    request's intended send instant (p50 should be within 1 ms of 100 ms,
//!    p99 within 3 ms).
//! 2. Throughput: one provider with no added latency, driven by plain hyper
//!    client connections in the same process (target: >= 5,000 req/s).
//! 3. Memory: VmRSS after 10% of the throughput requests and after all of
//!    them (target: within 20%; the full run is 100k vs 1M).
//!
//! The open-loop client schedules its sends with the providers' precise timer.
//! The last line is `all targets met` or a `FAIL: … missed (…)` line per
//! miss, which exits 1.
//!
//! `cargo bench --bench providers`; for a quick smoke run:
//! `SLABENCH_BENCH_REQUESTS=20000 SLABENCH_BENCH_SECONDS=2 cargo bench --bench providers`.

mod targets;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use slabench::clock::RunClock;
use slabench::providers::{testing, timer, ProviderSet};
use slabench::scenario::{CountDist, LatencyDist};
use targets::Targets;
use tokio::time::Instant;

const CONNECTIONS: u64 = 64;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn chat_body(i: u64) -> Bytes {
    let body = serde_json::json!({
        "model": "m",
        "max_tokens": 16,
        "messages": [{ "role": "user", "content": format!("{}\nSay hello.", slabench::protocol::tag::prompt_line(i)) }],
    });
    Bytes::from(body.to_string())
}

fn start(ttft: Duration, dir: &std::path::Path, name: &str) -> ProviderSet {
    let mut s = testing::scenario(1, 1);
    s.providers[0].profile.ttft = LatencyDist::Fixed(ttft);
    s.providers[0].profile.output_tokens = CountDist::Fixed(1);
    let clock = Arc::new(RunClock::new());
    clock.start(Instant::now());
    ProviderSet::start(&s, clock, &dir.join(name)).expect("start providers")
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "MISSED"
    }
}

async fn open_loop(dir: &std::path::Path, seconds: u64, targets: &mut Targets) {
    let set = start(Duration::from_millis(100), dir, "open-loop.ledger");
    let url = format!("{}/v1/chat/completions", set.urls()[0].1);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .unwrap();
    let hist = Arc::new(std::sync::Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap(),
    ));
    let failed = Arc::new(AtomicU64::new(0));
    let total = seconds * 1000;
    let t0 = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(total as usize);
    let mut sent = 0;
    while sent < total {
        // Send every arrival that is due; the precise timer keeps the
        // schedule lag (counted in the latency) to tens of microseconds.
        timer::sleep_until(t0 + Duration::from_millis(sent)).await;
        let now = Instant::now();
        while sent < total && t0 + Duration::from_millis(sent) <= now {
            let intended = t0 + Duration::from_millis(sent);
            let (client, url, hist, failed) =
                (client.clone(), url.clone(), hist.clone(), failed.clone());
            let body = chat_body(sent);
            tasks.push(tokio::spawn(async move {
                let res = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let ok = match res {
                    Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                    _ => false,
                };
                if ok {
                    let us = intended.elapsed().as_micros() as u64;
                    hist.lock().unwrap().record(us.max(1)).unwrap();
                } else {
                    failed.fetch_add(1, Relaxed);
                }
            }));
            sent += 1;
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    set.shutdown().await.unwrap();
    let h = hist.lock().unwrap();
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let (p50, p99) = (ms(0.5), ms(0.99));
    let failed = failed.load(Relaxed);
    let ok = [
        targets.check(
            "open loop p50 within 1 ms of 100 ms",
            (p50 - 100.0).abs() <= 1.0,
            format!("{p50:.2} ms"),
        ),
        targets.check(
            "open loop p99 within 3 ms of 100 ms",
            (p99 - 100.0).abs() <= 3.0,
            format!("{p99:.2} ms"),
        ),
        targets.check(
            "open loop: 0 failed",
            failed == 0,
            format!("{failed} failed"),
        ),
    ]
    .iter()
    .all(|&ok| ok);
    println!(
        "open loop, fixed 100 ms provider, 1000 req/s for {seconds} s: {} answered, {} failed; \
         from intended send: p50 {p50:.2} ms, p90 {:.2} ms, p99 {p99:.2} ms, max {:.2} ms  [{}]",
        h.len(),
        failed,
        ms(0.9),
        h.max() as f64 / 1000.0,
        verdict(ok)
    );
}

/// One kept-alive connection sending requests back to back until `next` reaches `limit`.
async fn worker(addr: String, next: Arc<AtomicU64>, limit: Arc<AtomicU64>) -> anyhow::Result<()> {
    let stream = tokio::net::TcpStream::connect(&addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    loop {
        let i = next.fetch_add(1, Relaxed);
        if i >= limit.load(Relaxed) {
            next.fetch_sub(1, Relaxed);
            // Park until the next phase raises the limit (or the run ends).
            tokio::time::sleep(Duration::from_millis(5)).await;
            if limit.load(Relaxed) == u64::MAX {
                return Ok(());
            }
            continue;
        }
        let req = hyper::Request::post("/v1/chat/completions")
            .header("host", &addr)
            .header("content-type", "application/json")
            .body(Full::new(chat_body(i)))?;
        sender.ready().await?;
        let res = sender.send_request(req).await?;
        anyhow::ensure!(res.status() == 200, "status {}", res.status());
        res.into_body().collect().await?;
    }
}

async fn throughput_and_memory(dir: &std::path::Path, total: u64, targets: &mut Targets) {
    let set = start(Duration::ZERO, dir, "throughput.ledger");
    let addr = set.urls()[0].1.trim_start_matches("http://").to_string();
    let next = Arc::new(AtomicU64::new(0));
    let limit = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| tokio::spawn(worker(addr.clone(), next.clone(), limit.clone())))
        .collect();
    let wait_for = |n: u64| {
        let (next, limit) = (next.clone(), limit.clone());
        async move {
            limit.store(n, Relaxed);
            while next.load(Relaxed) < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // Let the last answers land.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let first = total / 10;
    let t0 = Instant::now();
    wait_for(first).await;
    let rss_first = rss_kib();
    wait_for(total).await;
    let elapsed = t0.elapsed();
    let rss_all = rss_kib();
    limit.store(u64::MAX, Relaxed);
    for w in workers {
        w.await.unwrap().unwrap();
    }
    let stats = set.shutdown().await.unwrap();
    // 0.1 s of the measured time is the two settling sleeps.
    let rate = total as f64 / (elapsed.as_secs_f64() - 0.1);
    let ok_rate = targets.check(
        "throughput >= 5,000 req/s",
        rate >= 5000.0,
        format!("{rate:.0} req/s"),
    );
    let ok_ledger = targets.check(
        "the ledger has an attempt per request",
        stats.attempts == total,
        format!("{} attempts for {total} requests", stats.attempts),
    );
    println!(
        "throughput, one provider, no added latency, {CONNECTIONS} connections: {total} requests \
         in {:.1} s = {rate:.0} req/s; ledger {} attempts  [{}]",
        elapsed.as_secs_f64(),
        stats.attempts,
        verdict(ok_rate && ok_ledger)
    );
    let growth = rss_all as f64 / rss_first as f64 - 1.0;
    let ok_rss = targets.check(
        &format!("VmRSS after {total} requests within 20% of after {first}"),
        growth.abs() <= 0.20,
        format!("{:+.1}%", growth * 100.0),
    );
    println!(
        "memory: VmRSS after {first} requests {:.1} MiB, after {total} {:.1} MiB ({:+.1}%)  [{}]",
        rss_first as f64 / 1024.0,
        rss_all as f64 / 1024.0,
        growth * 100.0,
        verdict(ok_rss)
    );
}

fn main() {
    let total = env_u64("SLABENCH_BENCH_REQUESTS", 1_000_000);
    let seconds = env_u64("SLABENCH_BENCH_SECONDS", 10);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut targets = Targets::default();
    rt.block_on(async {
        open_loop(dir.path(), seconds, &mut targets).await;
        throughput_and_memory(dir.path(), total, &mut targets).await;
    });
    targets.finish();
}
