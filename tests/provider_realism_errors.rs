//! Error answers as real providers send them, over loopback: the
//! Retry-After forms, the bodies of each dialect, errors that must not be
//! retried, and what the ledger keeps of them.

mod providers_support;

use std::time::{Duration, SystemTime};

use providers_support::*;
use slabench::providers::AttemptOutcome;
use slabench::scenario::{
    Dialect, ErrorSpec, Fault, FaultKind, RetryAfter, RetryAfterSpec, Scenario,
};

fn burst(status: u16, error: ErrorSpec) -> Fault {
    Fault {
        error,
        ..fault(0, FaultKind::ErrorBurst { status }, S(0), None)
    }
}

fn with(f: Fault) -> Scenario {
    let mut s = scenario(1, 1);
    s.faults.push(f);
    s
}

fn retry_after(wait: Duration, as_date: bool) -> ErrorSpec {
    ErrorSpec {
        retry_after: RetryAfterSpec::After(RetryAfter { wait, as_date }),
        ..ErrorSpec::default()
    }
}

/// One request; its status, headers and JSON body.
async fn ask(
    s: &Scenario,
) -> (
    u16,
    reqwest::header::HeaderMap,
    serde_json::Value,
    Vec<slabench::providers::Attempt>,
) {
    let run = start(s);
    let res = post(&client(S(5)), &run.chat_url(0), 1, false)
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.json().await.unwrap();
    let (_, attempts) = run.finish().await;
    (status, headers, body, attempts)
}

#[tokio::test]
async fn retry_after_in_seconds_is_rounded_up_beside_exact_milliseconds() {
    let (status, h, _, attempts) = ask(&with(burst(429, retry_after(S(7), false)))).await;
    assert_eq!(status, 429);
    assert_eq!(h["retry-after"], "7");
    assert_eq!(h["retry-after-ms"], "7000");
    assert_eq!(attempts[0].retry_after_ms, Some(7000));
    assert_eq!(attempts[0].fault, Some(0));
    assert_eq!(attempts[0].outcome, AttemptOutcome::RateLimited);

    let (_, h, _, attempts) = ask(&with(burst(503, retry_after(MS(1500), false)))).await;
    assert_eq!(h["retry-after"], "2");
    assert_eq!(h["retry-after-ms"], "1500");
    assert_eq!(attempts[0].retry_after_ms, Some(1500));
    assert_eq!(attempts[0].outcome, AttemptOutcome::HttpError);
}

#[tokio::test]
async fn retry_after_as_a_date_is_the_next_whole_second_alone() {
    let before = SystemTime::now();
    let (_, h, _, attempts) = ask(&with(burst(429, retry_after(S(5), true)))).await;
    let after = SystemTime::now();
    assert!(!h.contains_key("retry-after-ms"));
    let date = httpdate::parse_http_date(h["retry-after"].to_str().unwrap()).unwrap();
    // now + 5 s, up to the next whole second: within [before + 5, after + 6].
    assert!(
        date >= before + S(5) - S(1) && date <= after + S(6),
        "{date:?}"
    );
    let announced = attempts[0].retry_after_ms.unwrap();
    assert!((5_000..=6_000).contains(&announced), "{announced}");
}

#[tokio::test]
async fn a_429_sends_one_second_unless_told_and_none_means_none() {
    let (_, h, _, attempts) = ask(&with(burst(429, ErrorSpec::default()))).await;
    assert_eq!(h["retry-after"], "1");
    assert_eq!(h["retry-after-ms"], "1000");
    assert_eq!(attempts[0].retry_after_ms, Some(1000));
    let none = ErrorSpec {
        retry_after: RetryAfterSpec::Absent,
        ..ErrorSpec::default()
    };
    let (status, h, _, attempts) = ask(&with(burst(429, none))).await;
    assert_eq!(status, 429);
    assert!(!h.contains_key("retry-after") && !h.contains_key("retry-after-ms"));
    assert_eq!(attempts[0].retry_after_ms, None);
    // A 5xx sends none unless told.
    let (_, h, _, _) = ask(&with(burst(503, ErrorSpec::default()))).await;
    assert!(!h.contains_key("retry-after"));
}

#[tokio::test]
async fn context_length_exceeded_is_a_400_in_openai_shape() {
    let spec = ErrorSpec {
        code: Some("context_length_exceeded".into()),
        ..ErrorSpec::default()
    };
    let (status, h, body, attempts) = ask(&with(burst(400, spec))).await;
    assert_eq!(status, 400);
    assert!(!h.contains_key("retry-after"));
    assert_eq!(body["error"]["code"], "context_length_exceeded");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("context length"));
    assert_eq!(attempts[0].status, 400);
    assert_eq!(attempts[0].fault, Some(0));
}

/// The scenario file's way: validation decides the defaults.
fn from_toml(faults: &str) -> Scenario {
    let src = format!(
        r#"
[load]
stages = [{{ hold_rpm = 60, for = "10s" }}]
[[traffic]]
model = "default"
[[providers]]
name = "flash"
profile = "deepseek-v4-flash"
{faults}
"#
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/realism.toml");
    slabench::scenario::from_str(&src, &path, &|_| None).unwrap()
}

#[tokio::test]
async fn a_spent_quota_is_a_429_without_retry_after_unless_set() {
    let s = from_toml(
        r#"[[faults]]
provider = "flash"
kind = "error_burst"
status = 429
error_code = "insufficient_quota""#,
    );
    assert!(!s.faults[0].error.retryable(429));
    let (status, h, body, attempts) = ask(&s).await;
    assert_eq!(status, 429);
    assert!(!h.contains_key("retry-after"), "{h:?}");
    assert_eq!(body["error"]["type"], "insufficient_quota");
    assert_eq!(body["error"]["code"], "insufficient_quota");
    assert_eq!(attempts[0].retry_after_ms, None);
    let set = from_toml(
        r#"[[faults]]
provider = "flash"
kind = "error_burst"
status = 429
error_code = "insufficient_quota"
retry_after = "30s""#,
    );
    let (_, h, _, _) = ask(&set).await;
    assert_eq!(h["retry-after"], "30");
}

#[tokio::test]
async fn anthropic_overloaded_is_a_529_with_its_envelope() {
    let mut s = with(burst(529, ErrorSpec::default()));
    s.providers[0].profile.dialect = Dialect::Anthropic;
    let (status, h, body, _) = ask(&s).await;
    assert_eq!(status, 529);
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "overloaded_error");
    assert_eq!(body["error"]["message"], "Overloaded (simulated)");
    assert!(body.get("object").is_none());
}

#[tokio::test]
async fn vllm_errors_carry_object_error_and_the_status_as_code() {
    let mut s = with(Fault {
        error: ErrorSpec {
            dialect: Some(Dialect::Vllm),
            message: Some("engine dead".into()),
            ..ErrorSpec::default()
        },
        ..fault(0, FaultKind::OutageHttp { status: 503 }, S(0), None)
    });
    // The fault's dialect wins over the profile's.
    s.providers[0].profile.dialect = Dialect::Anthropic;
    let (status, _, body, attempts) = ask(&s).await;
    assert_eq!(status, 503);
    assert_eq!(body["object"], "error");
    assert_eq!(body["type"], "ServiceUnavailableError");
    assert_eq!(body["message"], "engine dead");
    assert_eq!(body["code"], 503);
    assert_eq!(attempts[0].fault, Some(0));
}

#[tokio::test]
async fn the_client_reads_each_dialects_error_type() {
    for (dialect, status, want) in [
        (Dialect::OpenAi, 500, "server_error"),
        (Dialect::Anthropic, 529, "overloaded_error"),
        (Dialect::Vllm, 400, "BadRequestError"),
    ] {
        let mut s = with(burst(status, ErrorSpec::default()));
        s.providers[0].profile.dialect = dialect;
        let run = start(&s);
        let res = post(&client(S(5)), &run.chat_url(0), 1, false)
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), status);
        let body = res.bytes().await.unwrap();
        assert_eq!(
            slabench::load::client::error_type(&body).as_deref(),
            Some(want),
            "{dialect:?}"
        );
        run.finish().await;
    }
}

#[tokio::test]
async fn retryable_is_told_in_x_should_retry() {
    let told = |retryable| ErrorSpec {
        retryable: Some(retryable),
        ..ErrorSpec::default()
    };
    let (status, h, _, _) = ask(&with(burst(503, told(false)))).await;
    assert_eq!(status, 503);
    assert_eq!(h["x-should-retry"], "false");
    let (_, h, _, _) = ask(&with(burst(400, told(true)))).await;
    assert_eq!(h["x-should-retry"], "true");
    let (_, h, _, _) = ask(&with(burst(503, ErrorSpec::default()))).await;
    assert!(
        !h.contains_key("x-should-retry"),
        "only when the scenario says"
    );
}
