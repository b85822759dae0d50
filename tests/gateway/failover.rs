//! Retries, failover, Retry-After, and what reaches the client when the
//! route gives up or does not fail over.

use std::time::Instant;

use slabench::scenario::FailoverOn;
use wiremock::{MockServer, ResponseTemplate};

use crate::support::*;

#[tokio::test]
async fn fails_over_on_503_to_the_next_provider() {
    let flash = provider(status(503)).await;
    let qwen = provider(completion("qwen")).await;
    let gw = start(
        &config(&[("default", &["flash", "qwen"])]),
        &[("flash", flash.uri()), ("qwen", qwen.uri())],
    )
    .await;

    let resp = ask(&gw, "default", 1).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(served_by(&resp), "qwen");
    assert_eq!(attempts(&resp), "flash:503,qwen:200");
    assert_eq!(
        header(&resp, "x-slabench-provider"),
        "qwen",
        "passed through"
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["system_fingerprint"], "slabench:qwen");
    assert_eq!((received(&flash).await, received(&qwen).await), (1, 1));
    gw.shutdown().await;
}

#[tokio::test]
async fn retries_the_same_provider_before_moving_on() {
    let flash = MockServer::start().await;
    mount_first(&flash, 1, status(502)).await;
    mount(&flash, completion("flash")).await;
    let qwen = provider(completion("qwen")).await;
    let mut cfg = config(&[("default", &["flash", "qwen"])]);
    cfg.policy.retries = 1;
    let gw = start(&cfg, &[("flash", flash.uri()), ("qwen", qwen.uri())]).await;

    let resp = ask(&gw, "default", 1).await;
    assert_eq!(attempts(&resp), "flash:502,flash:200");
    assert_eq!(served_by(&resp), "flash");

    // Both tries fail: then the next provider.
    flash.reset().await;
    mount(&flash, status(500)).await;
    let resp = ask(&gw, "default", 2).await;
    assert_eq!(attempts(&resp), "flash:500,flash:500,qwen:200");
    assert_eq!(received(&qwen).await, 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_slow_provider_times_out_and_fails_over() {
    let flash = provider(completion("flash").set_delay(5000 * MS)).await;
    let qwen = provider(completion("qwen")).await;
    let mut cfg = config(&[("default", &["flash", "qwen"])]);
    cfg.policy.attempt_timeout = 200 * MS;
    let gw = start(&cfg, &[("flash", flash.uri()), ("qwen", qwen.uri())]).await;

    let started = Instant::now();
    let resp = ask(&gw, "default", 1).await;
    assert_eq!(attempts(&resp), "flash:timeout,qwen:200");
    assert_eq!(served_by(&resp), "qwen");
    let took = started.elapsed();
    assert!(took >= 200 * MS && took < 3000 * MS, "took {took:?}");
    gw.shutdown().await;
}

#[tokio::test]
async fn connection_refused_fails_over() {
    let qwen = provider(completion("qwen")).await;
    let gw = start(
        &config(&[("default", &["flash", "qwen"])]),
        &[("flash", refused_url()), ("qwen", qwen.uri())],
    )
    .await;

    let resp = ask(&gw, "default", 1).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(attempts(&resp), "flash:connect,qwen:200");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_short_retry_after_is_waited_for_on_the_same_provider() {
    let flash = MockServer::start().await;
    mount_first(&flash, 1, status(429).insert_header("retry-after", "1")).await;
    mount(&flash, completion("flash")).await;
    let qwen = provider(completion("qwen")).await;
    let mut cfg = config(&[("default", &["flash", "qwen"])]);
    cfg.policy.retries = 1;
    let gw = start(&cfg, &[("flash", flash.uri()), ("qwen", qwen.uri())]).await;

    let started = Instant::now();
    let resp = ask(&gw, "default", 1).await;
    assert_eq!(attempts(&resp), "flash:429,flash:200");
    let took = started.elapsed();
    assert!(took >= 1000 * MS && took < 4000 * MS, "took {took:?}");
    assert_eq!(received(&qwen).await, 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_retry_after_above_the_limit_moves_on_at_once() {
    let flash = provider(status(429).insert_header("retry-after", "30")).await;
    let qwen = provider(completion("qwen")).await;
    let mut cfg = config(&[("default", &["flash", "qwen"])]);
    cfg.policy.retries = 3;
    cfg.policy.max_retry_wait = 1000 * MS;
    let gw = start(&cfg, &[("flash", flash.uri()), ("qwen", qwen.uri())]).await;

    let started = Instant::now();
    let resp = ask(&gw, "default", 1).await;
    assert_eq!(attempts(&resp), "flash:429,qwen:200", "no retries on flash");
    assert!(
        started.elapsed() < 1000 * MS,
        "took {:?}",
        started.elapsed()
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_client_error_is_returned_as_it_is() {
    let body = r#"{"error":{"message":"max_tokens too large","type":"invalid_request_error","code":null}}"#;
    let flash = provider(ResponseTemplate::new(400).set_body_raw(body, "application/json")).await;
    let qwen = provider(completion("qwen")).await;
    let gw = start(
        &config(&[("default", &["flash", "qwen"])]),
        &[("flash", flash.uri()), ("qwen", qwen.uri())],
    )
    .await;

    let resp = ask(&gw, "default", 1).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(attempts(&resp), "flash:400");
    assert_eq!(served_by(&resp), "flash");
    assert_eq!(resp.text().await.unwrap(), body);
    assert_eq!(received(&qwen).await, 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn outcomes_left_out_of_failover_on_reach_the_client() {
    let flash = provider(status(429).insert_header("retry-after", "7")).await;
    let qwen = provider(completion("qwen")).await;
    let mut cfg = config(&[("default", &["flash", "qwen"]), ("down", &["gone", "qwen"])]);
    cfg.policy.failover_on = vec![slabench::scenario::FailoverOn::Status5xx];
    let gw = start(
        &cfg,
        &[
            ("flash", flash.uri()),
            ("qwen", qwen.uri()),
            ("gone", refused_url()),
        ],
    )
    .await;

    let resp = ask(&gw, "default", 1).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(header(&resp, "retry-after"), "7");
    assert_eq!(attempts(&resp), "flash:429");

    let resp = ask(&gw, "down", 2).await;
    assert_eq!(resp.status(), 502);
    assert_eq!(attempts(&resp), "gone:connect");
    assert_eq!(received(&qwen).await, 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn when_every_provider_fails_the_last_error_comes_back_as_received() {
    let flash = provider(status(503)).await;
    let anthropic =
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let qwen = provider(
        ResponseTemplate::new(529)
            .insert_header("retry-after", "0")
            .set_body_raw(anthropic, "application/json"),
    )
    .await;
    // Kept alive to the end: a dropped server's port could be taken by
    // another test's provider.
    let hang = provider(completion("hang").set_delay(5000 * MS)).await;
    let gw = start(
        &config(&[
            ("default", &["flash", "qwen"]),
            ("dead", &["qwen", "gone"]),
            ("slow", &["qwen", "hang"]),
        ]),
        &[
            ("flash", flash.uri()),
            ("qwen", qwen.uri()),
            ("gone", refused_url()),
            ("hang", hang.uri()),
        ],
    )
    .await;

    let resp = ask(&gw, "default", 1).await;
    assert_eq!(resp.status(), 529, "a 529 stays a 529");
    assert_eq!(attempts(&resp), "flash:503,qwen:529");
    assert_eq!(served_by(&resp), "qwen", "whose answer it is");
    assert_eq!(header(&resp, "content-type"), "application/json");
    assert_eq!(header(&resp, "retry-after"), "0");
    assert_eq!(resp.text().await.unwrap(), anthropic, "the body as sent");

    let resp = ask(&gw, "dead", 2).await;
    assert_eq!(resp.status(), 502, "the last attempt had no answer");
    assert_eq!(attempts(&resp), "qwen:529,gone:connect");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "providers_exhausted");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("qwen:529"));

    let resp = ask(&gw, "slow", 3).await;
    assert_eq!(resp.status(), 504, "the last attempt timed out");
    assert_eq!(attempts(&resp), "qwen:529,hang:timeout");
    gw.shutdown().await;
}

#[tokio::test]
async fn with_every_provider_cooling_down_the_gateway_answers_429_with_the_shortest_wait() {
    let flash = provider(status(429).insert_header("retry-after", "5")).await;
    let qwen = provider(status(503).insert_header("retry-after", "2.5")).await;
    let mut cfg = config(&[("default", &["flash", "qwen"])]);
    cfg.policy.retries = 1;
    cfg.policy.max_retry_wait = 1000 * MS;
    let gw = start(&cfg, &[("flash", flash.uri()), ("qwen", qwen.uri())]).await;

    let resp = ask(&gw, "default", 1).await;
    assert_eq!(resp.status(), 503, "the last provider error, as it came");
    assert_eq!(
        attempts(&resp),
        "flash:429,qwen:503",
        "waits too long to retry"
    );
    assert_eq!(header(&resp, "retry-after"), "2.5");

    let started = Instant::now();
    let resp = ask(&gw, "default", 2).await;
    assert!(started.elapsed() < 1000 * MS, "at once");
    assert_eq!(resp.status(), 429);
    assert_eq!(attempts(&resp), "");
    assert_eq!(skipped(&resp), "flash,qwen");
    let ms: u64 = header(&resp, "retry-after-ms").parse().unwrap();
    assert!(ms > 1500 && ms <= 2500, "qwen's wait left: {ms} ms");
    assert_eq!(
        header(&resp, "retry-after"),
        "3",
        "whole seconds, rounded up"
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "providers_cooling_down");
    assert_eq!((received(&flash).await, received(&qwen).await), (1, 1));
    gw.shutdown().await;
}

#[tokio::test]
async fn a_retry_after_on_a_5xx_is_waited_out_before_the_retry() {
    let flash = MockServer::start().await;
    mount_first(
        &flash,
        1,
        status(503).insert_header("retry-after-ms", "400"),
    )
    .await;
    mount(&flash, completion("flash")).await;
    let mut cfg = config(&[("default", &["flash"])]);
    cfg.policy.retries = 1;
    let gw = start(&cfg, &[("flash", flash.uri())]).await;

    let started = Instant::now();
    let resp = ask(&gw, "default", 1).await;
    assert_eq!(attempts(&resp), "flash:503,flash:200");
    let took = started.elapsed();
    assert!(took >= 400 * MS && took < 3000 * MS, "took {took:?}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_200_that_is_not_a_chat_completion_fails_over() {
    let broken = provider(
        ResponseTemplate::new(200).set_body_raw("{\"id\":\"x\",\"choi", "application/json"),
    )
    .await;
    let qwen = provider(completion("qwen")).await;
    let gw = start(
        &config(&[("default", &["broken", "qwen"])]),
        &[("broken", broken.uri()), ("qwen", qwen.uri())],
    )
    .await;
    let resp = ask(&gw, "default", 1).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(attempts(&resp), "broken:malformed,qwen:200");
    assert_eq!(served_by(&resp), "qwen");

    // With nowhere left to go the client gets a 502 naming the provider,
    // never the broken body as if it were an answer.
    let gw2 = start(
        &config(&[("default", &["broken"])]),
        &[("broken", broken.uri())],
    )
    .await;
    let resp = ask(&gw2, "default", 2).await;
    assert_eq!(resp.status(), 502);
    assert_eq!(attempts(&resp), "broken:malformed");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_malformed");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("broken"));
    gw.shutdown().await;
    gw2.shutdown().await;
}

#[tokio::test]
async fn a_malformed_200_is_failed_over_only_if_5xx_are() {
    let broken =
        provider(ResponseTemplate::new(200).set_body_raw("<html>ok</html>", "text/html")).await;
    let qwen = provider(completion("qwen")).await;
    let mut cfg = config(&[("default", &["broken", "qwen"])]);
    cfg.policy.failover_on = vec![FailoverOn::Timeout, FailoverOn::Connect];
    let gw = start(&cfg, &[("broken", broken.uri()), ("qwen", qwen.uri())]).await;

    let resp = ask(&gw, "default", 1).await;
    assert_eq!(resp.status(), 502);
    assert_eq!(attempts(&resp), "broken:malformed");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_malformed");
    assert_eq!(
        received(&qwen).await,
        0,
        "no failover without 5xx in failover_on"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_200_with_content_parts_and_partial_usage_is_relayed() {
    // Valid answers that are not in slabench's own completion shape: no
    // id, content as an array of parts, usage without total_tokens.
    let answer = r#"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":[{"type":"text","text":"hi"}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#;
    let parts = provider(ResponseTemplate::new(200).set_body_raw(answer, "application/json")).await;
    let qwen = provider(completion("qwen")).await;
    let gw = start(
        &config(&[("default", &["parts", "qwen"])]),
        &[("parts", parts.uri()), ("qwen", qwen.uri())],
    )
    .await;

    let resp = ask(&gw, "default", 1).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(attempts(&resp), "parts:200");
    assert_eq!(resp.text().await.unwrap(), answer, "relayed as received");
    assert_eq!(received(&qwen).await, 0);
    gw.shutdown().await;
}
