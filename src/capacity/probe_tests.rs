//! A probe from a run's summary: only a PASS verdict is a pass, and the
//! sentence says which check kept it from one.

use super::*;
use crate::analysis::{Check, CheckKind};
use crate::report::synthetic::{run_data, Shape};

fn example() -> Scenario {
    crate::scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/capacity.toml"))
        .unwrap()
}

fn summary(verdict: Verdict, checks: Vec<Check>) -> Summary {
    let mut s = run_data(&Shape {
        seconds: 10,
        classes: 1,
        providers: 2,
        rps: 5,
        name: "capacity".into(),
    })
    .summary;
    s.verdict = verdict;
    s.checks = checks;
    s
}

fn head() -> Head {
    Head {
        index: 2,
        factor: 2.0,
        repeat: 0,
        seed: 11,
        target_peak_rpm: 2400.0,
        report: "probes/02-f2.000/report.html".into(),
        seconds: 21.0,
    }
}

fn probe_of(s: &Summary) -> Probe {
    from_summary(head(), s, &example(), Path::new("/nonexistent"))
}

#[test]
fn only_a_pass_verdict_is_a_pass() {
    for (v, o) in [
        (Verdict::Pass, Outcome::Pass),
        (Verdict::Fail, Outcome::NotPass),
        (Verdict::Unmeasured, Outcome::NotPass),
        (Verdict::Regression, Outcome::NotPass),
        (Verdict::Invalid, Outcome::Invalid),
        (Verdict::Interrupted, Outcome::Interrupted),
    ] {
        assert_eq!(outcome(&summary(v, vec![])), o, "{v:?}");
    }
    let mut s = summary(Verdict::Pass, vec![]);
    s.interrupted = true;
    assert_eq!(outcome(&s), Outcome::Interrupted);
}

#[test]
fn scaling_multiplies_every_stage_and_changes_nothing_else() {
    let sc = example();
    let mut ramp = sc.clone();
    ramp.load.stages.push(Stage::Ramp {
        from: Some(600.0),
        to: 300.0,
        duration: std::time::Duration::from_secs(5),
    });
    let s = scaled(&ramp, 2.5, 2);
    assert_eq!(peak_rpm(&s), 3000.0);
    assert_eq!(
        s.load.stages[1],
        Stage::Ramp {
            from: Some(1500.0),
            to: 750.0,
            duration: std::time::Duration::from_secs(5)
        }
    );
    assert_eq!(s.seed, sc.seed + 2);
    assert_eq!(
        (&s.faults, &s.sla, &s.traffic),
        (&ramp.faults, &ramp.sla, &ramp.traffic)
    );
    assert_eq!(scaled(&sc, 1.0, 0), sc);
}

#[test]
fn a_measured_failure_names_its_check_and_numbers() {
    let s = summary(
        Verdict::Fail,
        vec![
            Check::measured("uptime", CheckKind::Sla, ">= 99.900%", "99.625%", false),
            Check::measured("p99", CheckKind::Sla, "<= 3.00 s", "1.20 s", true),
        ],
    );
    let p = probe_of(&s);
    assert_eq!(p.outcome, Outcome::NotPass);
    assert_eq!(p.failing.len(), 1);
    let why = p.why.unwrap();
    assert!(
        why.starts_with("uptime 99.625% missed its target >= 99.900%"),
        "{why}"
    );
    assert_eq!(p.p99_limit_ms, Some(3000.0));
    assert_eq!(p.time_to_failover_limit_s, Some(3.0));
    assert_eq!(p.amplification_limit, Some(1.5));
}

#[test]
fn an_unmeasured_check_is_no_pass_and_says_why_unless_optional() {
    let unmeasured = |optional| Check {
        optional,
        ..Check::unmeasured(
            "time to failover: outage",
            CheckKind::Sla,
            "<= 3 s",
            CheckState::NotExercised,
            "traffic had already left",
        )
    };
    let p = probe_of(&summary(Verdict::Unmeasured, vec![unmeasured(false)]));
    assert_eq!(p.outcome, Outcome::NotPass);
    let why = p.why.unwrap();
    assert!(
        why.contains("could not be measured (not exercised): traffic had already left"),
        "{why}"
    );
    // Optional and unmeasured: it spared the verdict, so it is not why.
    let p = probe_of(&summary(Verdict::Pass, vec![unmeasured(true)]));
    assert_eq!(p.outcome, Outcome::Pass);
    assert!(p.failing.is_empty() && p.why.is_none());
}

#[test]
fn an_invalid_probe_gives_the_generators_reason() {
    let lag = Check::measured(
        "generator schedule lag p99",
        CheckKind::Generator,
        "<= 30 ms",
        "250 ms",
        false,
    );
    let p = probe_of(&summary(Verdict::Invalid, vec![lag]));
    assert_eq!(p.outcome, Outcome::Invalid);
    let why = p.why.unwrap();
    assert!(
        why.starts_with("INVALID at 2,400 RPM") && why.contains("lag p99 250 ms over <= 30 ms"),
        "{why}"
    );
}

#[test]
fn rate_limits_are_named_with_the_limit_in_force() {
    let sc = example();
    let r = rate_limited(&sc, Path::new("/nonexistent/ledger.bin"));
    assert!(r.is_empty());
    let line = rate_limits(&[RateLimited {
        provider: "qwen".into(),
        limit_rpm: Some(3000.0),
        answered_429: 3,
    }])
    .unwrap();
    assert_eq!(
        line,
        "qwen's rate limit (3,000 RPM) answered 3 attempt(s) with 429"
    );
}

#[test]
fn the_ledger_tells_whose_own_rate_limit_answered_429() {
    use crate::providers::ledger_writer::LedgerWriter;
    use crate::providers::Attempt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.bin");
    let w = LedgerWriter::create(&path, 2).unwrap();
    let attempt = |provider, fault, arrived_us| Attempt {
        tag: Some(1),
        provider,
        arrived_us,
        answered_us: 2000,
        outcome: AttemptOutcome::RateLimited,
        status: 429,
        input_tokens: 0,
        output_tokens: 0,
        stream: false,
        first_byte_us: Some(10),
        retry_after_ms: Some(1000),
        fault,
    };
    // qwen (1) twice for its limit within the rate_limit fault's window
    // (1 ms and 4 s), once after it (7 s); flash (0) once for a fault's 429.
    for a in [
        attempt(1, None, 1000),
        attempt(0, Some(0), 1000),
        attempt(1, None, 4_000_000),
        attempt(1, None, 7_000_000),
    ] {
        w.sink().record(a);
    }
    w.finish().unwrap();
    let mut sc = example();
    let squeeze = sc
        .faults
        .iter_mut()
        .find(|f| matches!(f.kind, FaultKind::RateLimitSqueeze { .. }))
        .unwrap();
    squeeze.duration = Some(std::time::Duration::from_secs(5));
    let r = rate_limited(&sc, &path);
    let qwen = |limit_rpm, answered_429| RateLimited {
        provider: "qwen".into(),
        limit_rpm,
        answered_429,
    };
    // The fault's 3,000 RPM while it lasts; the profile's 60,000 after.
    assert_eq!(r, [qwen(Some(3000.0), 2), qwen(Some(60000.0), 1)]);
}

/// "because" only when uptime failed and requests failed with 429;
/// otherwise the 429s are what happened meanwhile (the gateway may have
/// retried them elsewhere; they are not why a latency check failed).
#[test]
fn a_429_is_named_the_cause_only_when_requests_failed_with_it() {
    let why_of = |check: Check, failed_429: u64| {
        let mut s = summary(Verdict::Fail, vec![check]);
        s.requests.by_outcome.insert("429".into(), failed_429);
        let mut p = probe_of(&s);
        p.rate_limited = vec![RateLimited {
            provider: "qwen".into(),
            limit_rpm: Some(3000.0),
            answered_429: 7,
        }];
        why(&p, &s)
    };
    let uptime = || Check::measured("uptime", CheckKind::Sla, ">= 99.900%", "99.625%", false);
    let p99 = || Check::measured("p99", CheckKind::Sla, "<= 3.00 s", "4.20 s", false);
    let meanwhile = "(meanwhile qwen's rate limit (3,000 RPM) answered 7 attempt(s) with 429)";
    for (check, n) in [(uptime(), 0), (p99(), 0), (p99(), 4)] {
        let w = why_of(check, n);
        assert!(w.contains(meanwhile) && !w.contains("because"), "{w}");
    }
    let w = why_of(uptime(), 4);
    assert!(
        w.ends_with(
            "uptime 99.625% missed its target >= 99.900%, because qwen's rate limit (3,000 RPM) \
             answered 7 attempt(s) with 429 and 4 request(s) failed with 429"
        ),
        "{w}"
    );
}
