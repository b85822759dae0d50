//! The engine end to end against wiremock fakes: what the server received,
//! how outcomes are classified, and bounds on what was measured.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::fake::*;
use slabench::analysis::Verdict;
use slabench::openai::ChatRequest;
use wiremock::{Request, Respond, ResponseTemplate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_delay_endpoint_gets_every_tagged_request_and_latency_is_bounded() {
    let server = serve(
        ResponseTemplate::new(200)
            .set_body_json(completion("fake"))
            .set_delay(Duration::from_millis(50)),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    // 1,200 RPM for 2 s, constant: exactly 40 requests.
    let sc = scenario(&server.uri(), 1200.0, 2);
    let out = slabench::run::run(&sc, quiet_into(dir.path()))
        .await
        .unwrap();
    let s = &out.summary;

    let received = server.received_requests().await.unwrap();
    // The preflight request is one more, tagged with u64::MAX.
    assert_eq!(received.len(), 41);
    let mut tags = HashSet::new();
    for r in &received {
        let header = r
            .headers
            .get("x-slabench-request")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(
            r.headers.get("authorization").unwrap(),
            "Bearer test-secret"
        );
        let body: ChatRequest = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body.user.as_deref(), Some(header.as_str()));
        let prompt = body.messages[0].content.as_str().unwrap();
        assert_eq!(
            slabench::protocol::tag::parse_prompt(prompt),
            slabench::protocol::tag::parse(&header)
        );
        tags.insert(header);
    }
    assert_eq!(tags.len(), 41, "every tag is unique");

    assert_eq!(s.verdict, Verdict::Pass);
    assert_eq!(s.requests.counted, 40);
    assert_eq!(s.requests.ok, 40);
    assert_eq!(s.generator.sent, 40);
    assert_eq!(s.generator.target_rpm, 1200.0);
    let p50 = s.latency_ms.all.p50;
    assert!((50.0..150.0).contains(&p50), "p50 {p50}");
    assert!(s.latency_ms.all.max >= 50.0);
    assert!(s.latency_ms.service.p50 >= 50.0);
    assert!(dir.path().join("summary.json").exists());
}

/// Answers by the request's tag number: seq % 5 picks ok, 503, 429, 404 or a malformed body.
struct ByTag;

impl Respond for ByTag {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let seq = slabench::protocol::tag::parse(
            req.headers
                .get("x-slabench-request")
                .unwrap()
                .to_str()
                .unwrap(),
        )
        .unwrap();
        if seq == u64::MAX {
            return ResponseTemplate::new(200).set_body_json(completion("fake"));
        }
        match seq % 5 {
            0 => ResponseTemplate::new(200).set_body_json(completion("fake")),
            1 => ResponseTemplate::new(503).set_body_string("{\"error\":{}}"),
            2 => ResponseTemplate::new(429).insert_header("retry-after", "1"),
            3 => ResponseTemplate::new(404),
            _ => ResponseTemplate::new(200).set_body_raw("{\"choices\": [", "application/json"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_mix_is_classified_exactly_and_fails_the_sla() {
    let server = serve(ByTag).await;
    let dir = tempfile::tempdir().unwrap();
    let out = slabench::run::run(&scenario(&server.uri(), 3000.0, 1), quiet_into(dir.path()))
        .await
        .unwrap();
    let s = &out.summary;
    let by = &s.requests.by_outcome;
    assert_eq!(s.requests.counted, 50);
    for key in ["ok", "5xx", "429", "4xx", "malformed"] {
        assert_eq!(by[key], 10, "{key}: {by:?}");
    }
    assert_eq!(s.uptime.ratio, 0.2);
    assert_eq!(s.verdict, Verdict::Fail);
    assert_eq!(s.verdict.exit_code(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_need_done_and_record_time_to_first_token() {
    let server =
        serve(ResponseTemplate::new(200).set_body_raw(sse_body(8, true), "text/event-stream"))
            .await;
    let dir = tempfile::tempdir().unwrap();
    let mut sc = scenario(&server.uri(), 1200.0, 1);
    sc.traffic = vec![class("chat", true)];
    let s = slabench::run::run(&sc, quiet_into(dir.path()))
        .await
        .unwrap()
        .summary;
    assert_eq!(s.requests.ok, 20);
    let chat = &s.latency_ms.classes["chat"];
    assert!(chat.ttft.unwrap().count == 20);

    // The same stream without [DONE] is a truncated stream, though the status was 200.
    let server =
        serve(ResponseTemplate::new(200).set_body_raw(sse_body(8, false), "text/event-stream"))
            .await;
    let mut sc = scenario(&server.uri(), 1200.0, 1);
    sc.traffic = vec![class("chat", true)];
    let s = slabench::run::run(&sc, quiet_into(dir.path()))
        .await
        .unwrap()
        .summary;
    assert_eq!(s.requests.by_outcome["truncated_stream"], 20);
    assert_eq!(s.requests.ok, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_refusals_and_the_in_flight_cap() {
    // A server slower than the timeout: every request times out.
    let server = serve(
        ResponseTemplate::new(200)
            .set_body_json(completion("x"))
            .set_delay(Duration::from_secs(3)),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut sc = scenario(&server.uri(), 600.0, 1);
    sc.load.timeout = Duration::from_millis(200);
    let s = slabench::run::run(&sc, quiet_into(dir.path()))
        .await
        .unwrap()
        .summary;
    assert_eq!(s.requests.by_outcome["timeout"], 10);
    let p50 = s.latency_ms.all.p50;
    assert_eq!(p50, 0.0, "no successful request, so no ok latency");

    // Nothing listens on this port: a misconfiguration, refused before any
    // load, not an SLA verdict.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nobody = scenario(&format!("http://127.0.0.1:{port}"), 600.0, 1);
    let err = slabench::run::run(&nobody, quiet_into(dir.path()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.downcast_ref::<slabench::run::RunError>(),
            Some(slabench::run::RunError::Unreachable { url, .. }) if url.contains(&port.to_string())
        ),
        "{err:#}"
    );
    // Asked to run anyway, every request is measured as refused.
    let mut opts = quiet_into(dir.path());
    opts.allow_unreachable = true;
    let s = slabench::run::run(&nobody, opts).await.unwrap().summary;
    assert_eq!(s.requests.by_outcome["refused"], 10);

    // A cap of 2 in flight against a slow server: later sends are dropped and the run is INVALID.
    sc.load.timeout = Duration::from_secs(5);
    sc.load.max_in_flight = 2;
    sc.load.drain = Duration::from_millis(100);
    let s = slabench::run::run(&sc, quiet_into(dir.path()))
        .await
        .unwrap()
        .summary;
    assert_eq!(s.generator.dropped, 8);
    assert_eq!(
        s.requests.cut_off, 2,
        "the two in flight are cut off by the short drain"
    );
    assert_eq!(s.requests.counted, 8);
    assert_eq!(s.verdict, Verdict::Invalid);
    assert_eq!(s.verdict.exit_code(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_stops_sending_and_still_writes_the_summary() {
    let server = serve(ResponseTemplate::new(200).set_body_json(completion("x"))).await;
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut opts = quiet_into(dir.path());
    opts.stop = Some(rx);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        tx.send(true).unwrap();
    });
    // Planned: 60 s at 600 RPM (600 requests); stopped after ~0.7 s.
    let s = slabench::run::run(&scenario(&server.uri(), 600.0, 60), opts)
        .await
        .unwrap()
        .summary;
    assert!(s.interrupted);
    assert_eq!(s.verdict, Verdict::Interrupted);
    assert_eq!(s.verdict.exit_code(), 5);
    assert!(s.requests.in_flight_at_interrupt.is_some());
    let completed = s
        .checks
        .iter()
        .find(|c| c.name == slabench::analysis::verdict::COMPLETED_CHECK)
        .expect("a failing run-completed check");
    assert!(!completed.pass && completed.measured.starts_with("interrupted at 0."));
    assert!(
        (4..=12).contains(&s.generator.sent),
        "sent {}",
        s.generator.sent
    );
    assert!((s.generator.target_rpm - 600.0).abs() < 1e-6);
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap()).unwrap();
    assert_eq!(written["interrupted"], true);
    assert_eq!(written["verdict"], "INTERRUPTED");
    // The load ran about 0.7 s of the planned 60: junit.xml says so.
    let span = written["generator"]["span_s"].as_f64().unwrap();
    assert!((0.3..5.0).contains(&span), "{span}");
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(junit.contains(&format!("time=\"{span:.3}\"")), "{junit}");
}
