//! Gateway overhead over real sockets: an in-process fake gateway that holds
//! every request for a known time before forwarding it to a simulated
//! provider is measured at that time, from the ledger join alone; the
//! built-in gateway's own overhead is small.
//!
//! Why the check is what it is (measured on this 2-core machine, debug
//! build):
//!
//! - The fake gateway *without* a hold is measured at p50 ≈ 2 ms (the
//!   built-in gateway at ≈ 2.2 ms): four loopback HTTP hops through
//!   debug-built hyper and reqwest, part of every request's overhead by
//!   definition. So what the hold adds is measured against the same fake
//!   gateway without it, in a run *beside* it: load varies from second to
//!   second, and two runs one after the other differed by 1.5 ms.
//! - tokio's timer ticks in whole milliseconds and wakes up to 1 ms late;
//!   the hold sleeps on the OS timer instead (20.03 ms at p50). Spinning to
//!   the deadline was as precise, but on a saturated machine the CPU it
//!   burnt slowed the fake gateway's forwarding by a few ms.
//! - The holds' tail is not precise: on a loaded machine the fake gateway's
//!   thread wakes late (holds of 22–45 ms seen at p99). So the tail is
//!   checked against the holds the fake gateway really made: every
//!   request's overhead contains its hold, so no quantile of the measured
//!   overhead can be below the holds' same quantile.
//! - Within 1 ms held in every run on this machine as it was (load average
//!   up to 6 from other builds). With both cores saturated by three extra
//!   busy loops at the test's own priority, the hold's addition came out at
//!   21.3–21.7 ms (holds 20.3 ms at p50, measured inside the fake
//!   gateway): about 1 ms more path after a hold than without one, whose
//!   cause is not pinned down (not new connections: the held run opened
//!   fewer than the other). The 1 ms tolerance is kept; on a saturated
//!   machine this test can fail by that much.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::{combinators::BoxBody, BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use slabench::protocol::tag;
use slabench::providers::testing;
use slabench::scenario::{
    ExternalGateway, FailoverOn, FaultKind, Gateway, LatencyDist, Scenario, Stage, TrafficClass,
};
use tokio::time::Instant;

/// What the fake gateway adds to every request.
const DELAY: Duration = Duration::from_millis(20);

/// The tests of this file, one at a time: each one's tail is the other's noise.
static ONE_RUN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The fake gateway's own record of the holds it made.
type Holds = Arc<Mutex<Vec<Duration>>>;

#[derive(Clone)]
struct Fake {
    client: reqwest::Client,
    upstream: String,
    hold: Duration,
    holds: Holds,
}

type Body = BoxBody<Bytes, reqwest::Error>;

/// Waits until `deadline` to within tens of µs: tokio's timer wheel ticks
/// in whole milliseconds and wakes up to 1 ms late, which alone would break
/// a 1 ms tolerance; the OS's own timer (`std::thread::sleep`, on the
/// blocking pool) is precise. Spinning to the deadline was as precise but,
/// on a saturated machine, the CPU it burnt slowed the fake gateway's own
/// forwarding by a few ms.
async fn wait_until(deadline: Instant) {
    let deadline = deadline.into_std();
    tokio::task::spawn_blocking(move || {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        std::thread::sleep(left);
    })
    .await
    .unwrap();
}

/// One request through the fake gateway: read it, hold it until `hold`
/// after it arrived, forward it, stream the answer back.
async fn forward(fake: Fake, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let arrived = Instant::now();
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut out = fake
        .client
        .post(format!("{}{}", fake.upstream, parts.uri.path()));
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            out = out.header(name, value);
        }
    }
    if !fake.hold.is_zero() {
        wait_until(arrived + fake.hold).await;
        // The run's requests only, not the preflight (request number u64::MAX).
        let seq = parts
            .headers
            .get(tag::HEADER)
            .and_then(|v| tag::parse(v.to_str().ok()?));
        if seq.is_some_and(|s| s != u64::MAX) {
            fake.holds.lock().unwrap().push(arrived.elapsed());
        }
    }
    let answer = match out.body(body).send().await {
        Ok(a) => a,
        Err(e) => panic!("the fake gateway could not forward: {e}"),
    };
    let mut res = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            res = res.header(name, value);
        }
    }
    let frames = answer.bytes_stream().map_ok(Frame::data);
    Ok(res.body(BodyExt::boxed(StreamBody::new(frames))).unwrap())
}

/// Starts a fake gateway in front of `upstream` that holds each request for
/// `hold`; returns its address and its record of the holds. It runs on its
/// own thread and runtime, as a gateway runs in its own process: on the
/// test's runtime, slabench's own tasks would delay its timer.
fn fake_gateway(upstream: String, hold: Duration) -> (SocketAddr, Holds) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = Fake {
        client: reqwest::Client::new(),
        upstream,
        hold,
        holds: Holds::default(),
    };
    let holds = fake.holds.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(serve(listener, fake));
    });
    (addr, holds)
}

async fn serve(listener: std::net::TcpListener, fake: Fake) {
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    while let Ok((tcp, _)) = listener.accept().await {
        let _ = tcp.set_nodelay(true);
        let fake = fake.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| forward(fake.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// 100 requests in 5 s, about half of them streams, to one provider that
/// takes 30 ms to its first token.
fn scenario() -> Scenario {
    let mut sc = testing::scenario(7, 1);
    sc.providers[0].profile.ttft = LatencyDist::Fixed(Duration::from_millis(30));
    sc.load.stages = vec![Stage::Hold {
        rpm: 1200.0,
        duration: Duration::from_secs(5),
    }];
    sc.load.max_lag_p99 = Some(Duration::from_secs(1));
    sc.traffic = [false, true]
        .into_iter()
        .map(|stream| TrafficClass {
            name: if stream { "stream" } else { "chat" }.into(),
            weight: 1.0,
            model: "default".into(),
            prompt_tokens: 20,
            max_tokens: 4,
            stream,
            budgets: Default::default(),
        })
        .collect();
    sc
}

/// The run's `gateway_overhead_ms`, and how many streams were answered.
async fn overhead_of(sc: &Scenario) -> (serde_json::Value, u64) {
    let dir = tempfile::tempdir().unwrap();
    let opts = slabench::run::RunOptions {
        out: Some(dir.path().to_path_buf()),
        quiet: true,
        stop: None,
        requests_csv: false,
        allow_unreachable: false,
        ..Default::default()
    };
    slabench::run::run(sc, opts).await.unwrap();
    let text = std::fs::read_to_string(dir.path().join("summary.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(summary["requests"]["failed"], 0, "{}", summary["requests"]);
    // The schema knows `gateway_overhead_ms` as runs write it.
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/summary.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&summary)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    // The terminal line and summary.md carry it.
    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(
        md.contains("| Gateway overhead | gateway overhead p50 "),
        "{md}"
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("id=\"gateway-overhead\""));
    let streams = summary["latency_ms"]["classes"]["stream"]["ok"]
        .as_u64()
        .unwrap();
    (summary["gateway_overhead_ms"].clone(), streams)
}

/// The overhead through a fake gateway that holds each request for `hold`,
/// and the holds it made.
async fn through_fake(hold: Duration) -> (serde_json::Value, u64, Vec<Duration>) {
    let port = free_port();
    let (gw, holds) = fake_gateway(format!("http://127.0.0.1:{port}"), hold);
    let mut sc = scenario();
    sc.providers[0].port = port;
    sc.gateway = Gateway::External(ExternalGateway {
        url: format!("http://{gw}"),
        headers: vec![],
        allow_non_loopback: false,
        process: None,
    });
    let (o, streams) = overhead_of(&sc).await;
    let mut holds = holds.lock().unwrap().clone();
    holds.sort();
    (o, streams, holds)
}

fn ms(v: &serde_json::Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// The `q` quantile of sorted `v`, in ms.
fn quantile_ms(v: &[Duration], q: f64) -> f64 {
    let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
    v[i].as_secs_f64() * 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_holds_each_request_20ms_is_measured_at_20ms() {
    let _one = ONE_RUN.lock().await;
    // The same fake gateway without the hold, at the same time: whatever
    // else loads the machine loads both alike.
    let ((base, _, _), (o, streams, holds)) =
        tokio::join!(through_fake(Duration::ZERO), through_fake(DELAY));
    for v in [&base, &o] {
        assert_eq!(v["requests"], 100, "{v}");
        assert_eq!(v["negative"], 0, "{v}");
        assert_eq!(v["unmeasured"], 0, "{v}");
        assert_eq!(v["normal"]["requests"], 100, "{v}");
        assert_eq!(v["failed_over"]["requests"], 0, "{v}");
    }
    assert_eq!(holds.len(), 100);
    let shown = format!("{o}\nwithout the hold: {base}\nholds: {holds:?}");
    // The holds are 20 ms at p50 (a few hundred µs more when the machine is
    // saturated: the OS wakes the sleeper late); what the measurement adds
    // to them is the gateway's path without the hold, within 1 ms.
    let hold_p50 = quantile_ms(&holds, 0.5);
    assert!((20.0..20.5).contains(&hold_p50), "{shown}");
    for (key, v) in [("service", &o), ("ttft", &o["ttft"])] {
        let b = if key == "ttft" { &base["ttft"] } else { &base };
        let added = ms(v, "p50") - ms(b, "p50");
        assert!(
            (added - hold_p50).abs() <= 1.0,
            "{key}: the hold added {added} ms: {shown}"
        );
    }
    // Every request's overhead contains its hold: no quantile of the
    // overhead is below the holds'.
    for (key, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
        let held = quantile_ms(&holds, q);
        assert!(
            ms(&o, key) >= held - 0.05,
            "{key} under the holds' {held}: {shown}"
        );
    }
    assert_eq!(o["ttft"]["requests"], streams, "{shown}");
    assert!(streams > 20, "{shown}");
    let seconds = o["per_second"].as_array().unwrap();
    assert_eq!(seconds.len(), 5, "{shown}");
    assert!(seconds.iter().all(|s| ms(s, "p50") >= 20.0), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_builtin_gateway_adds_little() {
    let _one = ONE_RUN.lock().await;
    let (o, streams) = overhead_of(&scenario()).await;
    assert_eq!(o["requests"], 100, "{o}");
    assert_eq!(o["negative"], 0, "{o}");
    assert_eq!(o["ttft"]["requests"], streams, "{o}");
    // Generous: ≈ 2 ms at p50 in a debug build, but a loaded 2-core
    // machine stretches the tail; still far below a 20 ms hold.
    assert!(ms(&o, "p50") < 5.0, "{o}");
    assert!(ms(&o, "p99") < 20.0, "{o}");
    assert!(ms(&o["ttft"], "p50") < 5.0, "{o}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_the_builtin_gateway_failed_over_are_measured_apart() {
    let _one = ONE_RUN.lock().await;
    // p0 answers every request 503; the gateway moves each to p1, whose
    // 30 ms to first token is time at a provider, not overhead.
    let mut sc = testing::scenario(7, 2);
    sc.providers[1].profile.ttft = LatencyDist::Fixed(Duration::from_millis(30));
    sc.load.stages = vec![Stage::Hold {
        rpm: 1200.0,
        duration: Duration::from_secs(2),
    }];
    sc.load.max_lag_p99 = Some(Duration::from_secs(1));
    sc.traffic = scenario().traffic;
    if let Gateway::Builtin(g) = &mut sc.gateway {
        g.policy.failover_on = vec![FailoverOn::Status5xx];
    }
    sc.faults = vec![testing::fault(
        0,
        FaultKind::OutageHttp { status: 503 },
        Duration::ZERO,
        None,
    )];
    let (o, streams) = overhead_of(&sc).await;
    assert_eq!(o["requests"], 40, "{o}");
    assert_eq!(o["normal"]["requests"], 0, "{o}");
    assert_eq!(o["failed_over"]["requests"], 40, "{o}");
    assert_eq!(o["negative"], 0, "{o}");
    assert_eq!(o["ttft"]["requests"], streams, "{o}");
    // Both attempts' time at the providers is subtracted: what is left is
    // the gateway's own, a few ms, not the 30 ms at p1.
    assert!(ms(&o["failed_over"], "p50") < 5.0, "{o}");
    assert!(ms(&o["ttft"], "p50") < 5.0, "{o}");
}
