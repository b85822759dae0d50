//! The SLA checks' tests (`sla.rs`).

#[test]
fn uptime_exactly_at_a_parsed_percentage_target_meets_it() {
    let target = 99.9 / 100.0; // how "99.9%" parses: 0.9990000000000001
    assert!(super::meets(999.0 / 1000.0, target));
    assert!(super::meets(99_900.0 / 100_000.0, target));
    assert!(!super::meets(998.0 / 1000.0, target));
}

#[test]
fn a_partly_read_ledger_measures_no_ledger_check() {
    use super::super::failover::{analyze, Input};
    use super::super::uptime::Uptime;
    use super::super::verdict::CheckState;
    let mut sc = crate::providers::testing::scenario(1, 1);
    sc.sla.max_amplification = Some(1.5);
    let providers = ["p0".to_string()];
    let input = Input {
        providers: &providers,
        groups: &[],
        prices: &[],
        class_names: &[],
        faults: &[],
        requests: &[],
        duration_s: 10,
        sent_until_s: 10.0,
        account_dialects: 0,
        dialects: &[],
        messages: &[],
        connections: super::super::failover::Connections::NotObservable("not watched"),
    };
    let mut report = analyze(&input, std::iter::empty());
    report.ledger_error = Some("truncated record".into());
    let (lag, all) = (
        crate::metrics::histogram::new(),
        crate::metrics::histogram::new(),
    );
    let facts = super::RunFacts {
        lag_limit_ms: 5.0,
        ..Default::default()
    };
    let checks = super::checks(
        &sc,
        &super::Measured {
            lag: &lag,
            dropped: 0,
            cut_off: 0,
            uptime: &Uptime::new(10, 10),
            all: &all,
            classes: vec![],
            failover: Some(&report),
            run: &facts,
        },
    );
    let amp = checks
        .iter()
        .find(|c| c.name == "upstream amplification")
        .unwrap();
    assert_eq!(amp.state, CheckState::NotMeasured);
    assert!(amp.why.as_deref().unwrap().contains("truncated record"));
}

/// The checks of a run with `sc`, 10 OK requests, `failover`, and a run
/// that went well.
pub(crate) fn judged_plain(
    sc: &crate::scenario::Scenario,
    failover: Option<&super::super::failover::Report>,
) -> Vec<super::Check> {
    let run = super::RunFacts {
        lag_limit_ms: 5.0,
        ..Default::default()
    };
    judged(sc, failover, 10, &run)
}

/// The checks of a run with `sc`, 10 OK requests and `failover`.
fn judged(
    sc: &crate::scenario::Scenario,
    failover: Option<&super::super::failover::Report>,
    counted: u64,
    run: &super::RunFacts,
) -> Vec<super::Check> {
    let (mut lag, all) = (
        crate::metrics::histogram::new(),
        crate::metrics::histogram::new(),
    );
    // Every counted request was sent, on time.
    for _ in 0..counted {
        lag.record(100).unwrap();
    }
    super::checks(
        sc,
        &super::Measured {
            lag: &lag,
            dropped: 0,
            cut_off: 0,
            uptime: &super::super::uptime::Uptime::new(counted, counted),
            all: &all,
            classes: vec![],
            failover,
            run,
        },
    )
}

#[test]
fn sla_promises_nothing_could_measure_are_not_measured() {
    use super::super::verdict::CheckState;
    let mut sc = crate::providers::testing::scenario(1, 1);
    sc.sla.max_amplification = Some(1.5);
    sc.sla.max_time_to_failover = Some(std::time::Duration::from_secs(5));
    let facts = super::RunFacts {
        lag_limit_ms: 5.0,
        ..Default::default()
    };
    // No ledger at all (no simulated providers).
    let checks = judged(&sc, None, 10, &facts);
    for name in ["time to failover", "upstream amplification"] {
        let c = checks.iter().find(|c| c.name == name).expect(name);
        assert_eq!(c.state, CheckState::NotMeasured, "{c:?}");
    }
    // A ledger with no attempt joined to any request: not 0.000x PASS.
    let providers = ["p0".to_string()];
    let input = super::super::failover::Input {
        providers: &providers,
        groups: &[],
        prices: &[],
        class_names: &[],
        faults: &[],
        requests: &[],
        duration_s: 10,
        sent_until_s: 10.0,
        account_dialects: 0,
        dialects: &[],
        messages: &[],
        connections: super::super::failover::Connections::NotObservable("not watched"),
    };
    let report = super::super::failover::analyze(&input, std::iter::empty());
    let checks = judged(&sc, Some(&report), 10, &facts);
    let amp = checks
        .iter()
        .find(|c| c.name == "upstream amplification")
        .unwrap();
    assert_eq!(amp.state, CheckState::NotMeasured, "{amp:?}");
    // Nothing counted because the run was interrupted: not the
    // generator's fault (not INVALID).
    let interrupted = super::RunFacts {
        interrupted: Some("interrupted at 0.0 s".into()),
        ..facts
    };
    let checks = judged(&sc, None, 0, &interrupted);
    let counted = checks
        .iter()
        .find(|c| c.name == "requests counted")
        .unwrap();
    assert_eq!(counted.state, CheckState::NotMeasured);
    assert_eq!(
        super::super::verdict::verdict(&checks),
        super::super::Verdict::Interrupted
    );
}

#[test]
fn requests_cut_off_at_the_end_decide_uptime_only_when_they_cannot_change_it() {
    use super::super::uptime::Uptime;
    use super::super::verdict::CheckState;
    let target = 0.999;
    // 40 answered, all OK; 20 still hanging at the end: unknown.
    let c = super::uptime_check(target, &Uptime::new(40, 40), 20);
    assert_eq!(c.state, CheckState::NotMeasured);
    assert!(!c.pass);
    assert!(c.why.as_deref().unwrap().contains("20 request(s)"), "{c:?}");
    // Even all-failed, 1 cut off of 100,000 cannot miss the target.
    let c = super::uptime_check(target, &Uptime::new(100_000, 100_000), 1);
    assert!(c.pass && c.state == CheckState::Measured);
    // Already missed without them: a plain FAIL.
    let c = super::uptime_check(target, &Uptime::new(90, 100), 5);
    assert!(!c.pass && c.state == CheckState::Measured);
    // Nothing counted at all.
    let c = super::uptime_check(target, &Uptime::new(0, 0), 3);
    assert_eq!(c.state, CheckState::NotMeasured);
}

#[test]
fn a_run_that_sent_nothing_has_no_lag_to_pass() {
    use super::super::uptime::Uptime;
    use super::super::verdict::CheckState;
    let sc = crate::providers::testing::scenario(1, 1);
    let (mut lag, all) = (
        crate::metrics::histogram::new(),
        crate::metrics::histogram::new(),
    );
    let facts = super::RunFacts {
        lag_limit_ms: 5.0,
        ..Default::default()
    };
    let lag_check = |lag: &crate::metrics::histogram::Hist| {
        let m = super::Measured {
            lag,
            dropped: 0,
            cut_off: 0,
            uptime: &Uptime::new(0, 0),
            all: &all,
            classes: vec![],
            failover: None,
            run: &facts,
        };
        super::checks(&sc, &m)
            .into_iter()
            .find(|c| c.name == "generator schedule lag p99")
            .unwrap()
    };
    let none = lag_check(&lag);
    assert_eq!(none.state, CheckState::NotMeasured, "{none:?}");
    assert!(!none.pass);
    lag.record(1_000).unwrap();
    let one = lag_check(&lag);
    assert_eq!((one.state, one.pass), (CheckState::Measured, true));
}
