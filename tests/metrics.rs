//! Live metrics over the real binary (`--metrics-addr`): served while the
//! run goes on, and at its end the counts are summary.json's and the
//! run-to-date quantiles the report's; the endpoint lingers, and refuses a
//! non-loopback address unless told. `slabench mock --metrics-addr` counts
//! the providers' attempts.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::scrape::*;

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

fn phase(samples: &[Sample]) -> String {
    named(samples, "slabench_run_phase")
        .into_iter()
        .find(|s| s.value == 1.0)
        .map(|s| s.label("phase").to_string())
        .unwrap_or_default()
}

/// Scrapes until the run's phase is `done`; returns the final samples,
/// whether a scrape during the load saw requests counted, and every
/// metric name any scrape showed.
fn follow(
    addr: std::net::SocketAddr,
    within: Duration,
) -> (Vec<Sample>, bool, std::collections::BTreeSet<String>) {
    let deadline = Instant::now() + within;
    let mut seen_live = false;
    let mut names = std::collections::BTreeSet::new();
    while Instant::now() < deadline {
        if let Some(text) = scrape(addr) {
            let samples = parse(&text);
            names.extend(samples.iter().map(|s| s.name.clone()));
            let p = phase(&samples);
            if p == "load"
                && named(&samples, "slabench_requests_total")
                    .iter()
                    .any(|s| s.value > 0.0)
            {
                seen_live = true;
            }
            if p == "done" {
                return (samples, seen_live, names);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("the run did not reach phase done within {within:?}");
}

/// Requests by outcome over all classes.
fn by_outcome(samples: &[Sample]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for s in named(samples, "slabench_requests_total") {
        *out.entry(s.label("outcome").to_string()).or_default() += s.value as u64;
    }
    out
}

#[test]
fn a_runs_metrics_end_equal_to_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = smoke_with(
        dir.path(),
        &[
            ("for = \"15s\"", "for = \"4s\""),
            ("start = \"5s\"", "start = \"1s\""),
            ("duration = \"5s\"", "duration = \"2s\""),
            ("drain = \"10s\"", "drain = \"3s\""),
        ],
    );
    let out = dir.path().join("run");
    let (mut child, lines) = spawn(&[
        "run",
        &scenario,
        "--out",
        out.to_str().unwrap(),
        "--metrics-addr",
        "127.0.0.1:0",
        "--metrics-linger",
        "60s",
    ]);
    let addr = endpoint(&lines);
    let (end, seen_live, names) = follow(addr, Duration::from_secs(60));
    assert!(seen_live, "no scrape during the load counted a request");
    // The run is over and the endpoint lingers; Ctrl-C ends the linger,
    // and the exit code is still the verdict's.
    std::thread::sleep(Duration::from_millis(300));
    assert!(scrape(addr).is_some(), "not lingering");
    interrupt(&child);
    let started = Instant::now();
    let status = child.wait().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "Ctrl-C did not end the linger"
    );
    let s = summary(&out);
    assert_eq!(status.code(), Some(0), "verdict {}", s["verdict"]);
    assert!(scrape(addr).is_none(), "still serving after the linger");

    // Counts: exactly summary.json's.
    let expected: BTreeMap<String, u64> =
        serde_json::from_value(s["requests"]["by_outcome"].clone()).unwrap();
    let nonzero = |m: BTreeMap<String, u64>| -> BTreeMap<String, u64> {
        m.into_iter().filter(|(_, n)| *n > 0).collect()
    };
    assert_eq!(nonzero(by_outcome(&end)), nonzero(expected));
    // Per class, and the latency quantiles equal the report's.
    for (class, c) in s["latency_ms"]["classes"].as_object().unwrap() {
        let requests: f64 = named(&end, "slabench_requests_total")
            .iter()
            .filter(|x| x.label("class") == class)
            .map(|x| x.value)
            .sum();
        assert_eq!(requests as u64, c["requests"].as_u64().unwrap(), "{class}");
        for (q, key) in [
            ("0.5", "p50"),
            ("0.99", "p99"),
            ("0.9", "p90"),
            ("0.999", "p999"),
        ] {
            let got = named(&end, "slabench_latency_quantile_seconds")
                .into_iter()
                .find(|x| {
                    x.label("class") == class
                        && x.label("quantile") == q
                        && x.label("window") == "run"
                })
                .unwrap_or_else(|| panic!("no {class} {q}"))
                .value;
            let want = c[key].as_f64().unwrap() / 1000.0;
            assert!(
                (got - want).abs() <= 1e-9,
                "{class} {key}: {got} s against {want} s"
            );
        }
        let count = named(&end, "slabench_latency_seconds_count")
            .into_iter()
            .find(|x| x.label("class") == class)
            .unwrap()
            .value;
        assert_eq!(
            count as u64,
            c["ok"].as_u64().unwrap(),
            "{class}: histogram count = ok"
        );
    }
    let verdict = named(&end, "slabench_verdict");
    assert_eq!(verdict.len(), 1);
    assert_eq!(verdict[0].label("verdict"), s["verdict"].as_str().unwrap());
    // The ledger join's numbers, once it ran.
    let events: BTreeMap<&str, u64> = named(&end, "slabench_failover_events_total")
        .iter()
        .map(|x| (x.label("kind"), x.value as u64))
        .collect();
    assert_eq!(
        events["failover"],
        s["failover"]["failovers"].as_u64().unwrap()
    );
    assert_eq!(events["retry"], s["failover"]["retries"].as_u64().unwrap());
    // The providers' attempts: at least the joined ones (the preflight's
    // attempt is counted too).
    let attempts: f64 = named(&end, "slabench_provider_attempts_total")
        .iter()
        .map(|x| x.value)
        .sum();
    let joined = s["failover"]["attempts"].as_u64().unwrap();
    assert!(
        attempts as u64 >= joined && attempts as u64 <= joined + 5,
        "{attempts} against {joined}"
    );
    dashboard_names_are_exported(&names);
    // The flash outage (1 s to 3 s) is over at the end.
    let windows = named(&end, "slabench_fault_window_active");
    assert_eq!(windows.len(), 1, "{windows:?}");
    assert_eq!(windows[0].label("provider"), "flash");
    assert_eq!(windows[0].value, 0.0);
}

fn interrupt(child: &std::process::Child) {
    let pid = child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// A run cut short (a shard evicted, say) still shows how it ended: the
/// endpoint lingers with the INTERRUPTED verdict and the final counts,
/// until another interrupt.
#[test]
fn an_interrupted_run_lingers_with_its_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = smoke_with(dir.path(), &[("drain = \"10s\"", "drain = \"3s\"")]);
    let out = dir.path().join("run");
    let (mut child, lines) = spawn(&[
        "run",
        &scenario,
        "--out",
        out.to_str().unwrap(),
        "--metrics-addr",
        "127.0.0.1:0",
        "--metrics-linger",
        "60s",
    ]);
    let addr = endpoint(&lines);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let samples = scrape(addr).map(|t| parse(&t)).unwrap_or_default();
        let counted: f64 = named(&samples, "slabench_requests_total")
            .iter()
            .map(|s| s.value)
            .sum();
        if counted > 0.0 {
            break;
        }
        assert!(Instant::now() < deadline, "no request counted in 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    interrupt(&child);
    let (end, _, _) = follow(addr, Duration::from_secs(30));
    let s = summary(&out);
    assert_eq!(s["verdict"], "INTERRUPTED");
    let verdict = named(&end, "slabench_verdict");
    assert_eq!(verdict[0].label("verdict"), "INTERRUPTED");
    let expected: BTreeMap<String, u64> =
        serde_json::from_value(s["requests"]["by_outcome"].clone()).unwrap();
    let total: u64 = expected.values().sum();
    assert_eq!(by_outcome(&end).values().sum::<u64>(), total);
    assert!(scrape(addr).is_some(), "an interrupted run did not linger");
    interrupt(&child);
    assert_eq!(child.wait().unwrap().code(), Some(5));
}

#[test]
fn a_non_loopback_metrics_address_needs_its_flag() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_slabench"))
        .args(["run", "scenarios/smoke.toml", "--metrics-addr", "0.0.0.0:0"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--metrics-addr 0.0.0.0:0 is not a loopback address"),
        "{err}"
    );
    assert!(err.contains("--metrics-allow-remote"), "{err}");
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_slabench"))
        .args(["run", "scenarios/smoke.toml", "--metrics-linger", "soon"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{err}");
    assert!(err.contains("is not a duration"), "{err}");
}

#[test]
fn the_mock_counts_its_attempts_and_lingers_after_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = smoke_with(dir.path(), &[]);
    let ledger = dir.path().join("ledger.bin");
    let (mut child, lines) = spawn(&[
        "mock",
        &scenario,
        "--ledger",
        ledger.to_str().unwrap(),
        "--metrics-addr",
        "127.0.0.1:0",
        "--metrics-linger",
        "30s",
    ]);
    let addr = endpoint(&lines);
    // Before any attempt: every provider's counters, at zero, once the
    // providers serve; the outage (5 s to 10 s from now) not open yet.
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        let samples = parse(&scrape(addr).unwrap());
        if !named(&samples, "slabench_provider_attempts_total").is_empty() {
            break samples;
        }
        assert!(Instant::now() < deadline, "no attempt counters in 10 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    let attempts = named(&first, "slabench_provider_attempts_total");
    assert!(attempts
        .iter()
        .any(|s| s.label("provider") == "qwen" && s.label("outcome") == "ok"));
    assert!(attempts.iter().all(|s| s.value == 0.0), "{attempts:?}");
    assert_eq!(named(&first, "slabench_fault_window_active")[0].value, 0.0);
    // SIGTERM: the ledger is flushed, the endpoint stays for the linger,
    // and a second SIGTERM ends it.
    let pid = child.id().to_string();
    let term = || {
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
    };
    assert!(term().success());
    // The providers stop (their ledger flushed); the endpoint stays: the
    // "N attempts recorded" line says they are done, then it still answers.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lines
        .try_iter()
        .any(|l| l.contains("metrics: final values"))
    {
        assert!(
            Instant::now() < deadline,
            "no linger announced after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        scrape(addr).is_some(),
        "the endpoint left with the providers"
    );
    assert!(
        scrape(addr).is_some(),
        "the endpoint left with the providers"
    );
    assert!(term().success());
    let started = Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the second SIGTERM did not end the linger"
    );
}

/// Every metric the Grafana dashboard (deploy/grafana/slabench.json) asks
/// for is one this run exported.
fn dashboard_names_are_exported(exported: &std::collections::BTreeSet<String>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/slabench.json");
    let text = std::fs::read_to_string(path).unwrap();
    let mut asked = std::collections::BTreeSet::new();
    for (i, _) in text.match_indices("slabench_") {
        let name: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        asked.insert(name);
    }
    assert!(asked.len() >= 12, "{asked:?}");
    let missing: Vec<&String> = asked.iter().filter(|n| !exported.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "the dashboard asks for metrics slabench does not export: {missing:?}"
    );
}
