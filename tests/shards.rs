//! A sharded run against the unsharded one, through the real binary: the
//! same small scenario run whole and as 3 shards (each with its own
//! default stack, concurrently), then `slabench merge`. Loopback only;
//! every process is bounded in time.
//!
//! The providers are steady (fixed time to first token, fixed length) and
//! the fault is deterministic (every attempt on `a` fails, so every request
//! fails over to `b` exactly once), so counts must be equal, not close.
//! Latency is a fixed 250 ms time to first token plus scheduling noise, so
//! "within 5%" leaves room for a busy machine without hiding a merge that
//! mixes histograms up.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const SCENARIO: &str = r#"
name = "shards"
seed = 11

[load]
arrival = "poisson"
timeout = "5s"
drain = "3s"
# Lag never hides latency here, and the machine is shared: a busy second
# must not void the comparison.
max_lag_p99 = "100ms"
stages = [{ hold_rpm = 600, for = "4s" }]

[[traffic]]
name = "chat"
weight = 75
model = "default"
prompt_tokens = 100
max_tokens = 20

[[traffic]]
name = "stream"
weight = 25
model = "default"
prompt_tokens = 100
max_tokens = 20
stream = true

[gateway]
kind = "builtin"
[gateway.routes]
default = ["a", "b"]
[gateway.breaker]
enabled = false

[[providers]]
name = "a"
profile = "steady.toml"

[[providers]]
name = "b"
profile = "steady.toml"

[[faults]]
provider = "a"
kind = "error_burst"
status = 500

[sla]
uptime = "99%"
"#;

const PROFILE: &str = r#"
name = "steady"
model = "steady"
region = "local"
price_input_per_m = 1.5
price_output_per_m = 4.0
[ttft]
dist = "fixed"
value = "250ms"
[speed]
tokens_per_s = 2000
jitter = 0.0
[output_tokens]
dist = "fixed"
value = 20
[errors]
rate = 0.0
"#;

fn slabench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_slabench"));
    c.stdout(Stdio::null()).stderr(Stdio::inherit());
    c
}

/// Waits for `child` at most `limit`; kills it past that.
fn wait(mut child: Child, limit: Duration, what: &str) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("{what} took more than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run(args: &[&str], what: &str) -> i32 {
    wait(
        slabench().args(args).spawn().unwrap(),
        Duration::from_secs(60),
        what,
    )
}

fn summary(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= (0.05 * b.abs()).max(5.0),
        "{what}: merged {a} ms vs whole {b} ms"
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn three_shards_merged_measure_what_the_whole_run_measures() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("shards.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    std::fs::write(dir.path().join("steady.toml"), PROFILE).unwrap();
    let whole = dir.path().join("whole");
    let shard = |i: usize| dir.path().join(format!("s{i}"));
    // The shards at once, each with its own providers and gateway; then
    // the whole run alone.
    let children: Vec<Child> = (0..3)
        .map(|i| {
            slabench()
                .args(["run", s(&scenario), "-q", "--out", s(&shard(i))])
                .args(["--shard", &format!("{i}/3")])
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        assert_eq!(wait(c, Duration::from_secs(60), "a shard"), 0, "shard {i}");
    }
    assert_eq!(
        run(&["run", s(&scenario), "-q", "--out", s(&whole)], "whole"),
        0
    );
    let merged = dir.path().join("merged");
    let mut args = vec!["merge", "-q", "--out", s(&merged)];
    let dirs: Vec<PathBuf> = (0..3).map(shard).collect();
    args.extend(dirs.iter().map(|d| s(d)));
    assert_eq!(
        run(&args, "merge"),
        0,
        "the merged run passes as the whole did"
    );

    let (w, m) = (summary(&whole), summary(&merged));
    assert_eq!(m["verdict"], "PASS");
    // Every shard sent its share, and the shares add up to the whole.
    let sent: u64 = (0..3)
        .map(|i| summary(&shard(i))["generator"]["sent"].as_u64().unwrap())
        .sum();
    assert_eq!(sent, w["generator"]["sent"].as_u64().unwrap());
    assert!(sent > 20, "{sent}");
    assert_eq!(m["generator"]["sent"], w["generator"]["sent"]);
    assert_eq!(m["requests"]["by_outcome"], w["requests"]["by_outcome"]);
    for class in ["chat", "stream"] {
        let (wc, mc) = (
            &w["latency_ms"]["classes"][class],
            &m["latency_ms"]["classes"][class],
        );
        assert_eq!(mc["requests"], wc["requests"], "{class}");
        assert_eq!(mc["ok"], wc["ok"], "{class}");
        for p in ["p50", "p99"] {
            let (a, b) = (mc[p].as_f64().unwrap(), wc[p].as_f64().unwrap());
            close(a, b, &format!("{class} {p}"));
        }
    }
    // The same failovers (one per request), attempts and cost.
    for key in [
        "failovers",
        "retries",
        "exhausted",
        "attempts",
        "answers_checked",
    ] {
        assert_eq!(m["failover"][key], w["failover"][key], "failover.{key}");
    }
    assert_eq!(m["failover"]["failovers"], w["requests"]["counted"]);
    let cost = |v: &Value| v["cost_usd"]["total"].as_f64().unwrap();
    assert!(
        (cost(&m) - cost(&w)).abs() <= cost(&w) * 1e-9,
        "{} vs {}",
        cost(&m),
        cost(&w)
    );
    // Every report of an ordinary run directory is there.
    for f in [
        "report.html",
        "timeseries.csv",
        "junit.xml",
        "summary.md",
        "latency.hlog",
    ] {
        assert!(merged.join(f).is_file(), "{f}");
    }

    // A missing shard: the merged run is INVALID and says which.
    let partial = dir.path().join("partial");
    let code = run(
        &[
            "merge",
            "-q",
            "--out",
            s(&partial),
            s(&dirs[0]),
            s(&dirs[2]),
        ],
        "partial",
    );
    assert_eq!(code, 3);
    let p = summary(&partial);
    let why = p["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "every shard merged")
        .unwrap();
    assert_eq!(why["pass"], false);
    assert!(
        why["why"].as_str().unwrap().contains("shard 1/3 missing"),
        "{why}"
    );
    // A shard that died before writing its folder (here: its folder but
    // for the marker it wrote at its start) is missing, named: INVALID.
    let crashed = dir.path().join("crashed");
    std::fs::create_dir_all(crashed.join("shard")).unwrap();
    std::fs::copy(
        dirs[1].join("shard/started.json"),
        crashed.join("shard/started.json"),
    )
    .unwrap();
    let code = run(
        &[
            "merge",
            "-q",
            "--out",
            s(&partial),
            s(&dirs[0]),
            s(&crashed),
            s(&dirs[2]),
        ],
        "crashed",
    );
    assert_eq!(code, 3, "a crashed shard is missing, not a usage error");
    let p = summary(&partial);
    let why = p["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "every shard merged")
        .unwrap();
    let text = why["why"].as_str().unwrap();
    assert!(
        text.contains("shard 1/3 missing") && text.contains("started but did not finish"),
        "{why}"
    );
    assert!(text.contains(s(&crashed)), "{why}");
    // A directory with neither a folder nor a marker is no run: refused.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let code = run(
        &["merge", "-q", "--out", s(&partial), s(&dirs[0]), s(&empty)],
        "no run",
    );
    assert_eq!(code, 2);
    // The same shard twice, or another run's shard: refused (exit 2).
    let code = run(
        &[
            "merge",
            "-q",
            "--out",
            s(&partial),
            s(&dirs[0]),
            s(&dirs[0]),
        ],
        "twice",
    );
    assert_eq!(code, 2);
    let code = run(
        &["merge", "-q", "--out", s(&partial), s(&dirs[0]), s(&whole)],
        "other",
    );
    assert_eq!(code, 2);
    // Nor is a shard's own directory an output.
    let code = run(
        &[
            "merge",
            "-q",
            "--out",
            s(&dirs[1]),
            s(&dirs[0]),
            s(&dirs[1]),
        ],
        "into",
    );
    assert_eq!(code, 2);
    assert_eq!(summary(&dirs[1])["generator"]["shard"]["index"], 1);
    // A shard's own ledger given again with --ledger would count twice.
    let own = dirs[0].join("ledger.bin");
    let mut args = vec!["merge", "-q", "--out", s(&partial)];
    args.extend(dirs.iter().map(|d| s(d)));
    args.extend(["--ledger", s(&own)]);
    assert_eq!(run(&args, "a ledger twice"), 2);
    // A requests.bin cut short leaves requests out of the join: refused.
    let rows = dirs[2].join("shard/requests.bin");
    let len = std::fs::metadata(&rows).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&rows).unwrap();
    f.set_len(len - 40).unwrap();
    args.truncate(args.len() - 2);
    assert_ne!(run(&args, "short rows"), 0);
    assert!(!partial.join("summary.json").exists() || summary(&partial)["verdict"] != "PASS");
}
