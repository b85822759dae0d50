//! Streaming answers over loopback: pace, usage, [DONE], and stream faults.

mod providers_support;

use providers_support::*;
use slabench::openai::ChatChunk;
use slabench::providers::AttemptOutcome;
use slabench::scenario::{CountDist, FaultKind, LatencyDist, Scenario};

/// 20 tokens at 100 tokens/s, 2 per chunk: 10 chunks over 190 ms.
fn paced() -> Scenario {
    let mut s = scenario(1, 1);
    let p = &mut s.providers[0].profile;
    p.ttft = LatencyDist::Fixed(MS(50));
    p.tokens_per_s = 100.0;
    p.output_tokens = CountDist::Fixed(20);
    p.stream_chunk_tokens = 2;
    s
}

fn chunks(text: &str) -> Vec<ChatChunk> {
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

#[tokio::test]
async fn chunks_leave_over_time_and_end_with_usage_and_done() {
    let run = start(&paced());
    let t0 = tokio::time::Instant::now();
    let res = post(&client(S(5)), &run.chat_url(0), 1, true)
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let (text, times) = read_stream(res).await;
    assert!(text.ends_with("data: [DONE]\n\n"));
    let parsed = chunks(&text);
    let content: String = parsed
        .iter()
        .flat_map(|c| c.choices.iter().filter_map(|ch| ch.delta.content.clone()))
        .collect();
    assert_eq!(content.split_whitespace().count(), 20);
    assert_eq!(parsed.last().unwrap().usage.unwrap().completion_tokens, 20);
    assert!(parsed
        .iter()
        .all(|c| c.system_fingerprint.as_deref() == Some("slabench:p0")));
    // Spread over time, not one write: first piece near 50 ms, last near 240 ms.
    assert!(times.len() >= 5, "{} reads", times.len());
    let first = times[0] - t0;
    let span = *times.last().unwrap() - times[0];
    assert!(first >= MS(45) && first < MS(150), "{first:?}");
    assert!(span >= MS(150) && span < MS(400), "{span:?}");
    let (stats, attempts) = run.finish().await;
    assert_eq!(stats.outcome(AttemptOutcome::Ok), 1);
    assert_eq!(attempts[0].output_tokens, 20);
}

#[tokio::test]
async fn usage_chunk_only_when_asked() {
    let run = start(&paced());
    let mut body = body(1, true);
    body.as_object_mut().unwrap().remove("stream_options");
    let res = client(S(5))
        .post(run.chat_url(0))
        .json(&body)
        .send()
        .await
        .unwrap();
    let (text, _) = read_stream(res).await;
    assert!(chunks(&text).iter().all(|c| c.usage.is_none()));
    assert!(text.ends_with("data: [DONE]\n\n"));
    run.finish().await;
}

async fn stream_with(
    kind: FaultKind,
) -> (
    String,
    std::time::Duration,
    Vec<slabench::providers::Attempt>,
) {
    let mut s = paced();
    s.faults.push(fault(0, kind, S(0), None));
    let run = start(&s);
    let t0 = tokio::time::Instant::now();
    let res = post(&client(S(5)), &run.chat_url(0), 1, true)
        .await
        .unwrap();
    let (text, _) = read_stream(res).await;
    let took = t0.elapsed();
    let (_, attempts) = run.finish().await;
    (text, took, attempts)
}

#[tokio::test]
async fn cut_stream_has_no_done() {
    let (text, _, attempts) = stream_with(FaultKind::StreamCut).await;
    assert!(!text.contains("[DONE]"));
    let n = chunks(&text).len();
    assert!((1..10).contains(&n), "{n} chunks");
    assert_eq!(attempts[0].outcome, AttemptOutcome::StreamCut);
    assert_eq!(attempts[0].output_tokens, 2 * n as u32);
}

#[tokio::test]
async fn error_event_arrives_mid_stream() {
    let (text, _, attempts) = stream_with(FaultKind::StreamErrorEvent).await;
    assert!(!text.contains("[DONE]"));
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    let err: serde_json::Value =
        serde_json::from_str(last.strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(err["error"]["type"], "server_error");
    assert!(text.matches("chat.completion.chunk").count() >= 1);
    assert_eq!(attempts[0].outcome, AttemptOutcome::StreamError);
}

#[tokio::test]
async fn stall_pauses_then_completes() {
    let (text, took, attempts) = stream_with(FaultKind::StreamStall { pause: MS(400) }).await;
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert!(took >= MS(640) && took < MS(1200), "{took:?}");
    assert_eq!(attempts[0].outcome, AttemptOutcome::Ok);
}

#[tokio::test]
async fn slow_first_token_delays_the_first_chunk() {
    let mut s = paced();
    s.faults.push(fault(
        0,
        FaultKind::SlowFirstToken { delay: MS(500) },
        S(0),
        None,
    ));
    let run = start(&s);
    let t0 = tokio::time::Instant::now();
    let res = post(&client(S(5)), &run.chat_url(0), 1, true)
        .await
        .unwrap();
    let (_, times) = read_stream(res).await;
    let first = times[0] - t0;
    assert!(first >= MS(500) && first < MS(800), "{first:?}");
    run.finish().await;
}

#[tokio::test]
async fn client_leaving_mid_stream_is_recorded() {
    let run = start(&paced());
    let res = post(&client(MS(120)), &run.chat_url(0), 1, true)
        .await
        .unwrap();
    let (text, _) = read_stream(res).await;
    assert!(!text.contains("[DONE]"));
    tokio::time::sleep(MS(100)).await;
    let (_, attempts) = run.finish().await;
    assert_eq!(attempts[0].outcome, AttemptOutcome::ClientGone);
    assert_eq!(attempts[0].status, 200);
    assert!(attempts[0].output_tokens < 20);
}
