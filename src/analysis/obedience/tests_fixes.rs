//! Refused connections, base errors, the message table's overflow entry,
//! the pairs listed and a partly read ledger.

use std::time::Duration;

use super::tests::{att, fault, rec, run};
use super::*;
use crate::metrics::messages::{ErrorMessages, OVERFLOW};
use crate::metrics::Outcome;
use crate::scenario::{ErrorSpec, FaultKind};

/// Fault 0: a non-retryable 400 on p0; fault 1: p1 refusing connections
/// from 0 to 10 s.
fn refusing_faults() -> Vec<Fault> {
    let context_length = fault(
        FaultKind::ErrorBurst { status: 400 },
        ErrorSpec {
            code: Some("context_length_exceeded".into()),
            ..Default::default()
        },
    );
    let refuse = Fault {
        providers: vec![1],
        duration: Some(Duration::from_secs(10)),
        ..fault(FaultKind::OutageRefuse, ErrorSpec::default())
    };
    vec![context_length, refuse]
}

/// A request from `at_ms` lasting 1 s that failed with message `message`.
fn failed(at_ms: u32, message: u8) -> ClientRecord {
    ClientRecord {
        intended_ms: at_ms,
        latency_us: 1_000_000,
        ..rec(Outcome::Http4xx, message)
    }
}

fn bad(tag: u64, at_ms: i64) -> Attempt {
    Attempt {
        fault: Some(0),
        ..att(Some(tag), 0, at_ms, 400)
    }
}

#[test]
fn a_non_retryable_error_while_a_provider_refused_is_not_observable_unless_a_retry_shows() {
    let faults = refusing_faults();
    let messages = [ErrorMessage {
        status: 400,
        message: "x".into(),
        error_type: "invalid_request_error".into(),
    }];
    // Request 0 in flight at 1-2 s while p1 refused: no later attempt seen.
    let requests = [failed(1_000, 0), failed(20_000, 0)];
    let o = run(&faults, &[], &requests, &messages, &[bad(0, 1_100)]);
    let n = &o.non_retryable;
    assert_eq!((n.requests, n.unobservable, n.tried_again), (1, 1, 0));
    assert_eq!(n.state, CheckState::NotObservable);
    let why = n.why.as_deref().unwrap();
    assert!(why.starts_with("1 of 1 request(s)"), "{why}");
    assert!(why.contains("refused connections"), "{why}");
    // Request 1 after the refusal, left alone: still unobservable overall.
    let attempts = [bad(0, 1_100), bad(1, 20_100)];
    let o = run(&faults, &[], &requests, &messages, &attempts);
    let n = &o.non_retryable;
    assert_eq!((n.requests, n.unobservable), (2, 1));
    assert_eq!(n.state, CheckState::NotObservable);
    assert!(n.why.as_deref().unwrap().starts_with("1 of 2"));
    // A retry seen fails the check whatever else was unobservable.
    let attempts = [bad(0, 1_100), bad(1, 20_100), att(Some(1), 0, 20_300, 200)];
    let o = run(&faults, &[], &requests, &messages, &attempts);
    let n = &o.non_retryable;
    assert_eq!((n.requests, n.unobservable, n.tried_again), (2, 1, 1));
    assert_eq!(n.state, CheckState::Measured);
    // Outside any refusal: measured, nothing unobservable.
    let o = run(&faults, &[], &requests, &messages, &[bad(1, 20_100)]);
    let n = &o.non_retryable;
    assert_eq!((n.requests, n.unobservable), (1, 0));
    assert_eq!(n.state, CheckState::Measured);
}

#[test]
fn rewritten_skips_requests_in_flight_while_a_provider_refused() {
    let mut faults = refusing_faults();
    faults[0] = fault(FaultKind::OutageHttp { status: 503 }, ErrorSpec::default());
    let messages = [ErrorMessage {
        status: 500,
        message: "x".into(),
        error_type: "server_error".into(),
    }];
    let outage = |tag: u64, at: i64| Attempt {
        fault: Some(0),
        ..att(Some(tag), 0, at, 503)
    };
    // Only request 0, during the refusal: nothing compared, not observable.
    let requests = [failed(1_000, 0), failed(20_000, 0)];
    let o = run(&faults, &[], &requests, &messages, &[outage(0, 1_100)]);
    let w = &o.rewritten;
    assert_eq!((w.compared, w.not_comparable_refusing), (0, 1));
    assert_eq!(w.state, CheckState::NotObservable);
    assert!(w.why.as_deref().unwrap().contains(REFUSING));
    // With request 1 after it: one compared (503 → 500), one not.
    let o = run(
        &faults,
        &[],
        &requests,
        &messages,
        &[outage(0, 1_100), outage(1, 20_100)],
    );
    let w = &o.rewritten;
    assert_eq!(
        (w.compared, w.rewritten, w.not_comparable_refusing),
        (1, 1, 1)
    );
    assert_eq!(w.state, CheckState::Measured);
}

#[test]
fn the_pairs_listed_are_the_most_frequent_then_by_text_whatever_the_order() {
    let faults = [fault(
        FaultKind::OutageHttp { status: 503 },
        ErrorSpec::default(),
    )];
    // 20 client error types seen once each, and one seen 5 times.
    let mut messages: Vec<ErrorMessage> = (0..20)
        .map(|i| ErrorMessage {
            status: 500,
            message: "x".into(),
            error_type: format!("t{i:02}"),
        })
        .collect();
    messages.push(ErrorMessage {
        status: 500,
        message: "x".into(),
        error_type: "zz".into(),
    });
    let mut requests: Vec<ClientRecord> = (0..20).map(|i| rec(Outcome::Http5xx, i)).collect();
    requests.extend((0..5).map(|_| rec(Outcome::Http5xx, 20)));
    let attempts: Vec<Attempt> = (0..requests.len() as u64)
        .map(|tag| Attempt {
            fault: Some(0),
            ..att(Some(tag), 0, 100, 503)
        })
        .collect();
    let o = run(&faults, &[], &requests, &messages, &attempts);
    let w = &o.rewritten;
    assert_eq!(w.rewritten, 25);
    let to: Vec<&str> = w.pairs.iter().map(|p| p.to.as_str()).collect();
    let mut want = vec!["500 zz".to_string()];
    want.extend((0..15).map(|i| format!("500 t{i:02}")));
    assert_eq!(to, want);
    assert_eq!(w.pairs[0].count, 5);
    // The same ledger, the same list, run after run.
    for _ in 0..5 {
        let again = run(&faults, &[], &requests, &messages, &attempts);
        assert_eq!(again.rewritten.pairs, w.pairs);
    }
}

#[test]
fn a_base_error_that_must_not_be_retried_is_judged_by_its_status() {
    let messages = [ErrorMessage {
        status: 404,
        message: "x".into(),
        error_type: String::new(),
    }];
    let requests = vec![rec(Outcome::Http4xx, 0); 3];
    let attempts = [
        // A base 404 (no fault), retried at p1.
        att(Some(0), 0, 100, 404),
        att(Some(0), 1, 200, 200),
        // A base 500 and the rate limit's 429: retryable.
        att(Some(1), 0, 100, 500),
        att(Some(1), 0, 200, 200),
        att(Some(2), 0, 100, 429),
        att(Some(2), 0, 200, 200),
    ];
    let o = run(&[], &[], &requests, &messages, &attempts);
    let n = &o.non_retryable;
    assert_eq!((n.requests, n.failed_over, n.retried), (1, 1, 0));
    assert_eq!(n.state, CheckState::Measured);
    assert_eq!(n.rows[0].window, "base errors");
}

#[test]
fn the_message_tables_overflow_entry_is_not_compared() {
    let faults = [fault(
        FaultKind::OutageHttp { status: 529 },
        ErrorSpec::default(),
    )];
    let mut table = ErrorMessages::default();
    for i in 0..300 {
        table.intern_typed(500, &format!("t{i}"), "m");
    }
    // The provider's own answer, interned once the table was full.
    let late = table.intern_typed(529, "overloaded_error", "m");
    assert_eq!(table.get(late).unwrap().message, OVERFLOW);
    let requests = [rec(Outcome::Http5xx, late)];
    let attempts = [Attempt {
        fault: Some(0),
        ..att(Some(0), 0, 100, 529)
    }];
    let dialects = [Dialect::Anthropic];
    let o = run(&faults, &dialects, &requests, table.entries(), &attempts);
    let w = &o.rewritten;
    assert_eq!(
        (w.compared, w.rewritten, w.not_comparable_unknown),
        (0, 0, 1)
    );
    // Nor is it taken for "another error" in what the client got.
    let nr = [fault(
        FaultKind::ErrorBurst { status: 400 },
        ErrorSpec::default(),
    )];
    let attempts = [Attempt {
        fault: Some(0),
        ..att(Some(0), 0, 100, 400)
    }];
    let o = run(&nr, &[], &requests, table.entries(), &attempts);
    let n = &o.non_retryable;
    assert_eq!((n.client_got_unknown, n.client_got_other), (1, 0));
}

#[test]
fn a_partly_read_ledger_leaves_every_part_not_measured_with_why() {
    let faults = [fault(
        FaultKind::Flapping {
            period: Duration::from_secs(10),
            duty: 0.5,
            down: FlapAs::Http { status: 503 },
        },
        ErrorSpec::default(),
    )];
    let o = run(&faults, &[], &[], &[], &[]);
    assert_eq!(Obedience::of_run(Some(&o), None), Some(o.clone()));
    let cut = Obedience::of_run(Some(&o), Some("truncated record")).unwrap();
    let why = cut.incomplete_why.as_deref().unwrap();
    assert!(why.contains("only partly read (truncated record)"), "{why}");
    let parts = [
        (cut.retry_after.state, &cut.retry_after.why),
        (cut.non_retryable.state, &cut.non_retryable.why),
        (cut.rewritten.state, &cut.rewritten.why),
        (cut.flapping[0].state, &cut.flapping[0].why),
    ];
    for (state, w) in parts {
        assert_eq!(state, CheckState::NotMeasured);
        assert_eq!(w.as_deref(), Some(why));
    }
    assert_eq!(Obedience::of_run(None, Some("x")), None);
}
