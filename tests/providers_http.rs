//! Provider servers over real loopback sockets: routes, stamps, the ledger,
//! determinism and latency distributions.

mod providers_support;

use std::sync::Arc;

use providers_support::*;
use slabench::clock::RunClock;
use slabench::openai::{self, ChatCompletion};
use slabench::providers::AttemptOutcome;
use slabench::scenario::{CountDist, FaultKind, LatencyDist};

#[tokio::test]
async fn answers_are_stamped_and_carry_usage() {
    let run = start(&scenario(1, 2));
    let c = client(S(5));
    let res = post(&c, &run.chat_url(1), 7, false).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()[openai::PROVIDER_HEADER], "p1");
    let body: ChatCompletion = res.json().await.unwrap();
    assert_eq!(openai::provider_from_id(&body.id), Some("p1"));
    let fp = body.system_fingerprint.as_deref().unwrap();
    assert_eq!(openai::provider_from_fingerprint(fp), Some("p1"));
    let usage = body.usage.unwrap();
    assert_eq!(usage.completion_tokens, 4);
    assert!(usage.prompt_tokens > 0);
    assert_eq!(body.model, "p1-model");

    let health = c
        .get(format!("{}/health", run.urls[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.headers()[openai::PROVIDER_HEADER], "p0");
    let models: serde_json::Value = c
        .get(format!("{}/v1/models", run.urls[0]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "p0-model");
    let (stats, _) = run.finish().await;
    assert_eq!(stats.attempts, 1, "probes are not attempts");
}

#[tokio::test]
async fn bad_requests_get_400_and_are_recorded() {
    let run = start(&scenario(1, 1));
    let c = client(S(5));
    let url = run.chat_url(0);
    let res = c
        .post(&url)
        .header(slabench::protocol::tag::HEADER, "slb-5")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let err: serde_json::Value = res.json().await.unwrap();
    assert_eq!(err["error"]["type"], "invalid_request_error");
    let empty = serde_json::json!({ "model": "m", "messages": [] });
    assert_eq!(
        c.post(&url).json(&empty).send().await.unwrap().status(),
        400
    );
    let wrong = c
        .post(format!("{}/v1/completions", run.urls[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
    let (stats, attempts) = run.finish().await;
    assert_eq!(stats.outcome(AttemptOutcome::BadRequest), 3);
    assert_eq!(attempts[0].tag, Some(5));
    assert_eq!(attempts[0].status, 400);
    assert_eq!(attempts[2].status, 404);
}

#[tokio::test]
async fn ledger_round_trips_tags_from_every_place() {
    let run = start(&scenario(1, 2));
    let c = client(S(5));
    let url = run.chat_url(1);
    let msg = |text: &str| serde_json::json!({ "model": "m", "messages": [{ "role": "user", "content": text }] });
    c.post(&url)
        .header(slabench::protocol::tag::HEADER, "slb-1")
        .json(&msg("hi"))
        .send()
        .await
        .unwrap();
    let mut by_user = msg("hi");
    by_user["user"] = "slb-2".into();
    c.post(&url).json(&by_user).send().await.unwrap();
    post(&c, &url, 3, true).await.unwrap().text().await.unwrap();
    c.post(&url).json(&msg("untagged")).send().await.unwrap();
    let (stats, attempts) = run.finish().await;
    assert_eq!(stats.attempts, 4);
    assert_eq!(stats.untagged, 1);
    assert_eq!(stats.by_provider, vec![0, 4]);
    let tags: Vec<_> = attempts.iter().map(|a| a.tag).collect();
    assert_eq!(tags, vec![Some(1), Some(2), Some(3), None]);
    for a in &attempts {
        assert_eq!(a.provider, 1);
        assert_eq!(a.outcome, AttemptOutcome::Ok);
        assert_eq!(a.status, 200);
        assert_eq!(a.output_tokens, 4);
        assert!(a.arrived_us >= 0 && a.answered_us >= a.arrived_us);
    }
    assert!(attempts[2].stream && !attempts[0].stream);
}

#[tokio::test]
async fn no_fault_before_the_clock_starts() {
    let mut s = scenario(1, 1);
    s.faults
        .push(fault(0, FaultKind::OutageHttp { status: 503 }, S(0), None));
    let clock = Arc::new(RunClock::new());
    let run = start_with(&s, clock.clone());
    let c = client(S(5));
    assert_eq!(
        post(&c, &run.chat_url(0), 1, false).await.unwrap().status(),
        200
    );
    clock.start(tokio::time::Instant::now());
    assert_eq!(
        post(&c, &run.chat_url(0), 2, false).await.unwrap().status(),
        503
    );
    let (_, attempts) = run.finish().await;
    assert_eq!(attempts[0].arrived_us, i64::MIN, "before the run");
    assert_eq!(attempts[1].outcome, AttemptOutcome::HttpError);
}

#[tokio::test]
async fn same_seed_same_requests_same_answers() {
    let mut s = scenario(42, 1);
    s.providers[0].profile.base_error_rate = 0.3;
    s.providers[0].profile.output_tokens = CountDist::Uniform { min: 1, max: 50 };
    let observe = |s: slabench::scenario::Scenario| async move {
        let run = start(&s);
        let c = client(S(5));
        let mut seen = Vec::new();
        for i in 0..40 {
            let res = post(&c, &run.chat_url(0), i, false).await.unwrap();
            let status = res.status().as_u16();
            let tokens = match status {
                200 => {
                    res.json::<ChatCompletion>()
                        .await
                        .unwrap()
                        .usage
                        .unwrap()
                        .completion_tokens
                }
                _ => 0,
            };
            seen.push((status, tokens));
        }
        run.finish().await;
        seen
    };
    let a = observe(s.clone()).await;
    assert_eq!(a, observe(s.clone()).await);
    assert!(a.iter().any(|(st, _)| *st == 500) && a.iter().any(|(st, _)| *st == 200));
    s.seed = 43;
    assert_ne!(a, observe(s).await);
}

fn quantile(sorted: &[u64], q: f64) -> u64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lognormal_latency_lands_on_its_p50_and_p99() {
    let mut s = scenario(5, 1);
    s.providers[0].profile.ttft = LatencyDist::LogNormal {
        p50: MS(20),
        p99: MS(60),
        cap: S(1),
    };
    s.providers[0].profile.output_tokens = CountDist::Fixed(1);
    let run = start(&s);
    let c = client(S(5));
    let url = run.chat_url(0);
    // Few enough workers that a debug build on a busy machine keeps up
    // (about 1,200 req/s); saturating the runtime would delay the timers.
    let (n, workers) = (2000u64, 25);
    let mut client_us = Vec::new();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (c, url) = (c.clone(), url.clone());
            tokio::spawn(async move {
                let mut out = Vec::new();
                for i in (w..n).step_by(workers as usize) {
                    let t0 = tokio::time::Instant::now();
                    let res = post(&c, &url, i, false).await.unwrap();
                    res.bytes().await.unwrap();
                    out.push(t0.elapsed().as_micros() as u64);
                }
                out
            })
        })
        .collect();
    for t in tasks {
        client_us.extend(t.await.unwrap());
    }
    let (_, attempts) = run.finish().await;
    let mut server_us: Vec<u64> = attempts
        .iter()
        .map(|a| (a.answered_us - a.arrived_us) as u64)
        .collect();
    server_us.sort_unstable();
    client_us.sort_unstable();
    assert_eq!(server_us.len(), n as usize);
    let (p50, p99) = (quantile(&server_us, 0.5), quantile(&server_us, 0.99));
    // The sample quantiles of 2000 draws, plus timer granularity (~1 ms).
    assert!((18_500..23_000).contains(&p50), "server p50 {p50} us");
    assert!((50_000..72_000).contains(&p99), "server p99 {p99} us");
    let client_p50 = quantile(&client_us, 0.5);
    assert!(
        (18_500..30_000).contains(&client_p50),
        "client p50 {client_p50} us"
    );
}

#[tokio::test]
async fn shutdown_frees_every_port() {
    let run = start(&scenario(1, 3));
    let ports: Vec<u16> = run
        .urls
        .iter()
        .map(|u| u.rsplit(':').next().unwrap().parse().unwrap())
        .collect();
    run.finish().await;
    for port in ports {
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    }
}

#[tokio::test]
async fn standalone_prints_urls_and_serves_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("mock.ledger");
    let mut s = scenario(1, 2);
    s.providers[1].name = "flash".into();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut out = Vec::new();
    let serve = slabench::providers::serve_until(&s, &ledger, &mut out, async {
        let _ = rx.await;
        Ok(())
    });
    let drive = async {
        tokio::time::sleep(MS(100)).await;
        tx.send(()).unwrap();
    };
    let (served, ()) = tokio::join!(serve, drive);
    served.unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("p0     http://127.0.0.1:"), "{text}");
    assert!(lines[1].starts_with("flash  http://127.0.0.1:"), "{text}");
    assert!(lines[2].starts_with("0 attempts recorded"), "{text}");
}
