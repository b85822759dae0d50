//! Exact break points and due times of the SSE script.

use super::*;
use crate::answer::AnswerKey;
use crate::openai::ChatChunk;

const MS: fn(u64) -> Duration = Duration::from_millis;

/// 10 tokens at 100 tokens/s after 100 ms: token `i` is out at 100 + 10 i ms.
fn plan(shape: Shape) -> Plan {
    Plan {
        ttft: MS(100),
        tokens_per_s: 100.0,
        output_tokens: 10,
        shape,
        fake_stream: false,
    }
}

fn script(shape: Shape) -> Vec<Due> {
    let stamp = Stamp::new("p", "m", 0, AnswerKey::new(1, 2), 0);
    let mut s = Script::new(plan(shape), 3, stamp, "data: {\"error\":{}}\n\n".into());
    s.include_usage = true;
    s.collect()
}

/// Content words in a write's chunk events.
fn words(text: &str) -> usize {
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<ChatChunk>(d).ok())
        .flat_map(|c| c.choices)
        .filter_map(|c| c.delta.content)
        .map(|t| t.split_whitespace().count())
        .sum()
}

fn summary(dues: &[Due]) -> Vec<(Duration, usize, u32, Option<AttemptOutcome>)> {
    dues.iter()
        .map(|d| (d.at, words(&d.text), d.tokens, d.end))
        .collect()
}

#[test]
fn a_complete_answer_chunks_every_three_tokens() {
    let dues = script(Shape::Complete);
    assert_eq!(
        summary(&dues),
        [
            (MS(120), 3, 3, None),
            (MS(150), 3, 6, None),
            (MS(180), 3, 9, None),
            (MS(190), 1, 10, Some(AttemptOutcome::Ok)),
        ]
    );
    assert!(dues[0].text.contains("\"role\":\"assistant\""));
    assert!(!dues[1].text.contains("\"role\""));
    let last = &dues[3].text;
    assert!(last.contains("\"finish_reason\":\"stop\"") && last.contains("\"usage\""));
    assert!(last.ends_with(body::DONE));
}

#[test]
fn a_cut_splits_the_straddling_chunk_and_ends_without_done() {
    let dues = script(Shape::Cut { after_tokens: 5 });
    assert_eq!(
        summary(&dues),
        [
            (MS(120), 3, 3, None),
            (MS(140), 2, 5, None),
            // When the next chunk (token 5) would have left.
            (MS(150), 0, 5, Some(AttemptOutcome::StreamCut)),
        ]
    );
    assert!(dues[2].text.is_empty());
    assert!(dues.iter().all(|d| !d.text.contains("[DONE]")));
}

#[test]
fn an_error_event_at_zero_comes_before_any_content() {
    let dues = script(Shape::ErrorEvent {
        after_tokens: 0,
        fault: Some(2),
    });
    assert_eq!(
        summary(&dues),
        [(MS(120), 0, 0, Some(AttemptOutcome::StreamError))]
    );
    assert_eq!(dues[0].text, "data: {\"error\":{}}\n\n");
}

#[test]
fn a_break_at_the_end_sends_every_token_but_no_finish() {
    let dues = script(Shape::Cut { after_tokens: 10 });
    let s = summary(&dues);
    assert_eq!(s.len(), 5);
    assert_eq!(s[3], (MS(190), 1, 10, None));
    assert_eq!(s[4], (MS(190), 0, 10, Some(AttemptOutcome::StreamCut)));
    assert!(dues
        .iter()
        .all(|d| !d.text.contains("finish_reason\":\"stop")));
    let err = script(Shape::ErrorEvent {
        after_tokens: 10,
        fault: None,
    });
    assert_eq!(err.last().unwrap().end, Some(AttemptOutcome::StreamError));
    assert_eq!(err.iter().map(|d| words(&d.text)).sum::<usize>(), 10);
}

#[test]
fn a_stall_delays_everything_from_its_point() {
    let pause = MS(1000);
    let dues = script(Shape::Stall {
        after_tokens: 4,
        pause,
    });
    assert_eq!(
        summary(&dues),
        [
            (MS(120), 3, 3, None),
            (MS(130), 1, 4, None),
            (MS(1150), 2, 6, None),
            (MS(1180), 3, 9, None),
            (MS(1190), 1, 10, Some(AttemptOutcome::Ok)),
        ]
    );
    // A stall at the very end holds back only the finish and [DONE].
    let end = script(Shape::Stall {
        after_tokens: 10,
        pause,
    });
    let s = summary(&end);
    assert_eq!(s[3], (MS(190), 1, 10, None));
    assert_eq!(s[4], (MS(1190), 0, 10, Some(AttemptOutcome::Ok)));
    assert!(end[4].text.ends_with(body::DONE));
}

#[test]
fn an_empty_answer_is_one_chunk_with_length() {
    let stamp = Stamp::new("p", "m", 0, AnswerKey::new(1, 2), 0);
    let p = Plan {
        output_tokens: 0,
        ..plan(Shape::Complete)
    };
    let dues: Vec<Due> = Script::new(p, 3, stamp, String::new()).collect();
    assert_eq!(dues.len(), 1);
    assert_eq!(dues[0].end, Some(AttemptOutcome::Ok));
    assert!(dues[0].text.contains("\"finish_reason\":\"length\""));
}
