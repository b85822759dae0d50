//! `slabench gateway --metrics-addr` over the real binary: the gateway in
//! front of the smoke scenario's own providers, a few requests sent to it,
//! and its live metrics checked against what the requests got back (their
//! statuses and the gateway's own `x-slabench-*` headers); the endpoint
//! lingers after SIGTERM and a second one ends it.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::scrape::*;

/// One answer: its status and the gateway's headers.
struct Answer {
    status: u16,
    attempts: Vec<(String, String)>,
    skipped: Vec<String>,
    served_by: Option<String>,
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// POSTs one chat request for `model` over HTTP/1.0.
fn chat(gateway: SocketAddr, model: &str) -> Answer {
    let body = format!(
        r#"{{"model":"{model}","messages":[{{"role":"user","content":"hi"}}],"max_tokens":8}}"#
    );
    let mut s = TcpStream::connect_timeout(&gateway, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let req = format!(
        "POST /v1/chat/completions HTTP/1.0\r\nHost: gw\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, _) = raw.split_once("\r\n\r\n").expect("a response head");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let attempts = header(head, "x-slabench-attempts")
        .map(|v| {
            v.split(',')
                .map(|a| {
                    let (p, o) = a.split_once(':').unwrap();
                    (p.to_string(), o.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    let skipped = header(head, "x-slabench-skipped")
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let served_by = header(head, "x-slabench-served-by").map(str::to_string);
    Answer {
        status,
        attempts,
        skipped,
        served_by,
    }
}

/// The sum of `name`'s samples by the values of `keys`, zeros left out.
fn by(samples: &[Sample], name: &str, keys: &[&str]) -> BTreeMap<Vec<String>, u64> {
    let mut out = BTreeMap::new();
    for s in named(samples, name) {
        if s.value > 0.0 {
            let key = keys.iter().map(|k| s.label(k).to_string()).collect();
            *out.entry(key).or_default() += s.value as u64;
        }
    }
    out
}

fn count<K: Ord>(m: &mut BTreeMap<K, u64>, k: K) {
    *m.entry(k).or_default() += 1;
}

/// What the answers say the metrics must hold.
#[derive(Default)]
struct Expected {
    requests: BTreeMap<Vec<String>, u64>,
    attempts: BTreeMap<Vec<String>, u64>,
    retries: BTreeMap<Vec<String>, u64>,
    failovers: BTreeMap<Vec<String>, u64>,
    skipped: BTreeMap<Vec<String>, u64>,
}

impl Expected {
    fn add(&mut self, model: &str, a: &Answer) {
        count(&mut self.requests, vec![model.into(), a.status.to_string()]);
        for (i, (p, o)) in a.attempts.iter().enumerate() {
            count(&mut self.attempts, vec![p.clone(), o.clone()]);
            if i > 0 && a.attempts[i - 1].0 == *p {
                count(&mut self.retries, vec![p.clone()]);
            }
        }
        if let (Some((first, _)), Some(to)) = (a.attempts.first(), &a.served_by) {
            if first != to {
                count(&mut self.failovers, vec![first.clone(), to.clone()]);
            }
        }
        for p in &a.skipped {
            count(&mut self.skipped, vec![p.clone()]);
        }
    }
}

#[test]
fn the_gateways_metrics_count_what_it_answered_and_tried() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_slabench"))
        .args([
            "gateway",
            "scenarios/smoke.toml",
            "--metrics-addr",
            "127.0.0.1:0",
            "--metrics-linger",
            "30s",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let metrics = endpoint(&lines);
    // stdout: the providers' lines, then the gateway's URL alone.
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let gateway: SocketAddr = loop {
        let line = out.next().expect("the gateway's URL on stdout").unwrap();
        if let Some(addr) = line.strip_prefix("http://") {
            break addr.parse().unwrap();
        }
    };
    std::thread::spawn(move || out.for_each(drop));

    // Before any request: the gateway's gauges, no request counted.
    let first = parse(&scrape(metrics).unwrap());
    assert!(named(&first, "slabench_gateway_requests_total").is_empty());
    let open = named(&first, "slabench_gateway_breaker_open");
    assert_eq!(open.len(), 3, "{open:?}");
    assert!(open.iter().all(|s| s.value == 0.0), "{open:?}");
    assert_eq!(named(&first, "slabench_gateway_in_flight")[0].value, 0.0);

    let mut expected = Expected::default();
    for model in ["default", "default", "long", "default", "premium", "nope"] {
        let a = chat(gateway, model);
        let label = if model == "nope" { "other" } else { model };
        expected.add(label, &a);
    }
    assert_eq!(expected.requests[&vec!["other".into(), "404".into()]], 1);

    let end = parse(&scrape(metrics).unwrap());
    let got = |name, keys: &[&str]| by(&end, name, keys);
    assert_eq!(
        got("slabench_gateway_requests_total", &["model", "status"]),
        expected.requests
    );
    let attempts = got("slabench_gateway_attempts_total", &["provider", "outcome"]);
    assert_eq!(attempts, expected.attempts);
    let sent: u64 = attempts.values().sum();
    assert!(sent >= 5, "{sent} attempts for 5 routed requests");
    assert_eq!(
        got("slabench_gateway_retries_total", &["provider"]),
        expected.retries
    );
    assert_eq!(
        got("slabench_gateway_failovers_total", &["from", "to"]),
        expected.failovers
    );
    assert_eq!(
        got("slabench_gateway_skipped_total", &["provider"]),
        expected.skipped
    );
    assert_eq!(named(&end, "slabench_gateway_in_flight")[0].value, 0.0);
    assert_eq!(named(&end, "slabench_gateway_cooldown_seconds").len(), 3);

    // The gateway's own providers count the same attempts (once each
    // attempt's ledger record is written).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = parse(&scrape(metrics).unwrap());
        let served: f64 = named(&now, "slabench_provider_attempts_total")
            .iter()
            .map(|s| s.value)
            .sum();
        if served as u64 == sent {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the providers served {served} attempts, the gateway sent {sent}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // SIGTERM: the gateway stops, its final counts stay for the linger,
    // and a second SIGTERM ends it.
    let pid = child.id().to_string();
    let term = || Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(term().success());
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        TcpStream::connect_timeout(&gateway, Duration::from_millis(500)).is_err(),
        "the gateway still serves after SIGTERM"
    );
    let lingering = parse(&scrape(metrics).expect("the endpoint left with the gateway"));
    assert_eq!(
        by(
            &lingering,
            "slabench_gateway_requests_total",
            &["model", "status"]
        ),
        expected.requests
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
