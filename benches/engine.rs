//! Engine benchmark: open-loop accuracy and memory of `slabench run`.
//!
//! Starts a fixed-latency OpenAI-style server in a child process (this same
//! binary, re-executed), then runs the release `slabench` binary against it
//! and reads its summary.json; peak RSS comes from `wait4`'s rusage, so it is
//! the slabench process alone.
//!
//!     cargo bench --bench engine                      # 60,000 RPM for 60 s, then 300 s
//!     BENCH_SECS=10 BENCH_LONG_SECS=0 cargo bench --bench engine   # quick look
//!
//! Targets (the engine's contract in README's Benchmarks): achieved rate within 1% of target, p50 within 2 ms of
//! 50 ms, schedule lag p99 under 2 ms, no drops, peak RSS under 100 MB, and
//! a 300 s run using no more than 20% more memory than a 60 s run. The
//! last line is `all targets met` or a `FAIL: … missed (…)` line per miss,
//! which exits 1.

mod targets;

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use targets::Targets;

const LATENCY: Duration = Duration::from_millis(50);
const RPM: u64 = 60_000;

fn main() {
    if std::env::var_os("SLABENCH_BENCH_SERVER").is_some() {
        return serve();
    }
    let secs: u64 = env_or("BENCH_SECS", 60);
    let long: u64 = env_or("BENCH_LONG_SECS", 300);
    let bin = slabench_binary();
    let (mut server, addr) = start_server();
    let mut targets = Targets::default();
    let short = run_once(&bin, addr, secs);
    print_run(secs, &short, &mut targets);
    if long > 0 {
        let long_run = run_once(&bin, addr, long);
        print_run(long, &long_run, &mut targets);
        let growth = long_run.max_rss_kb as f64 / short.max_rss_kb as f64 - 1.0;
        let shown = format!("{:+.1}%", growth * 100.0);
        println!("memory growth {secs} s → {long} s: {shown} (target <= +20%)");
        targets.check(
            &format!("memory growth {secs} s → {long} s <= +20%"),
            growth <= 0.20,
            shown,
        );
    }
    let _ = server.kill();
    targets.finish();
}

struct Measured {
    summary: serde_json::Value,
    max_rss_kb: i64,
}

/// Prints one run's figures with their targets, and checks them.
fn print_run(secs: u64, m: &Measured, targets: &mut Targets) {
    let s = &m.summary;
    let g = &s["generator"];
    let target = g["target_rpm"].as_f64().unwrap();
    let achieved = g["achieved_rpm"].as_f64().unwrap();
    let l = &s["latency_ms"]["all"];
    let rss_mb = m.max_rss_kb as f64 / 1024.0;
    println!(
        "--- {RPM} RPM for {secs} s against a fixed {} ms endpoint",
        LATENCY.as_millis()
    );
    println!(
        "achieved rpm   {achieved:.1} of {target:.1} ({:+.3}%, target within ±1%)",
        (achieved / target - 1.0) * 100.0
    );
    println!(
        "sent/dropped   {} / {} (target 0 dropped)",
        g["sent"], g["dropped"]
    );
    println!(
        "lag ms         p50 {} p99 {} max {} (target p99 < 2)",
        g["lag_ms"]["p50"], g["lag_ms"]["p99"], g["lag_ms"]["max"]
    );
    println!(
        "latency ms     p50 {} p90 {} p99 {} max {} (target p50 within 2 of 50)",
        l["p50"], l["p90"], l["p99"], l["max"]
    );
    println!(
        "requests       ok {} failed {}",
        s["requests"]["ok"], s["requests"]["failed"]
    );
    println!("peak RSS       {rss_mb:.1} MB (target < 100 MB)");
    println!("verdict        {}", s["verdict"]);

    let off = achieved / target - 1.0;
    let dropped = g["dropped"].as_u64().unwrap();
    let lag_p99 = g["lag_ms"]["p99"].as_f64().unwrap();
    let p50 = l["p50"].as_f64().unwrap();
    let run = format!("{secs} s run");
    targets.check(
        &format!("{run}: achieved rpm within ±1%"),
        off.abs() <= 0.01,
        format!("{:+.3}%", off * 100.0),
    );
    targets.check(
        &format!("{run}: 0 dropped"),
        dropped == 0,
        format!("{dropped} dropped"),
    );
    targets.check(
        &format!("{run}: lag p99 < 2 ms"),
        lag_p99 < 2.0,
        format!("{lag_p99} ms"),
    );
    targets.check(
        &format!(
            "{run}: latency p50 within 2 ms of {} ms",
            LATENCY.as_millis()
        ),
        (p50 - LATENCY.as_secs_f64() * 1000.0).abs() <= 2.0,
        format!("{p50} ms"),
    );
    targets.check(
        &format!("{run}: peak RSS < 100 MB"),
        rss_mb < 100.0,
        format!("{rss_mb:.1} MB"),
    );
}

fn run_once(bin: &Path, addr: SocketAddr, secs: u64) -> Measured {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("bench.toml");
    let toml = format!(
        "name = \"engine-bench\"\nseed = 1\n\n[load]\narrival = \"constant\"\ntimeout = \"10s\"\nmax_in_flight = 10000\nstages = [{{ hold_rpm = {RPM}, for = \"{secs}s\" }}]\n\n[[traffic]]\nname = \"default\"\nweight = 1\nmodel = \"bench\"\nprompt_tokens = 100\nmax_tokens = 50\n\n[gateway]\nkind = \"external\"\nurl = \"http://{addr}\"\n"
    );
    std::fs::write(&scenario, toml).unwrap();
    let out = dir.path().join("out");
    let child = Command::new(bin)
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&scenario)
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start slabench");
    let max_rss_kb = wait_for_rss(child);
    let summary =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).expect("summary.json"))
            .unwrap();
    Measured {
        summary,
        max_rss_kb,
    }
}

/// Waits for the child and returns its peak resident set (KB) from `wait4`.
fn wait_for_rss(child: Child) -> i64 {
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting on our own child with valid out-pointers.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4 failed");
    usage.ru_maxrss
}

fn slabench_binary() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--bin", "slabench"])
        .status()
        .unwrap();
    assert!(status.success());
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("release/slabench")
}

fn start_server() -> (Child, SocketAddr) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("SLABENCH_BENCH_SERVER", "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    (child, line.trim().parse().unwrap())
}

/// The child: answers every POST after exactly `LATENCY`, on all cores.
fn serve() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        std::io::stdout().flush().unwrap();
        let body = Bytes::from(
            serde_json::json!({
                "id": "chatcmpl-slb-bench-1", "object": "chat.completion", "created": 0, "model": "bench",
                "system_fingerprint": "slabench:bench",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 1, "total_tokens": 101}
            })
            .to_string(),
        );
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            let body = body.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let body = body.clone();
                    async move {
                        let _ = req.into_body().collect().await;
                        tokio::time::sleep(LATENCY).await;
                        Ok::<_, Infallible>(Response::builder().header("content-type", "application/json").body(Full::new(body)).unwrap())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
}

fn env_or(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
