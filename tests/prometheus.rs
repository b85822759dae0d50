//! A real Prometheus (Debian's `prometheus`, installed by .ci/run) scrapes
//! a 30 s run every second. Through its HTTP API: the final counts equal
//! summary.json's, the run-to-date quantiles equal the report's to the
//! histogram's precision, the p99 series is there over the run, and every
//! query of the Grafana dashboard (deploy/grafana/slabench.json) resolves
//! to data.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::scrape::*;

/// Kills the child when dropped (a failed assertion leaves no server).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An instant query: its result vector (labels, value).
fn query(prom: SocketAddr, q: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    let (status, body) = get(prom, &format!("/api/v1/query?query={}", encode(q)))
        .unwrap_or_else(|| panic!("Prometheus did not answer {q}"));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 200, "{q}: {body}");
    assert_eq!(v["status"], "success", "{q}: {body}");
    v["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{q}: not a vector: {body}"))
        .iter()
        .map(|r| {
            let labels = serde_json::from_value(r["metric"].clone()).unwrap();
            let value = r["value"][1].as_str().unwrap().parse().unwrap();
            (labels, value)
        })
        .collect()
}

/// A range query from `start` to now, a point a second (as Grafana asks):
/// how many series have data.
fn query_range(prom: SocketAddr, q: &str, start: f64) -> usize {
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let path = format!(
        "/api/v1/query_range?query={}&start={start:.3}&end={end:.3}&step=1",
        encode(q)
    );
    let (status, body) = get(prom, &path).unwrap_or_else(|| panic!("no answer to {q}"));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 200, "{q}: {body}");
    assert_eq!(v["status"], "success", "{q}: {body}");
    v["data"]["result"].as_array().map_or(0, Vec::len)
}

fn start_prometheus(dir: &Path, target: SocketAddr) -> (Killed, SocketAddr) {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: slabench\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the prometheus binary (Debian's package `prometheus`; .ci/run installs it)");
    let child = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(addr, "/-/ready").map(|r| r.0) != Some(200) {
        assert!(Instant::now() < deadline, "Prometheus not ready in 30 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    (child, addr)
}

/// Every `expr` in the dashboard (panels and annotations), with Grafana's
/// variables given values.
fn dashboard_queries() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/slabench.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut out = Vec::new();
    collect_exprs(&v, &mut out);
    out.into_iter()
        .map(|e| {
            e.replace("$__rate_interval", "5s")
                .replace("$__interval", "5s")
                .replace("$__range", "5m")
                .replace("$class", ".*")
                .replace("$job", "slabench")
        })
        .collect()
}

fn collect_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("expr", serde_json::Value::String(e)) if !e.is_empty() => out.push(e.clone()),
                    _ => collect_exprs(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_exprs(x, out)),
        _ => {}
    }
}

#[test]
#[ignore = "needs prometheus (Debian's package; .ci/run installs it)"]
fn a_real_prometheus_sees_the_reports_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = smoke_with(dir.path(), &[("for = \"15s\"", "for = \"30s\"")]);
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let (_prometheus, prom) = start_prometheus(dir.path(), metrics);
    let out = dir.path().join("run");
    let began = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let (child, lines) = spawn(&[
        "run",
        &scenario,
        "--out",
        out.to_str().unwrap(),
        "--metrics-addr",
        &metrics.to_string(),
        "--metrics-linger",
        "120s",
    ]);
    let mut child = Killed(child);
    assert_eq!(endpoint(&lines), metrics);
    // Wait for the run's end, then for Prometheus to have scraped it.
    let deadline = Instant::now() + Duration::from_secs(120);
    while query(prom, "slabench_run_phase{phase=\"done\"} == 1").is_empty() {
        assert!(
            Instant::now() < deadline,
            "Prometheus never saw the run end"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // A range query's last point can fall up to a step before now: let a
    // few more scrapes of the final values land.
    std::thread::sleep(Duration::from_secs(3));
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();

    // Final counts: summary.json's.
    let mut by_outcome: BTreeMap<String, u64> = BTreeMap::new();
    for (labels, v) in query(prom, "sum by (outcome) (slabench_requests_total)") {
        if v > 0.0 {
            by_outcome.insert(labels["outcome"].clone(), v as u64);
        }
    }
    let expected: BTreeMap<String, u64> =
        serde_json::from_value::<BTreeMap<String, u64>>(s["requests"]["by_outcome"].clone())
            .unwrap()
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect();
    assert_eq!(by_outcome, expected);
    assert!(expected["ok"] > 500, "{expected:?}");

    // Quantiles: the report's, to the histogram's precision.
    for (class, c) in s["latency_ms"]["classes"].as_object().unwrap() {
        for (q, key) in [("0.5", "p50"), ("0.99", "p99")] {
            let got = query(
                prom,
                &format!(
                    "slabench_latency_quantile_seconds{{class=\"{class}\",quantile=\"{q}\",window=\"run\"}}"
                ),
            );
            assert_eq!(got.len(), 1, "{class} {q}: {got:?}");
            let want = c[key].as_f64().unwrap() / 1000.0;
            assert!(
                (got[0].1 - want).abs() <= 1e-9,
                "{class} {key}: {} s against {want} s",
                got[0].1
            );
        }
    }
    // The p99 series over the run: one sample per scrape, about 30 of them.
    let samples = query(
        prom,
        "count_over_time(slabench_latency_quantile_seconds{class=\"chat\",quantile=\"0.99\",window=\"10s\"}[5m])",
    );
    assert_eq!(samples.len(), 1, "{samples:?}");
    assert!(
        samples[0].1 >= 20.0,
        "{} samples of the 10 s p99",
        samples[0].1
    );
    let verdict = query(prom, "slabench_verdict == 1");
    assert_eq!(verdict[0].0["verdict"], s["verdict"].as_str().unwrap());

    // Every dashboard query (panels and the fault-window annotation)
    // resolves to data over the run, asked as Grafana asks: a range query.
    let queries = dashboard_queries();
    assert!(
        queries.len() >= 15,
        "{} queries in the dashboard",
        queries.len()
    );
    let empty: Vec<&String> = queries
        .iter()
        .filter(|q| query_range(prom, q, began) == 0)
        .collect();
    assert!(
        empty.is_empty(),
        "dashboard queries without data: {empty:#?}"
    );

    // Ctrl-C ends the linger; the run's verdict stays its exit code.
    let pid = child.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "verdict {}", s["verdict"]);
}
