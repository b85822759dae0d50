//! The breaker in the running gateway: a burst opens it, first attempts go
//! straight to the fallback, half-open probes close or re-open it.

use wiremock::MockServer;

use crate::support::*;

async fn gateway_with_breaker(
    flash: &MockServer,
    qwen: &MockServer,
) -> slabench::gateway::BuiltinGatewayServer {
    let mut cfg = config(&[("default", &["flash", "qwen"])]);
    cfg.breaker.enabled = true;
    cfg.breaker.failures = 3;
    cfg.breaker.cool_off = 500 * MS;
    start(&cfg, &[("flash", flash.uri()), ("qwen", qwen.uri())]).await
}

fn state_of(
    gw: &slabench::gateway::BuiltinGatewayServer,
    name: &str,
) -> slabench::gateway::BreakerState {
    gw.breaker_states()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap()
        .1
}

/// Sends the burst that opens flash's breaker.
async fn open_flash(gw: &slabench::gateway::BuiltinGatewayServer) {
    for seq in 0..3 {
        let resp = ask(gw, "default", seq).await;
        assert_eq!(attempts(&resp), "flash:503,qwen:200");
    }
    assert_eq!(state_of(gw, "flash"), slabench::gateway::BreakerState::Open);
}

#[tokio::test]
async fn a_burst_opens_the_breaker_and_a_good_probe_closes_it() {
    let flash = provider(status(503)).await;
    let qwen = provider(completion("qwen")).await;
    let gw = gateway_with_breaker(&flash, &qwen).await;
    open_flash(&gw).await;

    // Open: first attempts go straight to the fallback.
    for seq in 3..6 {
        let resp = ask(&gw, "default", seq).await;
        assert_eq!(attempts(&resp), "qwen:200");
        assert_eq!(skipped(&resp), "flash");
        assert_eq!(served_by(&resp), "qwen");
    }
    assert_eq!(received(&flash).await, 3);

    // Flash recovers; after the cool-off one probe goes through and closes it.
    flash.reset().await;
    mount(&flash, completion("flash")).await;
    tokio::time::sleep(520 * MS).await;
    let resp = ask(&gw, "default", 6).await;
    assert_eq!(attempts(&resp), "flash:200");
    assert_eq!(skipped(&resp), "");
    assert_eq!(
        state_of(&gw, "flash"),
        slabench::gateway::BreakerState::Closed
    );
    let resp = ask(&gw, "default", 7).await;
    assert_eq!(served_by(&resp), "flash");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_failed_probe_opens_it_again() {
    let flash = provider(status(503)).await;
    let qwen = provider(completion("qwen")).await;
    let gw = gateway_with_breaker(&flash, &qwen).await;
    open_flash(&gw).await;

    tokio::time::sleep(520 * MS).await;
    let resp = ask(&gw, "default", 3).await;
    assert_eq!(attempts(&resp), "flash:503,qwen:200", "the probe");
    let resp = ask(&gw, "default", 4).await;
    assert_eq!(attempts(&resp), "qwen:200");
    assert_eq!(skipped(&resp), "flash", "open again, for a full cool-off");
    assert_eq!(received(&flash).await, 4);
    gw.shutdown().await;
}

#[tokio::test]
async fn with_every_breaker_open_the_gateway_answers_502_at_once() {
    let flash = provider(status(503)).await;
    let mut cfg = config(&[("default", &["flash"])]);
    cfg.breaker.enabled = true;
    cfg.breaker.failures = 1;
    cfg.breaker.cool_off = std::time::Duration::from_secs(30);
    let gw = start(&cfg, &[("flash", flash.uri())]).await;

    assert_eq!(ask(&gw, "default", 1).await.status(), 503);
    let resp = ask(&gw, "default", 2).await;
    assert_eq!(resp.status(), 502);
    assert_eq!(skipped(&resp), "flash");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "no_provider_available");
    assert_eq!(received(&flash).await, 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn client_errors_and_a_spent_quota_count_as_healthy() {
    let quota =
        r#"{"error":{"message":"m","type":"insufficient_quota","code":"insufficient_quota"}}"#;
    let flash = MockServer::start().await;
    mount_first(&flash, 3, status(400)).await;
    mount_first(
        &flash,
        3,
        wiremock::ResponseTemplate::new(429).set_body_raw(quota, "application/json"),
    )
    .await;
    mount(&flash, completion("flash")).await;
    let qwen = provider(completion("qwen")).await;
    let gw = gateway_with_breaker(&flash, &qwen).await;

    for (seq, expected) in [(1, 400), (2, 400), (3, 400), (4, 429), (5, 429), (6, 429)] {
        let resp = ask(&gw, "default", seq).await;
        assert_eq!(resp.status(), expected);
        assert_eq!(skipped(&resp), "");
    }
    assert_eq!(
        state_of(&gw, "flash"),
        slabench::gateway::BreakerState::Closed
    );
    assert_eq!(served_by(&ask(&gw, "default", 7).await), "flash");
    assert_eq!(received(&qwen).await, 0, "neither failed over");
    gw.shutdown().await;
}

#[tokio::test]
async fn half_open_sends_at_most_half_open_probes_at_once() {
    let flash = provider(status(503)).await;
    let qwen = provider(completion("qwen")).await;
    let mut cfg = config(&[("default", &["flash", "qwen"])]);
    cfg.policy.attempt_timeout = std::time::Duration::from_secs(5);
    cfg.breaker.enabled = true;
    cfg.breaker.failures = 1;
    cfg.breaker.cool_off = 300 * MS;
    cfg.breaker.half_open_probes = 2;
    let gw = start(&cfg, &[("flash", flash.uri()), ("qwen", qwen.uri())]).await;
    assert_eq!(
        attempts(&ask(&gw, "default", 0).await),
        "flash:503,qwen:200"
    );

    // Slow probes, so that every request below arrives while they are out.
    flash.reset().await;
    mount(&flash, completion("flash").set_delay(1500 * MS)).await;
    tokio::time::sleep(320 * MS).await;
    let answers =
        futures_util::future::join_all((1..=10).map(|seq| ask(&gw, "default", seq))).await;
    let probed = answers.iter().filter(|r| served_by(r) == "flash").count();
    let passed_over = answers.iter().filter(|r| skipped(r) == "flash").count();
    assert_eq!((probed, passed_over), (2, 8));
    assert_eq!(
        received(&flash).await,
        2,
        "no request leaked past the probes"
    );
    gw.shutdown().await;
}
