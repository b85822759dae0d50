//! Rate limits as real providers tell them, and a flapping provider, over
//! loopback: `x-ratelimit-*` headers from the buckets' true state, a token
//! limit's 429s, and the down and up parts of each flapping kind.

mod providers_support;

use std::io::ErrorKind;
use std::time::Duration;

use providers_support::*;
use slabench::providers::AttemptOutcome;
use slabench::scenario::{FaultKind, FlapAs, RateLimit, RateLimitHeaders, Scenario};
use tokio::time::Instant;

fn limited(rpm: f64, burst: f64, tpm: Option<f64>, headers: RateLimitHeaders) -> Scenario {
    let mut s = scenario(1, 1);
    s.providers[0].profile.rate_limit = Some(RateLimit {
        rpm,
        burst,
        tpm,
        headers: Some(headers),
    });
    s
}

/// A chat request asking for `max_tokens`.
async fn ask(
    c: &reqwest::Client,
    url: &str,
    tag: u64,
    stream: bool,
    max_tokens: u32,
) -> reqwest::Response {
    let mut b = body(tag, stream);
    b["max_tokens"] = max_tokens.into();
    c.post(url).json(&b).send().await.unwrap()
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .to_str()
        .unwrap()
        .to_string()
}

fn number(res: &reqwest::Response, name: &str) -> f64 {
    header(res, name).parse().unwrap()
}

/// A Go duration as OpenAI sends it ("1s", "6m0s", "250ms"), in seconds.
fn go_secs(v: &str) -> f64 {
    if let Some(ms) = v.strip_suffix("ms") {
        return ms.parse::<f64>().unwrap() / 1000.0;
    }
    let (mins, rest) = v
        .split_once('m')
        .map_or((0.0, v), |(m, r)| (m.parse().unwrap(), r));
    mins * 60.0 + rest.strip_suffix('s').unwrap().parse::<f64>().unwrap()
}

#[tokio::test]
async fn headers_tell_both_buckets_true_state() {
    // 60 rpm (one per second), burst 5; 6000 tpm (100 tokens per second).
    let run = start(&limited(60.0, 5.0, Some(6000.0), RateLimitHeaders::Exact));
    let c = client(S(5));
    let t0 = Instant::now();
    let mut spent = 0.0;
    for (i, stream) in [false, true, false].into_iter().enumerate() {
        let res = ask(&c, &run.chat_url(0), i as u64, stream, 500).await;
        assert_eq!(res.status(), 200);
        let elapsed = t0.elapsed().as_secs_f64();
        assert!(
            elapsed < 0.9,
            "too slow to tell the buckets apart: {elapsed}"
        );
        assert_eq!(header(&res, "x-ratelimit-limit-requests"), "60");
        assert_eq!(
            number(&res, "x-ratelimit-remaining-requests"),
            4.0 - i as f64
        );
        let reset = go_secs(&header(&res, "x-ratelimit-reset-requests"));
        let missing = 1.0 + i as f64;
        assert!(
            reset <= missing && reset >= missing - elapsed - 0.01,
            "{reset}"
        );
        assert_eq!(header(&res, "x-ratelimit-limit-tokens"), "6000");
        // Prompt (about 5 tokens) + max_tokens 500.
        spent += 500.0;
        let left = number(&res, "x-ratelimit-remaining-tokens");
        // What it refilled meanwhile (100 tokens per second) is back in.
        let refilled = 100.0 * elapsed + 1.0;
        assert!(
            left <= 6000.0 - spent + refilled && left >= 6000.0 - spent - 20.0,
            "{left}"
        );
        let reset = go_secs(&header(&res, "x-ratelimit-reset-tokens"));
        let expected = (6000.0 - left) / 100.0;
        assert!(
            (reset - expected).abs() < 0.05 + elapsed,
            "{reset} vs {expected}"
        );
        spent = 6000.0 - left;
        let _ = res.bytes().await;
    }
    run.finish().await;
}

#[tokio::test]
async fn a_token_limit_refuses_with_the_longer_wait_and_says_so() {
    // Only a token limit: 600 tpm, 10 tokens per second, bucket of 600.
    let s = limited(
        f64::INFINITY,
        f64::INFINITY,
        Some(600.0),
        RateLimitHeaders::Exact,
    );
    let run = start(&s);
    let c = client(S(5));
    let first = ask(&c, &run.chat_url(0), 1, false, 400).await;
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("x-ratelimit-limit-requests").is_none());
    let left = number(&first, "x-ratelimit-remaining-tokens");
    assert!((180.0..=200.0).contains(&left), "{left}");
    let second = ask(&c, &run.chat_url(0), 2, true, 400).await;
    assert_eq!(second.status(), 429);
    // About 210 tokens short at 10 per second: about 21 s.
    let wait = number(&second, "retry-after");
    assert!((20.0..=23.0).contains(&wait), "{wait}");
    let ms = number(&second, "retry-after-ms");
    assert!(ms <= wait * 1000.0 && ms > (wait - 1.0) * 1000.0, "{ms}");
    let still = number(&second, "x-ratelimit-remaining-tokens");
    assert!(still >= left && still <= left + 1.0, "{still} vs {left}");
    // A small request still fits.
    let small = ask(&c, &run.chat_url(0), 3, false, 50).await;
    assert_eq!(small.status(), 200);
    let (stats, attempts) = run.finish().await;
    assert_eq!(stats.outcome(AttemptOutcome::RateLimited), 1);
    assert_eq!(attempts[1].retry_after_ms, Some(ms as u32));
}

#[tokio::test]
async fn the_request_limit_429_carries_headers_with_nothing_left() {
    let run = start(&limited(60.0, 1.0, None, RateLimitHeaders::Exact));
    let c = client(S(5));
    assert_eq!(ask(&c, &run.chat_url(0), 1, false, 10).await.status(), 200);
    let res = ask(&c, &run.chat_url(0), 2, false, 10).await;
    assert_eq!(res.status(), 429);
    assert_eq!(header(&res, "retry-after"), "1");
    assert_eq!(header(&res, "x-ratelimit-remaining-requests"), "0");
    assert!(res.headers().get("x-ratelimit-limit-tokens").is_none());
    run.finish().await;
}

#[tokio::test]
async fn odd_header_values_as_some_apis_send_them() {
    let run = start(&limited(600.0, 10.0, Some(1e6), RateLimitHeaders::MinusOne));
    let res = ask(&client(S(5)), &run.chat_url(0), 1, true, 10).await;
    assert_eq!(res.status(), 200);
    for what in ["requests", "tokens"] {
        assert_eq!(header(&res, &format!("x-ratelimit-limit-{what}")), "-1");
        assert_eq!(header(&res, &format!("x-ratelimit-remaining-{what}")), "-1");
        assert!(go_secs(&header(&res, &format!("x-ratelimit-reset-{what}"))) < 1.0);
    }
    run.finish().await;
    let run = start(&limited(600.0, 10.0, Some(1e6), RateLimitHeaders::Zero));
    let res = ask(&client(S(5)), &run.chat_url(0), 1, false, 10).await;
    assert_eq!(header(&res, "x-ratelimit-limit-requests"), "600");
    assert_eq!(header(&res, "x-ratelimit-remaining-requests"), "0");
    assert_eq!(header(&res, "x-ratelimit-limit-tokens"), "1000000");
    assert_eq!(header(&res, "x-ratelimit-remaining-tokens"), "0");
    run.finish().await;
}

#[tokio::test]
async fn a_squeeze_keeps_the_token_limit_and_the_headers() {
    let mut s = limited(6000.0, 100.0, Some(1e6), RateLimitHeaders::Exact);
    s.faults.push(fault(
        0,
        FaultKind::RateLimitSqueeze { rpm: 120.0 },
        S(0),
        None,
    ));
    let run = start(&s);
    let c = client(S(5));
    let res = ask(&c, &run.chat_url(0), 1, false, 10).await;
    assert_eq!(header(&res, "x-ratelimit-limit-requests"), "120");
    assert_eq!(header(&res, "x-ratelimit-remaining-requests"), "1");
    assert_eq!(header(&res, "x-ratelimit-limit-tokens"), "1000000");
    run.finish().await;
}

#[tokio::test]
async fn no_headers_unless_asked() {
    let mut s = scenario(1, 1);
    s.providers[0].profile.rate_limit = Some(RateLimit {
        rpm: 600.0,
        burst: 10.0,
        tpm: Some(1e6),
        headers: None,
    });
    let run = start(&s);
    let res = ask(&client(S(5)), &run.chat_url(0), 1, false, 10).await;
    assert_eq!(res.status(), 200);
    assert!(!res
        .headers()
        .keys()
        .any(|k| k.as_str().starts_with("x-ratelimit")));
    run.finish().await;
}

/// A provider flapping with a 1 s period, down for the first half.
fn flapping(down: FlapAs) -> Scenario {
    let mut s = scenario(1, 1);
    let kind = FaultKind::Flapping {
        period: S(1),
        duty: 0.5,
        down,
    };
    s.faults.push(fault(0, kind, S(0), None));
    s
}

/// Sleeps until `at` after the run's t=0.
async fn at(run: &Running, t: Duration) {
    tokio::time::sleep_until(run.clock.origin().unwrap() + t).await;
}

/// Probes in the middle of each half of two periods.
const PROBES: [(u64, bool); 4] = [(250, true), (750, false), (1250, true), (1750, false)];

#[tokio::test]
async fn flapping_as_5xx_follows_its_phases() {
    let run = start(&flapping(FlapAs::Http { status: 502 }));
    let c = client(S(2));
    for (ms, down) in PROBES {
        at(&run, MS(ms)).await;
        let res = post(&c, &run.chat_url(0), ms, false).await.unwrap();
        assert_eq!(res.status() == 502, down, "at {ms} ms: {}", res.status());
    }
    let (_, attempts) = run.finish().await;
    let faulted: Vec<_> = attempts.iter().map(|a| a.fault).collect();
    assert_eq!(faulted, [Some(0), None, Some(0), None]);
}

#[tokio::test]
async fn flapping_as_refuse_closes_the_port_in_each_down_part_only() {
    let run = start(&flapping(FlapAs::Refuse));
    let pooled = client(S(2));
    for (ms, down) in PROBES {
        at(&run, MS(ms)).await;
        // A fresh connection, and one kept alive from an up part.
        let fresh = post(&client(S(2)), &run.chat_url(0), ms, false).await;
        let kept = post(&pooled, &run.chat_url(0), ms + 1, false).await;
        if down {
            let err = fresh.unwrap_err();
            assert!(
                has_io_kind(&err, ErrorKind::ConnectionRefused),
                "at {ms} ms: {err:?}"
            );
            assert!(kept.unwrap_err().is_connect(), "at {ms} ms");
        } else {
            assert_eq!(fresh.unwrap().status(), 200, "at {ms} ms");
            assert_eq!(kept.unwrap().status(), 200, "at {ms} ms");
        }
    }
    let (stats, _) = run.finish().await;
    assert_eq!(stats.attempts, 4);
}

#[tokio::test]
async fn flapping_as_reset_resets_only_while_down() {
    let run = start(&flapping(FlapAs::Reset));
    for (ms, down) in PROBES {
        at(&run, MS(ms)).await;
        let res = post(&client(S(2)), &run.chat_url(0), ms, false).await;
        match res {
            Err(e) => assert!(
                down && has_io_kind(&e, ErrorKind::ConnectionReset),
                "at {ms} ms: {e:?}"
            ),
            Ok(r) => assert!(!down && r.status() == 200, "at {ms} ms"),
        }
    }
    let (stats, _) = run.finish().await;
    assert_eq!(stats.outcome(AttemptOutcome::Reset), 2);
}
