//! The flapping accumulator on synthetic ledgers: met down phases, probes,
//! traffic back in the up phases, the timeline's bound, refused and
//! unreached windows.

use std::time::Duration;

use super::tests::{att, fault, rec, run};
use super::*;
use crate::metrics::messages::ErrorMessages;
use crate::metrics::Outcome;
use crate::scenario::ErrorSpec;

/// Flapping at p0 from 10 s for 8 s: every 2 s, 1 s down (503), 1 s up.
fn flapping(down: FlapAs, duration: Option<u64>) -> Fault {
    let mut f = fault(
        FaultKind::Flapping {
            period: Duration::from_secs(2),
            duty: 0.5,
            down,
        },
        ErrorSpec::default(),
    );
    f.start = Duration::from_secs(10);
    f.duration = duration.map(Duration::from_secs);
    f
}

#[test]
fn probes_per_met_down_phase_and_traffic_back_in_the_up_phases() {
    let faults = [flapping(FlapAs::Http { status: 503 }, Some(8))];
    let requests = vec![rec(Outcome::Ok, ErrorMessages::NONE); 20];
    let attempts = [
        // Period 0: met at 10.1 s (answered 10.11 s).
        att(Some(0), 0, 10_100, 503),
        att(Some(1), 0, 10_150, 503), // within the grace: not a probe
        att(Some(2), 0, 10_500, 503), // probe
        att(Some(3), 0, 10_900, 503), // probe
        att(Some(4), 1, 10_950, 200), // another provider
        att(Some(5), 0, 11_300, 200), // back 0.3 s into the up phase
        att(Some(6), 0, 11_600, 200),
        // Period 1: nothing. Period 2: met, one probe, no traffic back.
        att(Some(7), 0, 14_000, 503),
        att(Some(8), 0, 14_500, 503),
        // Period 3: a success while down is no failure: not met.
        att(Some(9), 0, 16_500, 200),
        // After the window.
        att(Some(10), 0, 18_100, 503),
    ];
    let o = run(&faults, &[], &requests, &[], &attempts);
    assert_eq!(o.flapping.len(), 1);
    let f = &o.flapping[0];
    assert_eq!(f.state, CheckState::Measured);
    assert_eq!((f.down_phases, f.down_phases_met), (4, 2));
    assert_eq!((f.probes_max, f.probes_mean), (2, 1.5));
    assert_eq!((f.up_phases, f.up_phases_returned), (2, 1));
    let median = f.return_median_s.unwrap();
    assert!((median - 0.3).abs() < 1e-9, "{median}");
    assert_eq!(f.provider, "p0");
    assert!(f.window.starts_with("flapping (503"), "{}", f.window);
}

#[test]
fn phases_are_bounded_by_the_timeline() {
    // No end: until the end of the run (100 s), 1 s periods at most.
    let faults = [flapping(FlapAs::Reset, None)];
    let o = run(&faults, &[], &[], &[], &[]);
    assert_eq!(o.flapping[0].down_phases, 45);
    assert_eq!(o.flapping[0].state, CheckState::NotExercised);
}

#[test]
fn a_refusing_flap_is_not_observable_and_a_late_one_not_reached() {
    let o = run(&[flapping(FlapAs::Refuse, Some(8))], &[], &[], &[], &[]);
    assert_eq!(o.flapping[0].state, CheckState::NotObservable);
    assert!(o.flapping[0].why.as_deref().unwrap().contains("ledger"));
    let mut late = flapping(FlapAs::Hang, Some(8));
    late.start = Duration::from_secs(150);
    let o = run(&[late], &[], &[], &[], &[]);
    assert_eq!(o.flapping[0].state, CheckState::NotReached);
    assert_eq!(o.flapping[0].down_phases, 0);
}

#[test]
fn an_attempt_at_a_phase_edge_is_in_the_phase_the_providers_used() {
    let faults = [flapping(FlapAs::Http { status: 503 }, Some(8))];
    let requests = vec![rec(Outcome::Ok, ErrorMessages::NONE); 4];
    let attempts = [
        att(Some(0), 0, 10_000, 503), // the window's first instant: down
        att(Some(1), 0, 10_999, 503), // the down part's last ms: a probe
        att(Some(2), 0, 11_000, 200), // the up part's first instant
        att(Some(3), 0, 12_000, 503), // the next period's first instant
    ];
    let o = run(&faults, &[], &requests, &[], &attempts);
    let f = &o.flapping[0];
    assert_eq!((f.down_phases_met, f.probes_max), (2, 1));
    assert_eq!((f.up_phases, f.up_phases_returned), (2, 1));
    assert_eq!(f.return_median_s, Some(0.0));
}
