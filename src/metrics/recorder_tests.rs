//! Tests of the recorder: counts, timeline, intervals and outputs.
use super::*;
use crate::metrics::request::Measured;
use std::time::Duration;

fn result(seq: u64, at_ms: u64, latency_ms: u64, outcome: Outcome) -> RequestResult {
    RequestResult {
        seq,
        class: (seq % 2) as usize,
        intended: Duration::from_millis(at_ms),
        lag: Duration::from_micros(seq % 3 * 100),
        outcome,
        m: Measured {
            latency: Duration::from_millis(latency_ms),
            service: Duration::from_millis(latency_ms),
            output_tokens: 10,
            served_by: Some(if seq.is_multiple_of(4) { "b" } else { "a" }.into()),
            ..Measured::default()
        },
    }
}

#[test]
fn counts_latency_and_timeline_on_synthetic_results() {
    let mut rec = Recorder::new(["x".to_string(), "y".to_string()]);
    // 100 requests: one every 30 ms, latency 100 + seq ms; every 10th a 5xx.
    for seq in 0..100u64 {
        let outcome = if seq % 10 == 9 {
            Outcome::Http5xx
        } else {
            Outcome::Ok
        };
        rec.record(&result(seq, seq * 30, 100 + seq, outcome));
    }
    rec.finish();
    let total = rec.total_counts();
    assert_eq!(total[Outcome::Ok.index()], 90);
    assert_eq!(total[Outcome::Http5xx.index()], 10);
    assert_eq!(rec.classes[0].counts.iter().sum::<u64>(), 50);
    assert_eq!(rec.classes[0].output_tokens, 500);
    // Sends by intended second: 0..=2970 ms → seconds 0, 1, 2 hold 34, 33, 33.
    let sent: Vec<u64> = rec.timeline.iter().map(|r| r.sent).collect();
    assert_eq!(&sent[..3], &[34, 33, 33]);
    assert_eq!(sent.iter().sum::<u64>(), 100);
    // Completions add up, and served-by splits 1:3.
    let completed: u64 = rec.timeline.iter().flat_map(|r| r.outcomes).sum();
    assert_eq!(completed, 100);
    let served: Vec<u64> = (0..2)
        .map(|p| {
            rec.timeline
                .iter()
                .map(|r| r.served_by.get(p).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    assert_eq!(rec.providers, ["b", "a"]);
    assert_eq!(served, [25, 75]);
    // OK latency over all: 90 values of 100 + seq ms (seq % 10 != 9).
    let all = rec.ok_latency();
    assert_eq!(all.len(), 90);
    assert!((histogram::quantile_ms(&all, 1.0) - 198.0).abs() < 0.2);
    // Second 1 holds completions at 1000..2000 ms: seq 30..=60-ish, p50 within range.
    let row = &rec.timeline[1];
    assert!(row.latency.count > 0 && row.latency.p50 >= 100.0 && row.latency.max < 170.0);
    assert_eq!(rec.lag.max(), 200);
}

#[derive(Clone, Default)]
struct Collect(std::sync::Arc<std::sync::Mutex<Vec<(u32, usize, u64)>>>);

impl Accumulator for Collect {
    fn second(&mut self, s: &ClosedSecond) {
        let mut seen = self.0.lock().unwrap();
        for (class, h) in s.classes.iter().enumerate().filter(|(_, h)| !h.is_empty()) {
            seen.push((s.second, class, h.len()));
        }
    }
}

struct Broken;

impl Accumulator for Broken {
    fn file(&self) -> &'static str {
        "broken.csv"
    }
    fn record(&mut self, _r: &RequestResult) {
        panic!("a bug in an output");
    }
}

#[test]
fn an_output_that_panics_is_dropped_and_reported_while_the_rest_go_on() {
    let sink = Collect::default();
    let mut rec = Recorder::new(["x".to_string(), "y".to_string()])
        .with_output(Box::new(Broken))
        .with_output(Box::new(sink.clone()));
    for seq in 0..4u64 {
        rec.record(&result(seq, seq * 250, 100, Outcome::Ok));
    }
    let failed = rec.finish();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].file, "broken.csv");
    let ok: u64 = rec
        .classes
        .iter()
        .map(|c| c.counts[Outcome::Ok.index()])
        .sum();
    assert_eq!(ok, 4);
    assert_eq!(*sink.0.lock().unwrap(), [(0, 0, 2), (0, 1, 2)]);
}

#[test]
fn closed_seconds_go_to_the_outputs_per_class() {
    let sink = Collect::default();
    let mut rec =
        Recorder::new(["x".to_string(), "y".to_string()]).with_output(Box::new(sink.clone()));
    // seq even → class x, odd → y; one per 250 ms, latency 100 ms (+ seq ms for y).
    for seq in 0..8u64 {
        rec.record(&result(seq, seq * 250, 100 + (seq % 2) * seq, Outcome::Ok));
    }
    rec.finish();
    // Completions: seconds 0 (seq 0–3) and 1 (seq 4–7), two per class each.
    assert_eq!(
        *sink.0.lock().unwrap(),
        [(0, 0, 2), (0, 1, 2), (1, 0, 2), (1, 1, 2)]
    );
    let p99: Vec<Vec<f64>> = rec.timeline.iter().map(|r| r.class_p99.clone()).collect();
    assert!(
        (p99[0][0] - 100.0).abs() < 0.1 && (p99[0][1] - 103.0).abs() < 0.1,
        "{p99:?}"
    );
    assert!((p99[1][1] - 107.0).abs() < 0.1, "{p99:?}");
}

#[test]
fn client_records_stay_small_and_keep_the_gateways_account() {
    assert_eq!(std::mem::size_of::<ClientRecord>(), 16);
    let mut rec = Recorder::new(["x".to_string(), "y".to_string()])
        .keep_requests(vec!["a".into(), "b".into()]);
    let mut r = result(0, 0, 10, Outcome::Ok);
    r.m.account = Some(Account {
        dialect: Some(Dialect::LiteLlm),
        fallbacks: Some(1),
        retries: Some(300),
        served_by: Some("b".into()),
        ..Account::default()
    });
    rec.record(&r);
    let mut r = result(1, 5, 10, Outcome::Ok);
    r.m.account = Some(Account {
        served_by: Some("some-hash".into()),
        ..Account::default()
    });
    rec.record(&r);
    let reqs = rec.requests.as_ref().unwrap();
    assert_eq!(
        reqs[0].account,
        AccountRecord {
            attempts: AccountRecord::NONE,
            fallbacks: 1,
            retries: 253,
            served_by: 1
        }
    );
    assert_eq!(reqs[1].account.served_by, AccountRecord::UNKNOWN);
    assert_eq!(rec.account_dialects, Dialect::LiteLlm.bit());
    assert_eq!(reqs[0].message, ErrorMessages::NONE);
}

#[test]
fn error_answers_keep_their_status_and_message_by_index() {
    let mut rec = Recorder::new(["x".to_string(), "y".to_string()]).keep_requests(vec![]);
    let mut error = |seq, status, outcome, message: Option<&str>| {
        let mut r = result(seq, seq * 10, 5, outcome);
        r.m.status = status;
        r.m.error_message = message.map(str::to_string);
        rec.record(&r);
    };
    error(0, 429, Outcome::Http429, Some("No deployments available"));
    error(1, 503, Outcome::Http5xx, Some("upstream down"));
    error(2, 429, Outcome::Http429, Some("No deployments available"));
    // No HTTP answer, a broken 200 and a success: no message.
    error(3, 0, Outcome::Refused, None);
    error(4, 200, Outcome::Ok, None);
    error(5, 200, Outcome::Malformed, None);
    // An error status whose body could not be read keeps its status.
    error(6, 502, Outcome::Http5xx, None);
    let reqs = rec.requests.as_ref().unwrap();
    let msg = |i: usize| rec.error_messages.get(reqs[i].message).cloned();
    assert_eq!(reqs[0].message, reqs[2].message);
    assert_eq!(
        msg(0),
        Some(crate::metrics::messages::ErrorMessage {
            status: 429,
            message: "No deployments available".into(),
            error_type: String::new(),
        })
    );
    assert_eq!(msg(1).unwrap().status, 503);
    assert_eq!((msg(3), msg(4), msg(5)), (None, None, None));
    assert_eq!(
        msg(6),
        Some(crate::metrics::messages::ErrorMessage {
            status: 502,
            message: String::new(),
            error_type: String::new(),
        })
    );
}

#[test]
fn answer_checks_are_kept_beside_the_records() {
    assert_eq!(std::mem::size_of::<AnswerRecord>(), 4);
    let mut rec = Recorder::new(["x".to_string()]).keep_requests(vec!["a".into()]);
    let mut r = result(2, 0, 10, Outcome::Ok);
    r.m.checked = Some(Checked {
        tokens: 40,
        provider: Some(3),
    });
    rec.record(&r);
    let mut r = result(0, 0, 10, Outcome::TruncatedAnswer);
    r.m.checked = Some(Checked {
        tokens: u32::MAX,
        provider: None,
    });
    rec.record(&r);
    assert_eq!(rec.answers.len(), 3);
    assert_eq!(
        (rec.answers[2].tokens(), rec.answers[2].provider()),
        (Some(40), Some(3))
    );
    assert_eq!(
        (rec.answers[0].tokens(), rec.answers[0].provider()),
        (Some(AnswerRecord::MAX_TOKENS), None)
    );
    // Request 1 never reported; nothing was checked.
    assert_eq!(rec.answers[1], AnswerRecord::NONE);
    assert_eq!(
        (AnswerRecord::NONE.tokens(), AnswerRecord::NONE.provider()),
        (None, None)
    );
}

#[test]
fn dropped_sends_are_not_sent_and_have_no_lag() {
    let mut rec = Recorder::new(["x".to_string()]);
    rec.record(&RequestResult::unanswered(
        0,
        0,
        Duration::from_millis(10),
        Outcome::Dropped,
        Duration::ZERO,
    ));
    assert_eq!(rec.lag.len(), 0);
    assert_eq!(rec.timeline[0].sent, 0);
    assert_eq!(rec.total_counts()[Outcome::Dropped.index()], 1);
}
