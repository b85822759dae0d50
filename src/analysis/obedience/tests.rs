//! The accumulators on synthetic ledgers: Retry-After, non-retryable
//! errors, rewritten errors, and the checks they give.

use std::time::Duration;

use super::*;
use crate::analysis::failover::{analyze, Connections, Input};
use crate::metrics::messages::ErrorMessages;
use crate::metrics::recorder::AccountRecord;
use crate::metrics::Outcome;
use crate::providers::ledger::AttemptOutcome;
use crate::scenario::{ErrorSpec, FaultKind};

/// An attempt at `provider` arriving at `at_ms`, answered 10 ms later.
pub(super) fn att(tag: Option<u64>, provider: u16, at_ms: i64, status: u16) -> Attempt {
    let outcome = match status {
        200 => AttemptOutcome::Ok,
        429 => AttemptOutcome::RateLimited,
        _ => AttemptOutcome::HttpError,
    };
    Attempt {
        tag,
        provider,
        arrived_us: at_ms * 1000,
        answered_us: at_ms * 1000 + 10_000,
        outcome,
        status,
        input_tokens: 10,
        output_tokens: 0,
        stream: false,
        first_byte_us: None,
        retry_after_ms: None,
        fault: None,
    }
}

fn with_retry_after(mut a: Attempt, ms: u32, fault: Option<u16>) -> Attempt {
    a.retry_after_ms = Some(ms);
    a.fault = fault;
    a
}

pub(super) fn fault(kind: FaultKind, error: ErrorSpec) -> Fault {
    Fault {
        providers: vec![0],
        target_label: "provider p0".into(),
        start: Duration::from_secs(0),
        duration: None,
        probability: 1.0,
        kind,
        error,
        after_tokens: None,
    }
}

pub(super) fn rec(outcome: Outcome, message: u8) -> ClientRecord {
    ClientRecord {
        intended_ms: 0,
        latency_us: 0,
        served_by: ClientRecord::NONE,
        message,
        class: 0,
        outcome,
        account: AccountRecord::EMPTY,
    }
}

pub(super) const PROVIDERS: [&str; 2] = ["p0", "p1"];

pub(super) fn run(
    faults: &[Fault],
    dialects: &[Dialect],
    requests: &[ClientRecord],
    messages: &[ErrorMessage],
    attempts: &[Attempt],
) -> Obedience {
    let providers: Vec<String> = PROVIDERS.iter().map(|p| p.to_string()).collect();
    let mut t = Tally::new(Scope {
        providers: &providers,
        dialects,
        faults,
        requests,
        messages,
        duration_s: 100,
        sent_until_s: 100.0,
    });
    attempts.iter().for_each(|a| t.attempt(a));
    t.finish()
}

fn ok_requests(n: usize) -> Vec<ClientRecord> {
    vec![rec(Outcome::Ok, ErrorMessages::NONE); n]
}

#[test]
fn attempts_inside_a_retry_after_are_counted_after_the_grace_and_before_its_end() {
    // p0 answers request 1 at 1.01 s with Retry-After 2 s: in force until 3.01 s.
    let answer = with_retry_after(att(Some(1), 0, 1000, 429), 2000, None);
    let attempts = [
        answer,
        att(Some(7), 0, 1050, 200), // another request within the grace (under way)
        att(Some(1), 0, 1020, 200), // the same request's retry: no grace
        att(Some(1), 0, 1500, 200), // again, 1.51 s early
        att(Some(2), 0, 2500, 200), // another request
        att(None, 0, 1600, 200),    // untagged: still an attempt at p0
        att(Some(3), 1, 1500, 200), // another provider: free
        att(Some(4), 0, 3010, 200), // exactly at the end: waited
        att(Some(5), 0, 3100, 200), // after
    ];
    let o = run(&[], &[], &ok_requests(8), &[], &attempts);
    let r = &o.retry_after;
    assert_eq!(r.state, CheckState::Measured);
    assert_eq!((r.answers, r.not_waited, r.violations), (1, 1, 4));
    assert_eq!((r.same_request, r.other_requests), (2, 2));
    let w = r.worst.as_ref().unwrap();
    assert_eq!((w.request.as_str(), w.provider.as_str()), ("slb-1", "p0"));
    assert_eq!((w.early_ms, w.retry_after_ms), (1990.0, 2000));
    assert_eq!(r.share_text(), "1 of 1");
    assert_eq!(r.rows.len(), 1);
    assert_eq!(r.rows[0].window, "rate limit");
}

#[test]
fn a_zero_retry_after_cannot_be_disobeyed_and_a_date_is_a_wait_like_any() {
    let faults = [fault(
        FaultKind::ErrorBurst { status: 429 },
        ErrorSpec::default(),
    )];
    // Zero: sent, but nothing can arrive before it ends.
    let zero = [
        with_retry_after(att(Some(0), 0, 0, 429), 0, Some(0)),
        att(Some(0), 0, 100, 200),
    ];
    let o = run(&faults, &[], &ok_requests(2), &[], &zero);
    assert_eq!((o.retry_after.answers, o.retry_after.violations), (1, 0));
    assert_eq!(
        o.retry_after.rows[0].window,
        "error burst (429) on provider p0"
    );
    // A date rounds up to the next whole second: the ledger has the wait
    // in ms, judged the same way.
    let date = [
        with_retry_after(att(Some(0), 0, 0, 429), 1730, Some(0)),
        att(Some(1), 0, 1600, 200),
        att(Some(1), 0, 1800, 200),
    ];
    let o = run(&faults, &[], &ok_requests(2), &[], &date);
    assert_eq!(
        (o.retry_after.violations, o.retry_after.other_requests),
        (1, 1)
    );
}

#[test]
fn answers_at_window_edges_belong_to_their_fault_and_late_records_are_judged() {
    let faults = [
        fault(FaultKind::ErrorBurst { status: 429 }, ErrorSpec::default()),
        fault(FaultKind::ErrorBurst { status: 503 }, ErrorSpec::default()),
    ];
    let attempts = [
        // The burst's last answer, and the rate limit's first, back to back.
        with_retry_after(att(Some(0), 0, 0, 429), 1000, Some(0)),
        with_retry_after(att(Some(1), 0, 5, 429), 1000, None),
        // A long attempt that arrived at 0.5 s, recorded late (at 9 s).
        Attempt {
            answered_us: 9_000_000,
            ..att(Some(2), 0, 500, 200)
        },
    ];
    let o = run(&faults, &[], &ok_requests(3), &[], &attempts);
    let r = &o.retry_after;
    assert_eq!((r.answers, r.not_waited, r.violations), (2, 2, 1));
    // The attempt is counted once, in the window whose wait ends last.
    let rate = r.rows.iter().find(|x| x.window == "rate limit").unwrap();
    assert_eq!((rate.answers, rate.violations), (1, 1));
    let burst = r.rows.iter().find(|x| x.window != "rate limit").unwrap();
    assert_eq!(
        (burst.answers, burst.not_waited, burst.violations),
        (1, 1, 0)
    );
}

#[test]
fn retry_after_memory_stays_bounded_over_a_long_ledger() {
    // 20,000 answers a ms apart, each with a 1 s wait, every attempt early:
    // the counts stay exact while the answers kept stay few.
    let mut t = retry_after::Tally::new(&Scope {
        providers: &["p0".to_string()],
        dialects: &[],
        faults: &[],
        requests: &[],
        messages: &[],
        duration_s: 100,
        sent_until_s: 100.0,
    });
    for i in 0..20_000 {
        t.attempt(&with_retry_after(att(None, 0, i, 429), 1000, None));
        assert!(t.kept() <= retry_after::KEPT);
    }
    let providers = ["p0".to_string()];
    let out = t.finish(&Scope {
        providers: &providers,
        dialects: &[],
        faults: &[],
        requests: &[],
        messages: &[],
        duration_s: 100,
        sent_until_s: 100.0,
    });
    assert_eq!(out.answers, 20_000);
    // Attempt i (at i ms) is early for answer j (answered at j + 10 ms)
    // when j + 60 < i < j + 1010: every attempt from 61 ms on, and every
    // answer but those too late for any attempt to follow.
    assert_eq!(out.violations, 20_000 - 61);
    assert_eq!(out.not_waited, 20_000 - 61);
}

fn context_length() -> Fault {
    fault(
        FaultKind::ErrorBurst { status: 400 },
        ErrorSpec {
            code: Some("context_length_exceeded".into()),
            ..Default::default()
        },
    )
}

#[test]
fn non_retryable_errors_retried_or_failed_over_and_what_the_client_got() {
    let faults = [
        context_length(),
        fault(FaultKind::OutageHttp { status: 503 }, ErrorSpec::default()),
    ];
    let messages = [ErrorMessage {
        status: 400,
        message: "This model's maximum context length".into(),
        error_type: "invalid_request_error".into(),
    }];
    let mut requests = vec![rec(Outcome::Http4xx, 0); 6];
    requests[1] = rec(Outcome::Ok, ErrorMessages::NONE);
    let bad = |tag: u64, at: i64| Attempt {
        fault: Some(0),
        ..att(Some(tag), 0, at, 400)
    };
    let attempts = [
        bad(1, 100),
        att(Some(1), 0, 150, 200), // retried at p0 (a 200 this time)
        att(Some(1), 1, 200, 200), // and failed over to p1
        bad(2, 100),               // left alone: the client got the 400
        // A hedge at p1 that arrived before the 400 was answered: not a retry.
        bad(3, 100),
        att(Some(3), 1, 105, 400),
        // Retryable: a 429 from the rate limit, a 503 from the outage.
        att(Some(4), 0, 100, 429),
        att(Some(4), 0, 200, 200),
        Attempt {
            fault: Some(1),
            ..att(Some(5), 0, 100, 503)
        },
        att(Some(5), 1, 200, 200),
        // Not one of this run's requests.
        bad(99, 100),
        att(Some(99), 0, 200, 200),
    ];
    let o = run(&faults, &[], &requests, &messages, &attempts);
    let n = &o.non_retryable;
    assert_eq!(n.state, CheckState::Measured);
    assert_eq!(
        (n.requests, n.tried_again, n.retried, n.failed_over),
        (3, 1, 1, 1)
    );
    assert_eq!(
        (
            n.client_got_provider_error,
            n.client_got_success,
            n.client_got_other
        ),
        (2, 1, 0)
    );
    let ex = n.example.as_deref().unwrap();
    assert!(ex.starts_with("slb-1: 400 from p0"), "{ex}");
    assert!(ex.contains("retried at p0 and failed over"), "{ex}");
    assert!(ex.contains("the client got a success"), "{ex}");
    assert_eq!(n.rows.len(), 1);
    assert_eq!(n.rows[0].requests, 3);
}

#[test]
fn rewritten_errors_compare_the_last_attempt_with_what_the_client_saw() {
    let faults = [fault(
        FaultKind::OutageHttp { status: 529 },
        ErrorSpec::default(),
    )];
    let dialects = [Dialect::Anthropic, Dialect::OpenAi];
    let messages = [
        ErrorMessage {
            status: 500,
            message: "x".into(),
            error_type: "server_error".into(),
        },
        ErrorMessage {
            status: 529,
            message: "x".into(),
            error_type: "overloaded_error".into(),
        },
        ErrorMessage {
            status: 529,
            message: "x".into(),
            error_type: String::new(),
        },
        ErrorMessage {
            status: 502,
            message: "x".into(),
            error_type: "bad_gateway".into(),
        },
        ErrorMessage {
            status: 429,
            message: "x".into(),
            error_type: "rate_limit_exceeded".into(),
        },
    ];
    let failed = |m: u8| rec(Outcome::Http5xx, m);
    let requests = [
        failed(0), // 0: 529 → 500 server_error: both changed
        failed(1), // 1: kept
        failed(2), // 2: no type: status only, kept
        failed(3), // 3: the last attempt succeeded: not compared
        failed(4), // 4: the latest attempt is p1's 429 (recorded first)
        rec(Outcome::Ok, ErrorMessages::NONE),
    ];
    let outage = |tag: u64, at: i64| Attempt {
        fault: Some(0),
        ..att(Some(tag), 0, at, 529)
    };
    let attempts = [
        outage(0, 100),
        outage(1, 100),
        outage(2, 100),
        outage(3, 100),
        att(Some(3), 1, 200, 200),
        att(Some(4), 1, 200, 429),
        Attempt {
            answered_us: 900_000,
            ..outage(4, 100)
        },
        outage(5, 100),
        att(Some(5), 1, 200, 200),
    ];
    let o = run(&faults, &dialects, &requests, &messages, &attempts);
    let w = &o.rewritten;
    assert_eq!((w.compared, w.kept, w.rewritten), (4, 3, 1));
    assert_eq!((w.status_changed, w.type_changed, w.status_only), (1, 1, 1));
    assert_eq!(w.pairs.len(), 1);
    assert_eq!(w.pairs[0].from, "529 overloaded_error");
    assert_eq!(w.pairs[0].to, "500 server_error");
    let p0 = w.rows.iter().find(|r| r.provider == "p0").unwrap();
    assert_eq!((p0.compared, p0.rewritten), (3, 1));
    let p1 = w.rows.iter().find(|r| r.provider == "p1").unwrap();
    assert_eq!((p1.window.as_str(), p1.kept), ("rate limit", 1));
}

#[test]
fn nothing_to_judge_is_not_exercised_and_a_late_window_not_reached() {
    let o = run(&[], &[], &ok_requests(1), &[], &[att(Some(0), 0, 0, 200)]);
    assert_eq!(o.retry_after.state, CheckState::NotExercised);
    assert_eq!(o.non_retryable.state, CheckState::NotExercised);
    assert_eq!(o.rewritten.state, CheckState::NotExercised);
    let mut late = context_length();
    late.start = Duration::from_secs(200);
    let o = run(
        &[late],
        &[],
        &ok_requests(1),
        &[],
        &[att(Some(0), 0, 0, 200)],
    );
    assert_eq!(o.non_retryable.state, CheckState::NotReached);
    assert!(o
        .non_retryable
        .why
        .as_deref()
        .unwrap()
        .contains("before error burst (400)"));
}

/// The checks of a run judged with `sla` from `attempts` through the whole
/// failover pipeline.
fn judged(sc: &crate::scenario::Scenario, attempts: &[Attempt]) -> Vec<crate::analysis::Check> {
    let providers: Vec<String> = PROVIDERS.iter().map(|p| p.to_string()).collect();
    let requests = ok_requests(4);
    let input = Input {
        providers: &providers,
        groups: &[],
        prices: &[],
        class_names: &[],
        faults: &sc.faults,
        requests: &requests,
        duration_s: 100,
        sent_until_s: 100.0,
        account_dialects: 0,
        dialects: &[],
        messages: &[],
        connections: Connections::NotObservable("not watched"),
    };
    let report = analyze(&input, attempts.iter().copied());
    crate::analysis::sla::tests::judged_plain(sc, Some(&report))
}

#[test]
fn the_checks_pass_only_when_measured_and_fail_on_a_violation() {
    let mut sc = crate::providers::testing::scenario(1, 2);
    sc.sla.max_retry_after_violations = Some(0);
    sc.sla.max_non_retryable_retries = Some(0);
    sc.sla.max_rewritten_errors = Some(0);
    sc.sla.max_flapping_probes = Some(1);
    sc.sla.optional = vec![crate::scenario::SlaKey::RewrittenErrors];
    let early = [
        with_retry_after(att(Some(0), 0, 0, 429), 1000, None),
        att(Some(0), 0, 300, 200),
    ];
    let checks = judged(&sc, &early);
    let find = |name: &str| checks.iter().find(|c| c.name == name).unwrap().clone();
    let ra = find(RETRY_AFTER);
    assert!(ra.state == CheckState::Measured && !ra.pass, "{ra:?}");
    assert_eq!(ra.measured, "1");
    assert!(ra.why.as_deref().unwrap().contains("1 of 1"), "{ra:?}");
    let nr = find(NON_RETRYABLE);
    assert!(nr.state == CheckState::NotExercised && !nr.pass);
    let rw = find(REWRITTEN);
    assert!(rw.state == CheckState::NotExercised && rw.optional);
    let fl = find(FLAPPING);
    assert_eq!(fl.state, CheckState::NotExercised);
    // Waited: a measured pass.
    let waited = [early[0], att(Some(0), 0, 1100, 200)];
    let ra = judged(&sc, &waited)
        .into_iter()
        .find(|c| c.name == RETRY_AFTER)
        .unwrap();
    assert!(ra.state == CheckState::Measured && ra.pass, "{ra:?}");
    // No ledger: not measured.
    let none = crate::analysis::sla::tests::judged_plain(&sc, None);
    let ra = none.iter().find(|c| c.name == RETRY_AFTER).unwrap();
    assert_eq!(ra.state, CheckState::NotMeasured);
}
