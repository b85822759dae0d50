//! Reading a slabench metrics endpoint in tests: start the binary with
//! `--metrics-addr 127.0.0.1:0`, learn the port from its stderr, scrape
//! `/metrics` over plain HTTP/1.0 and parse the exposition text.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// One sample: its name, labels and value.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, k: &str) -> &str {
        self.labels.get(k).map_or("", String::as_str)
    }
}

/// The samples of one scrape.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a sample line ends in its value");
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            Sample {
                name: name.to_string(),
                labels: parse_labels(labels),
                value: match value {
                    "+Inf" => f64::INFINITY,
                    v => v.parse().unwrap_or_else(|_| panic!("bad value in {l}")),
                },
            }
        })
        .collect()
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s;
    while let Some((k, after)) = rest.split_once("=\"") {
        let end = after.find('"').expect("a closed label value");
        out.insert(
            k.trim_start_matches(',').to_string(),
            after[..end].to_string(),
        );
        rest = &after[end + 1..];
    }
    out
}

/// GET /metrics; `None` when nothing answers.
pub fn scrape(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: slabench\r\n\r\n")
        .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    assert!(
        head.to_lowercase().contains("application/openmetrics-text"),
        "{head}"
    );
    Some(body.to_string())
}

/// The samples named `name`.
pub fn named<'a>(samples: &'a [Sample], name: &str) -> Vec<&'a Sample> {
    samples.iter().filter(|s| s.name == name).collect()
}

/// The slabench binary with `args`, stdout and stderr piped; stderr lines
/// are forwarded on the channel (the first "metrics: http://…" among them).
pub fn spawn(args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_slabench"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// The endpoint's address from the binary's stderr (within 30 s), and the
/// lines read before it.
pub fn endpoint(lines: &mpsc::Receiver<String>) -> SocketAddr {
    let mut seen = Vec::new();
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no metrics address printed; stderr so far: {seen:?}"));
        if let Some(rest) = line.strip_prefix("metrics: http://") {
            return rest.trim_end_matches("/metrics").parse().unwrap();
        }
        seen.push(line);
    }
}

/// A copy of scenarios/smoke.toml in `dir` with `edits` (from, to) applied.
pub fn smoke_with(dir: &Path, edits: &[(&str, &str)]) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(root.join("scenarios/smoke.toml")).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "smoke.toml no longer holds {from:?}");
        text = text.replacen(from, to, 1);
    }
    let path = dir.join("smoke.toml");
    std::fs::write(&path, text).unwrap();
    // Profile names resolve in mock-providers/ beside the scenario.
    let profiles = dir.join("mock-providers");
    if !profiles.exists() {
        std::os::unix::fs::symlink(root.join("mock-providers"), profiles).unwrap();
    }
    path.to_str().unwrap().to_string()
}
