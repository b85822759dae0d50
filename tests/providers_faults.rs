//! Each fault kind, seen by a reqwest client over loopback as what it claims.

mod providers_support;

use std::io::ErrorKind;

use providers_support::*;
use slabench::openai::ChatCompletion;
use slabench::providers::AttemptOutcome;
use slabench::scenario::{FaultKind, LatencyDist, Malformation, RateLimit};

fn with(kind: FaultKind) -> slabench::scenario::Scenario {
    let mut s = scenario(1, 1);
    s.faults.push(fault(0, kind, S(0), None));
    s
}

#[tokio::test]
async fn outage_as_5xx_answers_the_status() {
    let run = start(&with(FaultKind::OutageHttp { status: 503 }));
    let res = post(&client(S(5)), &run.chat_url(0), 1, false)
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["x-slabench-provider"], "p0");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["type"], "server_error");
    let (stats, _) = run.finish().await;
    assert_eq!(stats.outcome(AttemptOutcome::HttpError), 1);
}

#[tokio::test]
async fn refuse_closes_the_port_for_the_window_only() {
    let mut s = scenario(1, 1);
    s.faults
        .push(fault(0, FaultKind::OutageRefuse, MS(300), Some(MS(400))));
    let run = start(&s);
    let c = client(S(2));
    // A kept-alive connection from before the window must not sneak through.
    assert_eq!(
        post(&c, &run.chat_url(0), 1, false).await.unwrap().status(),
        200
    );
    tokio::time::sleep(MS(400)).await;
    let err = post(&c, &run.chat_url(0), 2, false).await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    let fresh = post(&client(S(2)), &run.chat_url(0), 3, false)
        .await
        .unwrap_err();
    assert!(
        has_io_kind(&fresh, ErrorKind::ConnectionRefused),
        "{fresh:?}"
    );
    tokio::time::sleep(MS(400)).await;
    assert_eq!(
        post(&c, &run.chat_url(0), 4, false).await.unwrap().status(),
        200
    );
    let (stats, _) = run.finish().await;
    assert_eq!(stats.attempts, 2);
}

#[tokio::test]
async fn reset_is_a_connection_reset() {
    let run = start(&with(FaultKind::OutageReset));
    let err = post(&client(S(5)), &run.chat_url(0), 1, false)
        .await
        .unwrap_err();
    assert!(has_io_kind(&err, ErrorKind::ConnectionReset), "{err:?}");
    let (stats, attempts) = run.finish().await;
    assert_eq!(stats.outcome(AttemptOutcome::Reset), 1);
    assert_eq!(attempts[0].status, 0);
}

#[tokio::test]
async fn hang_runs_into_the_client_timeout_and_is_recorded_when_the_client_leaves() {
    let run = start(&with(FaultKind::OutageHang));
    let t0 = tokio::time::Instant::now();
    let err = post(&client(MS(300)), &run.chat_url(0), 1, false)
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(t0.elapsed() >= MS(300));
    // The client's timeout drops its connection; the provider notices.
    tokio::time::sleep(MS(100)).await;
    assert_eq!(run.set.stats().outcome(AttemptOutcome::Hang), 1);
    let (_, attempts) = run.finish().await;
    let waited = attempts[0].answered_us - attempts[0].arrived_us;
    assert!((280_000..1_000_000).contains(&waited), "{waited}");
}

#[tokio::test]
async fn hung_requests_do_not_block_shutdown() {
    let run = start(&with(FaultKind::OutageHang));
    let url = run.chat_url(0);
    let pending = tokio::spawn(async move { post(&client(S(30)), &url, 1, false).await });
    tokio::time::sleep(MS(200)).await;
    let t0 = tokio::time::Instant::now();
    let (stats, _) = run.finish().await;
    assert!(t0.elapsed() < S(2));
    assert_eq!(stats.outcome(AttemptOutcome::Hang), 1);
    assert!(pending.await.unwrap().is_err());
}

#[tokio::test]
async fn error_burst_with_429_carries_retry_after() {
    let run = start(&with(FaultKind::ErrorBurst { status: 429 }));
    let res = post(&client(S(5)), &run.chat_url(0), 1, false)
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "1");
    let (stats, _) = run.finish().await;
    assert_eq!(stats.outcome(AttemptOutcome::RateLimited), 1);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after_and_a_squeeze_tightens_it() {
    let mut s = scenario(1, 1);
    s.providers[0].profile.rate_limit = Some(RateLimit {
        rpm: 30.0,
        burst: 2.0,
        tpm: None,
        headers: None,
    });
    let run = start(&s);
    let c = client(S(5));
    let mut statuses = Vec::new();
    for i in 0..3 {
        let res = post(&c, &run.chat_url(0), i, false).await.unwrap();
        statuses.push(res.status().as_u16());
        if res.status() == 429 {
            assert_eq!(res.headers()["retry-after"], "2");
        }
    }
    assert_eq!(statuses, [200, 200, 429]);
    run.finish().await;

    let run = start(&with(FaultKind::RateLimitSqueeze { rpm: 60.0 }));
    let first = post(&c, &run.chat_url(0), 1, false).await.unwrap();
    let second = post(&c, &run.chat_url(0), 2, false).await.unwrap();
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 429)
    );
    assert_eq!(second.headers()["retry-after"], "1");
    run.finish().await;
}

#[tokio::test]
async fn latency_spike_slows_the_answer() {
    let mut s = with(FaultKind::LatencySpike {
        multiplier: 3.0,
        add: MS(20),
    });
    s.providers[0].profile.ttft = LatencyDist::Fixed(MS(50));
    let run = start(&s);
    let t0 = tokio::time::Instant::now();
    let res = post(&client(S(5)), &run.chat_url(0), 1, false)
        .await
        .unwrap();
    res.bytes().await.unwrap();
    let took = t0.elapsed();
    assert!(took >= MS(170) && took < MS(400), "{took:?}");
    run.finish().await;
}

#[tokio::test]
async fn malformed_answers_are_broken_as_named() {
    let c = client(S(5));
    let run = start(&with(FaultKind::Malformed(Malformation::InvalidJson)));
    let res = post(&c, &run.chat_url(0), 1, false).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.json::<serde_json::Value>().await.is_err());
    run.finish().await;

    let run = start(&with(FaultKind::Malformed(Malformation::NoChoices)));
    let res = post(&c, &run.chat_url(0), 1, false).await.unwrap();
    assert!(res
        .json::<ChatCompletion>()
        .await
        .unwrap()
        .choices
        .is_empty());
    run.finish().await;

    let run = start(&with(FaultKind::Malformed(Malformation::WrongContentType)));
    let res = post(&c, &run.chat_url(0), 1, true).await.unwrap();
    let ct = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/html"), "{ct}");
    let (stats, _) = run.finish().await;
    assert_eq!(stats.outcome(AttemptOutcome::Malformed), 1);
}

#[tokio::test]
async fn half_probability_hits_some_requests() {
    let mut s = with(FaultKind::ErrorBurst { status: 502 });
    s.faults[0].probability = 0.5;
    let run = start(&s);
    let c = client(S(5));
    let mut errors = 0;
    for i in 0..200 {
        if post(&c, &run.chat_url(0), i, false).await.unwrap().status() == 502 {
            errors += 1;
        }
    }
    assert!((60..140).contains(&errors), "{errors}");
    run.finish().await;
}
