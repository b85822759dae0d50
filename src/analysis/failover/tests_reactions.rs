//! Reactions to fault windows, end to end through `analyze`, on synthetic
//! ledgers with a known answer: one test per window state.

use std::time::Duration;

use super::tests::{attempt, outage, plain_input, synthetic, FLASH, QWEN};
use super::*;
use crate::metrics::Outcome;
use crate::providers::ledger::AttemptOutcome;
use crate::scenario::FaultKind;

fn names() -> [String; 2] {
    ["flash".to_string(), "qwen".to_string()]
}

/// A fault on flash from `start` s to `end` s.
fn on_flash(kind: FaultKind, start: u64, end: u64) -> Fault {
    Fault {
        start: Duration::from_secs(start),
        duration: Some(Duration::from_secs(end - start)),
        kind,
        ..outage()
    }
}

/// Replaces requests `seqs` of `synthetic()` with what `make` says each one
/// got: its attempts and its outcome.
fn rewrite(
    seqs: std::ops::Range<u64>,
    make: impl Fn(u64, i64) -> (Vec<Attempt>, Outcome),
) -> (Vec<ClientRecord>, Vec<Attempt>) {
    let (mut recs, mut atts) = synthetic();
    atts.retain(|a| a.tag.is_none_or(|t| !seqs.contains(&t)));
    for seq in seqs {
        let (mut a, outcome) = make(seq, (seq * 100) as i64);
        atts.append(&mut a);
        recs[seq as usize].outcome = outcome;
    }
    (recs, atts)
}

#[test]
fn a_provider_benched_by_an_earlier_window_is_not_exercised_and_says_since_when() {
    // The gateway left flash at 44.9 s in the 40–60 s outage; a second
    // fault on flash at 50–55 s finds it without traffic.
    let (recs, atts) = synthetic();
    let faults = [outage(), on_flash(FaultKind::OutageHang, 50, 55)];
    let providers = names();
    let r = analyze(&plain_input(&providers, &faults, &recs), atts);
    let w = &r.windows[1];
    assert_eq!(w.state, WindowState::NotExercised);
    assert_eq!((w.time_to_failover_s, w.met_fault_s), (None, None));
    let why = w.why.as_deref().unwrap();
    assert!(
        why.contains("benched since t=44.9 s")
            && why.contains("during outage (503) on provider flash 40–60 s"),
        "{why}"
    );
}

#[test]
fn time_to_failover_runs_from_the_first_failure_met_not_the_window_start() {
    // The window opens at 35 s; flash answers until 40 s (the fault's
    // effect, in this ledger, begins there): met at 40.0, left at 44.9.
    let (recs, atts) = synthetic();
    let faults = [on_flash(FaultKind::OutageHttp { status: 503 }, 35, 60)];
    let providers = names();
    let w = &analyze(&plain_input(&providers, &faults, &recs), atts).windows[0];
    assert_eq!(
        (w.state, w.met_fault_s),
        (WindowState::Measured, Some(40.0))
    );
    assert_eq!(
        (w.time_to_failover_s, w.sent_into_fault),
        (Some(4.9), Some(49))
    );
}

#[test]
fn a_one_second_dip_is_not_a_failover() {
    // 40–60 s: every request tries flash (503) then qwen, except in second
    // 42, when the gateway sends straight to qwen; then back to flash.
    let (recs, atts) = rewrite(400..600, |seq, at| {
        let mut a = vec![];
        if !(42_000..43_000).contains(&at) {
            a.push(attempt(seq, FLASH, at, AttemptOutcome::HttpError));
        }
        a.push(attempt(seq, QWEN, at + 10, AttemptOutcome::Ok));
        (a, Outcome::Ok)
    });
    let faults = [outage()];
    let providers = names();
    let w = &analyze(&plain_input(&providers, &faults, &recs), atts).windows[0];
    assert_eq!(w.state, WindowState::Never, "{w:?}");
    assert_eq!(w.time_to_failover_s, None);
    assert!(w.why.as_deref().unwrap().contains("at t=40.0 s"), "{w:?}");
}

#[test]
fn the_gateways_own_429s_are_not_provider_errors_and_exercise_nothing() {
    // 40–60 s: flash gets nothing; odd requests go to qwen, even ones fail
    // with the gateway's own 429 and no provider attempt.
    let (recs, atts) = rewrite(400..600, |seq, at| {
        if seq % 2 == 0 {
            (vec![], Outcome::Http429)
        } else {
            (
                vec![attempt(seq, QWEN, at, AttemptOutcome::Ok)],
                Outcome::Ok,
            )
        }
    });
    let faults = [outage()];
    let providers = names();
    let r = analyze(&plain_input(&providers, &faults, &recs), atts);
    let w = &r.windows[0];
    assert_eq!((w.requests, w.errors, w.gateway_errors), (200, 0, 100));
    assert!(w.errors_by_outcome.is_empty(), "{w:?}");
    assert_eq!(w.state, WindowState::NotExercised);
    let why = w.why.as_deref().unwrap();
    assert!(why.contains("benched since t=39.9 s"), "{why}");
}

#[test]
fn traffic_that_met_no_failure_inside_the_window_exercised_nothing() {
    // The scenario says flash is out, but every attempt at it inside the
    // window succeeded: there was no failure to react to.
    let (recs, atts) = rewrite(400..600, |seq, at| {
        (
            vec![attempt(seq, FLASH, at, AttemptOutcome::Ok)],
            Outcome::Ok,
        )
    });
    let faults = [outage()];
    let providers = names();
    let w = &analyze(&plain_input(&providers, &faults, &recs), atts).windows[0];
    assert_eq!(w.state, WindowState::NotExercised);
    let why = w.why.as_deref().unwrap();
    assert!(
        why.contains("200 attempt(s) reached flash") && why.contains("none failed"),
        "{why}"
    );
}

#[test]
fn a_refusal_window_is_timed_from_connection_attempts_when_they_were_seen() {
    let (recs, atts) = synthetic();
    let faults = [on_flash(FaultKind::OutageRefuse, 40, 60)];
    let providers = names();
    // SYNs at flash: 10 a second until 43 s, then none.
    let counts: Vec<Vec<u32>> = (0..=100)
        .map(|s| vec![if s < 43 { 10 } else { 0 }, 5])
        .collect();
    let mut input = plain_input(&providers, &faults, &recs);
    input.connections = Connections::Seen(&counts);
    let w = &analyze(&input, atts.clone()).windows[0];
    assert_eq!(w.state, WindowState::Measured, "{w:?}");
    assert_eq!(w.met_fault_s, Some(40.0));
    assert_eq!(w.time_to_failover_s, Some(3.0));
    assert_eq!(w.sent_into_fault, Some(29));
    // Without the means to watch: not observable, with the reason.
    input.connections = Connections::NotObservable("no CAP_NET_RAW");
    let w = &analyze(&input, atts).windows[0];
    assert_eq!(w.state, WindowState::NotObservable);
    assert_eq!(w.time_to_failover_s, None);
    assert!(
        w.why.as_deref().unwrap().contains("no CAP_NET_RAW"),
        "{w:?}"
    );
}

#[test]
fn every_state_becomes_a_check_that_never_passes_unmeasured() {
    use crate::analysis::verdict::CheckState;
    let (recs, atts) = synthetic();
    let faults = [outage(), on_flash(FaultKind::OutageHang, 50, 55)];
    let providers = names();
    let r = analyze(&plain_input(&providers, &faults, &recs), atts);
    let mut sc = crate::providers::testing::scenario(1, 2);
    sc.sla.max_time_to_failover = Some(Duration::from_secs(10));
    let checks = crate::analysis::sla::tests::judged_plain(&sc, Some(&r));
    let ttf: Vec<_> = checks
        .iter()
        .filter(|c| c.name.starts_with("time to failover"))
        .collect();
    assert_eq!(ttf.len(), 2);
    assert!(ttf[0].pass && ttf[0].measured == "4.9 s", "{:?}", ttf[0]);
    assert_eq!(ttf[1].state, CheckState::NotExercised);
    assert!(!ttf[1].pass);
    assert!(ttf[1].why.as_deref().unwrap().contains("benched since"));
    assert_eq!(
        crate::analysis::verdict::verdict(&checks),
        crate::analysis::Verdict::Unmeasured
    );
    // Optional: still NOT EXERCISED, but the run passes.
    sc.sla.optional = vec![crate::scenario::SlaKey::TimeToFailover];
    let checks = crate::analysis::sla::tests::judged_plain(&sc, Some(&r));
    let c = checks
        .iter()
        .find(|c| c.state == CheckState::NotExercised)
        .unwrap();
    assert!(c.optional && !c.pass);
    assert_eq!(
        crate::analysis::verdict::verdict(&checks),
        crate::analysis::Verdict::Pass
    );
}

#[test]
fn failures_only_on_fallbacks_give_first_attempts_nothing_to_leave() {
    // 40–60 s: first attempts go to qwen, which fails; the gateway falls
    // back to flash, which fails too. Flash met the fault, but only on
    // fallbacks: timing the leaving of first attempts would be a 0.0 s
    // PASS about nothing.
    let (recs, atts) = rewrite(400..600, |seq, at| {
        (
            vec![
                attempt(seq, QWEN, at, AttemptOutcome::HttpError),
                attempt(seq, FLASH, at + 10, AttemptOutcome::HttpError),
            ],
            Outcome::Http5xx,
        )
    });
    let faults = [outage()];
    let providers = names();
    let w = &analyze(&plain_input(&providers, &faults, &recs), atts).windows[0];
    assert_eq!(w.state, WindowState::NotExercised, "{w:?}");
    assert_eq!((w.time_to_failover_s, w.met_fault_s), (None, None));
    let why = w.why.as_deref().unwrap();
    assert!(why.contains("only retries or fallbacks"), "{why}");
    assert_eq!(w.errors, 200);
}
