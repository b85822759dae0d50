use super::*;
use crate::analysis::failover::events::{classify, EventKind};
use crate::analysis::failover::join::Joined;
use crate::metrics::recorder::{AccountRecord, ClientRecord};
use crate::metrics::Outcome;

/// An attempt at `provider` from `from_ms` to `to_ms`, first byte `fb_ms`
/// after arrival.
fn span(provider: u16, from_ms: i64, to_ms: i64, ok: bool, fb_ms: Option<i64>) -> Span {
    Span {
        arrived_us: from_ms * 1000,
        busy_us: ((to_ms - from_ms) * 1000) as u32,
        first_byte_us: fb_ms.map(|f| (f * 1000) as u32),
        seq: 0,
        provider,
        ok,
    }
}

fn timing(service_ms: u32, ttft_ms: Option<u32>) -> ClientTiming {
    ClientTiming {
        service_us: service_ms * 1000,
        ttft_us: ttft_ms.map_or(ClientTiming::NONE, |t| t * 1000),
    }
}

#[test]
fn one_attempt_leaves_the_gateway_the_rest() {
    let spans = [span(0, 10, 110, true, Some(100))];
    let m = measure(&spans, 0, timing(103, None)).unwrap();
    assert_eq!(
        m,
        Measure {
            overhead_us: 3000,
            ttft_us: None
        }
    );
}

#[test]
fn a_retry_charges_the_gap_between_attempts_to_the_gateway() {
    // 503 after 5 ms, a 20 ms backoff, then 100 ms at the same provider.
    let spans = [
        span(0, 1, 6, false, Some(5)),
        span(0, 26, 126, true, Some(100)),
    ];
    let m = measure(&spans, 0, timing(128, None)).unwrap();
    // 128 − (5 + 100): the backoff and 3 ms around it.
    assert_eq!(m.overhead_us, 23_000);
}

#[test]
fn overlapping_attempts_count_once_and_a_losing_hedge_stops_at_the_answer() {
    // A hedge: first attempt 0..100 (answered), second 50..300, still
    // running when the client had its answer at 102.
    let spans = [
        span(0, 0, 100, true, Some(100)),
        span(1, 50, 300, true, Some(250)),
    ];
    assert_eq!(busy_until(&spans, i64::MAX), 300_000);
    let m = measure(&spans, 0, timing(102, None)).unwrap();
    assert_eq!(m.overhead_us, 2000);
    // Overlapping failures before a success: [0,40] ∪ [10,60] ∪ [70,170].
    let spans = [
        span(0, 0, 40, false, Some(40)),
        span(1, 10, 60, false, Some(50)),
        span(2, 70, 170, true, Some(100)),
    ];
    assert_eq!(busy_until(&spans, i64::MAX), 160_000);
    let m = measure(&spans, 2, timing(175, None)).unwrap();
    assert_eq!(m.overhead_us, 15_000);
}

#[test]
fn a_stream_has_a_ttft_overhead_too() {
    // A failed first attempt (0..30), then a stream at another provider
    // arriving at 35 whose first chunk left 200 ms later and which ended at 1035.
    let spans = [
        span(0, 0, 30, false, Some(30)),
        span(1, 35, 1035, true, Some(200)),
    ];
    let m = measure(&spans, 1, timing(1040, Some(238))).unwrap();
    // Service: 1040 − (30 + 1000). TTFT: 238 − (30 + 200).
    assert_eq!(
        m,
        Measure {
            overhead_us: 10_000,
            ttft_us: Some(8_000)
        }
    );
}

#[test]
fn nothing_is_clamped_and_what_cannot_be_measured_is_not() {
    let spans = [span(0, 0, 100, true, Some(100))];
    assert_eq!(
        measure(&spans, 0, timing(90, None)).unwrap().overhead_us,
        -10_000
    );
    // No successful attempt at the serving provider, or no client timing.
    assert_eq!(measure(&spans, 1, timing(120, None)), None);
    let failed = [span(0, 0, 100, false, Some(100))];
    assert_eq!(measure(&failed, 0, timing(120, None)), None);
    assert_eq!(measure(&spans, 0, ClientTiming::MISSING), None);
}

fn rec(intended_ms: u32, outcome: Outcome) -> ClientRecord {
    ClientRecord {
        intended_ms,
        latency_us: 0,
        served_by: ClientRecord::NONE,
        class: 0,
        outcome,
        account: AccountRecord::EMPTY,
        message: crate::metrics::messages::ErrorMessages::NONE,
    }
}

fn attempt(provider: u16, from_ms: i64, to_ms: i64, ok: bool) -> Attempt {
    Attempt {
        tag: None,
        provider,
        arrived_us: from_ms * 1000,
        answered_us: to_ms * 1000,
        outcome: if ok {
            AttemptOutcome::Ok
        } else {
            AttemptOutcome::HttpError
        },
        status: if ok { 200 } else { 503 },
        input_tokens: 1,
        output_tokens: 1,
        stream: false,
        first_byte_us: Some(((to_ms - from_ms) * 1000) as u32),
        retry_after_ms: None,
        fault: None,
    }
}

#[test]
fn the_tally_splits_normal_from_failed_over_and_skips_what_it_must() {
    // 0: normal, 2 ms over. 1: failed over, 20 ms over. 2: failed (not
    // measured). 3: normal in the next second, 4 ms over. 4: answered with
    // no successful attempt (unmeasured). 5: negative.
    let recs = [
        rec(100, Outcome::Ok),
        rec(200, Outcome::Ok),
        rec(300, Outcome::Http5xx),
        rec(1100, Outcome::Ok),
        rec(1200, Outcome::Ok),
        rec(1300, Outcome::Ok),
    ];
    let t = |ms| timing(ms, None);
    let timings = [t(102), t(130), t(50), t(104), t(100), t(90)];
    let atts: Vec<(u64, Attempt)> = vec![
        (1, attempt(1, 220, 320, true)),
        (0, attempt(0, 0, 100, true)),
        (1, attempt(0, 200, 210, false)),
        (2, attempt(0, 0, 40, false)),
        (3, attempt(0, 0, 100, true)),
        (4, attempt(0, 0, 40, false)),
        (5, attempt(0, 0, 100, true)),
    ];
    let mut joined = [Joined::EMPTY; 6];
    let mut tally = OverheadTally::new(&timings);
    for (seq, a) in &atts {
        joined[*seq as usize].add(a, 0.0);
        tally.attempt(*seq, a);
    }
    let mut classes = Vec::new();
    for (seq, r) in recs.iter().enumerate() {
        let j = joined[seq];
        let served = if j.served_by != u16::MAX {
            j.served_by
        } else {
            0
        };
        let f = Fact {
            seq,
            rec: r,
            ledger: j.view(),
            joined: j,
            served,
        };
        let class = classify(&f, &crate::analysis::groups::Groups::new(&[], 4));
        classes.push(class);
        tally.request(&f, class);
    }
    assert_eq!(classes[1], Class::Event(EventKind::Failover));
    let o = tally.finish().unwrap();
    assert_eq!((o.all.requests, o.all.negative, o.unmeasured), (3, 1, 1));
    assert_eq!((o.normal.requests, o.normal.negative), (2, 1));
    // HdrHistogram keeps 3 significant digits.
    let near = |got: f64, want: f64| (got - want).abs() <= want * 1e-3;
    assert_eq!(o.failed_over.requests, 1);
    assert!(near(o.failed_over.p50, 20.0), "{:?}", o.failed_over);
    assert!(near(o.all.max, 20.0) && near(o.all.p50, 4.0), "{:?}", o.all);
    assert_eq!(o.ttft, None);
    let seconds: Vec<(u32, u64)> = o
        .per_second
        .iter()
        .map(|s| (s.second, s.requests))
        .collect();
    assert_eq!(seconds, [(0, 2), (1, 1)]);
    assert!(near(o.per_second[1].p99, 4.0));
}

#[test]
fn without_client_timings_there_is_no_overhead() {
    let mut tally = OverheadTally::new(&[]);
    tally.attempt(0, &attempt(0, 0, 1, true));
    assert!(tally.spans.is_empty());
    assert_eq!(tally.finish(), None);
}

#[test]
fn the_headline_says_normal_failed_over_and_what_is_left_out() {
    let spread = |requests, p50, p99, negative| Spread {
        requests,
        p50,
        p90: p99,
        p99,
        max: p99,
        negative,
    };
    let o = Overhead {
        all: spread(1000, 0.31, 0.99, 1),
        normal: spread(980, 0.31, 0.94, 1),
        failed_over: spread(20, 300.0, 412.0, 0),
        ttft: Some(spread(500, 0.4, 1.2, 0)),
        unmeasured: 2,
        per_second: vec![],
    };
    assert_eq!(
        o.headline(),
        "gateway overhead p50 0.31 ms, p99 0.94 ms (normal, 980 requests), failed over \
         p99 412 ms (20) · ttft p50 0.40 ms, p99 1.20 ms · 1 negative (not in the \
         percentiles) · 2 answered without a successful attempt (not measured)"
    );
    assert!(Overhead::default().headline().contains("not measured"));
    let all_moved = Overhead {
        normal: Spread::default(),
        ttft: None,
        unmeasured: 0,
        ..o
    };
    assert_eq!(
        all_moved.headline(),
        "gateway overhead p50 300 ms, p99 412 ms (failed over, 20 requests) · 1 negative (not \
         in the percentiles)"
    );
}
