//! Streams as real providers break and bend them, over loopback: exact
//! break points, error events after a 200 in each dialect, keep-alive
//! pings, a byte-rate cap, fake streaming; and what the client makes of
//! each.

mod providers_support;

use std::time::Duration;

use providers_support::*;
use slabench::load::client::{send, Target, Timing};
use slabench::metrics::Outcome;
use slabench::openai::ChatChunk;
use slabench::providers::{Attempt, AttemptOutcome};
use slabench::scenario::{CountDist, Dialect, Fault, FaultKind, LatencyDist, Scenario};
use tokio::time::Instant;

/// 20 tokens at 100 tokens/s after 50 ms, 2 per chunk: the last at 240 ms.
fn paced() -> Scenario {
    let mut s = scenario(1, 1);
    let p = &mut s.providers[0].profile;
    p.ttft = LatencyDist::Fixed(MS(50));
    p.tokens_per_s = 100.0;
    p.output_tokens = CountDist::Fixed(20);
    p.stream_chunk_tokens = 2;
    s
}

fn breaking(kind: FaultKind, after: Option<(u32, u32)>) -> Fault {
    Fault {
        after_tokens: after,
        ..fault(0, kind, S(0), None)
    }
}

/// The `data:` payloads of the complete events in `text`.
fn data(text: &str) -> Vec<&str> {
    text.split("\n\n")
        .flat_map(|e| e.lines())
        .filter_map(|l| l.strip_prefix("data: "))
        .collect()
}

/// Content words in the chunk events of `text`.
fn words(text: &str) -> usize {
    data(text)
        .into_iter()
        .filter_map(|d| serde_json::from_str::<ChatChunk>(d).ok())
        .flat_map(|c| c.choices)
        .filter_map(|c| c.delta.content)
        .map(|t| t.split_whitespace().count())
        .sum()
}

/// One streaming request: the body, read times (from just before the
/// send), and the ledger.
async fn stream(s: &Scenario) -> (String, Vec<Duration>, Vec<Attempt>) {
    let run = start(s);
    let t0 = Instant::now();
    let res = post(&client(S(10)), &run.chat_url(0), 1, true)
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (text, times) = read_stream(res).await;
    let (_, attempts) = run.finish().await;
    (text, times.iter().map(|t| *t - t0).collect(), attempts)
}

#[tokio::test]
async fn a_cut_after_five_tokens_sends_exactly_five() {
    let mut s = paced();
    s.faults.push(breaking(FaultKind::StreamCut, Some((5, 5))));
    let (text, _, attempts) = stream(&s).await;
    assert_eq!(words(&text), 5);
    assert!(!text.contains("[DONE]") && !text.contains("finish_reason\":\"stop"));
    assert_eq!(attempts[0].outcome, AttemptOutcome::StreamCut);
    assert_eq!(attempts[0].output_tokens, 5);
    assert_eq!(attempts[0].status, 200);
}

#[tokio::test]
async fn a_break_at_zero_comes_before_any_content() {
    let mut s = paced();
    s.faults.push(breaking(FaultKind::StreamCut, Some((0, 0))));
    let (text, _, attempts) = stream(&s).await;
    assert_eq!(text, "");
    assert_eq!(attempts[0].output_tokens, 0);
    let mut s = paced();
    s.faults
        .push(breaking(FaultKind::StreamErrorEvent, Some((0, 0))));
    let (text, _, attempts) = stream(&s).await;
    assert_eq!(data(&text).len(), 1);
    assert!(text.starts_with("data: {\"error\""));
    assert_eq!(attempts[0].output_tokens, 0);
    assert_eq!(attempts[0].outcome, AttemptOutcome::StreamError);
}

#[tokio::test]
async fn a_range_is_drawn_per_request_and_again_with_the_same_seed() {
    async fn points(s: &Scenario) -> Vec<u32> {
        let run = start(s);
        let c = client(S(5));
        for tag in 0..12 {
            let res = post(&c, &run.chat_url(0), tag, true).await.unwrap();
            read_stream(res).await;
        }
        let (_, attempts) = run.finish().await;
        attempts.iter().map(|a| a.output_tokens).collect()
    }
    let mut s = paced();
    s.providers[0].profile.tokens_per_s = 1000.0;
    s.faults.push(breaking(FaultKind::StreamCut, Some((3, 8))));
    let first = points(&s).await;
    assert!(first.iter().all(|n| (3..=8).contains(n)), "{first:?}");
    let mut distinct = first.clone();
    distinct.sort();
    distinct.dedup();
    assert!(distinct.len() >= 3, "{first:?}");
    assert_eq!(points(&s).await, first);
}

#[tokio::test]
async fn error_events_after_a_200_in_each_dialect() {
    for dialect in [Dialect::OpenAi, Dialect::Anthropic, Dialect::Vllm] {
        let mut s = paced();
        s.providers[0].profile.dialect = dialect;
        s.faults
            .push(breaking(FaultKind::StreamErrorEvent, Some((3, 3))));
        let (text, _, attempts) = stream(&s).await;
        assert_eq!(words(&text), 3, "{dialect:?}");
        assert!(!text.contains("[DONE]"));
        let last = text.trim_end().rsplit("\n\n").next().unwrap();
        let payload = match dialect {
            Dialect::Anthropic => last.strip_prefix("event: error\ndata: "),
            _ => last.strip_prefix("data: "),
        };
        let err: serde_json::Value = serde_json::from_str(payload.unwrap()).unwrap();
        match dialect {
            Dialect::OpenAi => assert_eq!(err["error"]["type"], "server_error"),
            Dialect::Anthropic => {
                assert_eq!(err["type"], "error");
                assert_eq!(err["error"]["type"], "api_error");
            }
            Dialect::Vllm => {
                assert_eq!(err["object"], "error");
                assert_eq!(err["code"], 500);
            }
        }
        let a = &attempts[0];
        assert_eq!((a.status, a.outcome), (200, AttemptOutcome::StreamError));
        assert_eq!((a.output_tokens, a.fault), (3, Some(0)));
    }
}

/// What the load generator's client makes of the first provider's answer.
async fn client_outcome(s: &Scenario) -> (Outcome, slabench::metrics::request::Measured) {
    let run = start(s);
    let target = Target::new(&run.urls[0], &[], S(10), 1)
        .unwrap()
        .check_answers(s.seed, 1);
    let now = Instant::now();
    let timing = Timing {
        intended_at: now,
        sent_at: now,
    };
    let body = serde_json::to_vec(&body(1, true)).unwrap();
    let got = send(&target, 1, body, true, timing).await;
    run.finish().await;
    got
}

#[tokio::test]
async fn the_client_reads_every_dialects_error_event_as_a_broken_stream() {
    for dialect in [Dialect::OpenAi, Dialect::Anthropic, Dialect::Vllm] {
        let mut s = paced();
        s.providers[0].profile.dialect = dialect;
        s.faults
            .push(breaking(FaultKind::StreamErrorEvent, Some((4, 4))));
        let (outcome, _) = client_outcome(&s).await;
        assert_eq!(outcome, Outcome::TruncatedStream, "{dialect:?}");
    }
}

#[tokio::test]
async fn a_stall_after_six_tokens_pauses_exactly_there() {
    let mut s = paced();
    s.faults.push(breaking(
        FaultKind::StreamStall { pause: MS(500) },
        Some((6, 6)),
    ));
    let run = start(&s);
    let res = post(&client(S(5)), &run.chat_url(0), 1, true)
        .await
        .unwrap();
    let (mut before, mut after, mut last) = (String::new(), String::new(), None);
    let mut stream = res.bytes_stream();
    use futures_util::StreamExt;
    while let Some(Ok(b)) = stream.next().await {
        let now = Instant::now();
        let gap = last.map_or(Duration::ZERO, |l| now - l);
        last = Some(now);
        let piece = std::str::from_utf8(&b).unwrap();
        if gap >= MS(400) || !after.is_empty() {
            after.push_str(piece);
        } else {
            before.push_str(piece);
        }
    }
    assert_eq!(words(&before), 6);
    assert_eq!(words(&after), 14);
    assert!(after.ends_with("data: [DONE]\n\n"));
    let (_, attempts) = run.finish().await;
    assert_eq!(attempts[0].outcome, AttemptOutcome::Ok);
    assert_eq!(attempts[0].output_tokens, 20);
}

#[tokio::test]
async fn keepalive_pings_fill_every_silence_and_the_client_ignores_them() {
    let mut s = paced();
    let p = &mut s.providers[0].profile;
    p.ttft = LatencyDist::Fixed(MS(450));
    p.keepalive = Some(MS(100));
    let (text, times, attempts) = stream(&s).await;
    let first_data = text.find("data: ").unwrap();
    let pings_first = text[..first_data].matches(": ping\n\n").count();
    assert_eq!(text[..first_data].len(), pings_first * ": ping\n\n".len());
    // Silent 450 ms: pings at 100, 200, 300, 400 ms.
    assert!((3..=4).contains(&pings_first), "{pings_first}: {text:?}");
    // Chunks every 20 ms: no silence long enough for another.
    assert_eq!(text.matches(": ping").count(), pings_first);
    assert!(times[0] >= MS(90) && times[0] < MS(300), "{:?}", times[0]);
    assert_eq!(words(&text), 20);
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert_eq!(attempts[0].outcome, AttemptOutcome::Ok);
    // The first byte the ledger keeps is the first event's, not a ping's.
    let fb = attempts[0].first_byte_us.unwrap();
    assert!(fb >= 450_000, "{fb}");
    let (outcome, m) = client_outcome(&s).await;
    assert_eq!(outcome, Outcome::Ok);
    assert!(m.ttft.unwrap() >= MS(450));
}

#[tokio::test]
async fn pings_also_cover_a_stall() {
    let mut s = paced();
    s.providers[0].profile.keepalive = Some(MS(100));
    s.faults.push(breaking(
        FaultKind::StreamStall { pause: MS(550) },
        Some((10, 10)),
    ));
    let (text, _, attempts) = stream(&s).await;
    let pings = text.matches(": ping\n\n").count();
    assert!((4..=6).contains(&pings), "{pings}");
    assert_eq!(words(&text), 20);
    assert_eq!(attempts[0].outcome, AttemptOutcome::Ok);
}

#[tokio::test]
async fn a_byte_cap_slows_the_stream_without_breaking_it() {
    let mut s = paced();
    let p = &mut s.providers[0].profile;
    p.tokens_per_s = 1000.0;
    p.output_tokens = CountDist::Fixed(10);
    p.stream_chunk_tokens = 1;
    let cap = 4000.0;
    p.bytes_per_s = Some(cap);
    let run = start(&s);
    let t0 = Instant::now();
    let res = post(&client(S(10)), &run.chat_url(0), 1, true)
        .await
        .unwrap();
    use futures_util::StreamExt;
    let (mut bytes, mut reads, mut text) = (0usize, 0, Vec::new());
    let mut body = res.bytes_stream();
    while let Some(Ok(b)) = body.next().await {
        bytes += b.len();
        reads += 1;
        text.extend_from_slice(&b);
        let allowed = cap * t0.elapsed().as_secs_f64();
        assert!(
            bytes as f64 <= allowed,
            "{bytes} bytes after {:?}",
            t0.elapsed()
        );
    }
    let took = t0.elapsed().as_secs_f64();
    let at_cap = bytes as f64 / cap;
    assert!(
        took >= at_cap && took < at_cap + 1.0,
        "{took} s for {bytes} bytes"
    );
    assert!(reads >= 10, "{reads} reads");
    let text = String::from_utf8(text).unwrap();
    assert_eq!(words(&text), 10);
    assert!(text.ends_with("data: [DONE]\n\n"));
    let (_, attempts) = run.finish().await;
    assert_eq!(attempts[0].outcome, AttemptOutcome::Ok);
    assert_eq!(attempts[0].output_tokens, 10);
}

#[tokio::test]
async fn a_fake_stream_sends_every_token_at_the_end() {
    let (_, times, _) = stream(&paced()).await;
    let real = times[0].as_secs_f64() / times.last().unwrap().as_secs_f64();
    assert!(
        real < 0.5,
        "a real stream's first read at {real} of the total"
    );
    let mut s = paced();
    s.faults.push(fault(0, FaultKind::FakeStream, S(0), None));
    let (text, times, attempts) = stream(&s).await;
    let total = *times.last().unwrap();
    assert!(total >= MS(230) && total < MS(600), "{total:?}");
    let ratio = times[0].as_secs_f64() / total.as_secs_f64();
    assert!(ratio > 0.9, "first read at {ratio} of the total");
    assert_eq!(words(&text), 20);
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert_eq!(attempts[0].outcome, AttemptOutcome::Ok);
    let (outcome, m) = client_outcome(&s).await;
    assert_eq!(outcome, Outcome::Ok);
    let ttft = m.ttft.unwrap().as_secs_f64();
    assert!(ttft / m.latency.as_secs_f64() > 0.9, "{m:?}");
}

#[tokio::test]
async fn a_fake_stream_leaves_plain_answers_alone() {
    let mut s = paced();
    s.faults.push(fault(0, FaultKind::FakeStream, S(0), None));
    let run = start(&s);
    let t0 = Instant::now();
    let res = post(&client(S(5)), &run.chat_url(0), 1, false)
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/json");
    let c: slabench::openai::ChatCompletion = res.json().await.unwrap();
    let took = t0.elapsed();
    assert!(took >= MS(230) && took < MS(600), "{took:?}");
    let content = c.choices[0].message.content.clone().unwrap();
    assert_eq!(content.split_whitespace().count(), 20);
    let (_, attempts) = run.finish().await;
    assert_eq!(attempts[0].outcome, AttemptOutcome::Ok);
}
