//! The join end to end, on a synthetic run with a known answer.

use std::time::Duration;

use super::*;
use crate::metrics::Outcome;
use crate::providers::ledger::AttemptOutcome;
use crate::scenario::FaultKind;

pub(super) const FLASH: u16 = 0;
pub(super) const QWEN: u16 = 1;

pub(super) fn attempt(seq: u64, provider: u16, at_ms: i64, outcome: AttemptOutcome) -> Attempt {
    Attempt {
        tag: Some(seq),
        provider,
        arrived_us: at_ms * 1000,
        answered_us: at_ms * 1000 + 100_000,
        outcome,
        status: if outcome == AttemptOutcome::Ok {
            200
        } else {
            503
        },
        input_tokens: 100,
        output_tokens: if outcome == AttemptOutcome::Ok { 50 } else { 0 },
        stream: false,
        first_byte_us: None,
        retry_after_ms: None,
        fault: None,
    }
}

/// 10 req/s for 100 s. flash is out from 40 s to 60 s: 40–45 s the gateway
/// tries flash then fails over to qwen; 45–70 s it sends straight to qwen
/// (breaker open, cool-off); from 70 s flash again. Request 100 (t=10 s)
/// is retried on flash; requests 420–422 fail on both (exhausted).
pub(super) fn synthetic() -> (Vec<ClientRecord>, Vec<Attempt>) {
    let mut recs = Vec::new();
    let mut atts = Vec::new();
    for seq in 0..1000u64 {
        let at = (seq * 100) as i64;
        let mut rec = ClientRecord {
            intended_ms: at as u32,
            latency_us: 200_000,
            served_by: FLASH as u8,
            message: crate::metrics::messages::ErrorMessages::NONE,
            class: 0,
            outcome: Outcome::Ok,
            account: crate::metrics::recorder::AccountRecord::EMPTY,
        };
        match at {
            _ if seq == 100 => {
                atts.push(attempt(seq, FLASH, at, AttemptOutcome::HttpError));
                atts.push(attempt(seq, FLASH, at + 50, AttemptOutcome::Ok));
            }
            _ if (420..=422).contains(&seq) => {
                atts.push(attempt(seq, FLASH, at, AttemptOutcome::HttpError));
                atts.push(attempt(seq, QWEN, at + 10, AttemptOutcome::HttpError));
                rec.outcome = Outcome::Http5xx;
                rec.served_by = ClientRecord::NONE;
            }
            40_000..=44_999 => {
                atts.push(attempt(seq, FLASH, at, AttemptOutcome::HttpError));
                atts.push(attempt(seq, QWEN, at + 10, AttemptOutcome::Ok));
                rec.served_by = QWEN as u8;
                rec.latency_us = 300_000;
            }
            45_000..=69_999 => {
                atts.push(attempt(seq, QWEN, at, AttemptOutcome::Ok));
                rec.served_by = QWEN as u8;
            }
            _ => atts.push(attempt(seq, FLASH, at, AttemptOutcome::Ok)),
        }
        recs.push(rec);
    }
    atts.push(Attempt {
        tag: None,
        ..attempt(0, FLASH, 5, AttemptOutcome::Ok)
    });
    atts.push(Attempt {
        arrived_us: -5000,
        ..attempt(u64::MAX, FLASH, 0, AttemptOutcome::Ok)
    });
    // Ledger order is arrival-ish, not request order: shuffle deterministically.
    atts.reverse();
    (recs, atts)
}

/// 100 s, no prices, no class names, no gateway account.
pub(super) fn plain_input<'a>(
    providers: &'a [String],
    faults: &'a [Fault],
    recs: &'a [ClientRecord],
) -> Input<'a> {
    Input {
        providers,
        groups: &[],
        prices: &[],
        class_names: &[],
        faults,
        requests: recs,
        duration_s: 100,
        sent_until_s: 100.0,
        account_dialects: 0,
        dialects: &[],
        messages: &[],
        connections: Connections::NotObservable("not watched"),
    }
}

pub(super) fn outage() -> Fault {
    Fault {
        providers: vec![0],
        target_label: "provider flash".into(),
        start: Duration::from_secs(40),
        duration: Some(Duration::from_secs(20)),
        probability: 1.0,
        kind: FaultKind::OutageHttp { status: 503 },
        error: Default::default(),
        after_tokens: None,
    }
}

/// `synthetic()` with prices, one traffic class and the flash outage.
fn priced_report() -> Report {
    let (recs, atts) = synthetic();
    let providers = ["flash".to_string(), "qwen".to_string()];
    let classes = ["default".to_string()];
    let faults = [outage()];
    let prices = [(0.1, 0.2), (1.0, 2.0)];
    let input = Input {
        providers: &providers,
        groups: &[],
        prices: &prices,
        class_names: &classes,
        faults: &faults,
        requests: &recs,
        duration_s: 100,
        sent_until_s: 100.0,
        account_dialects: 0,
        dialects: &[],
        messages: &[],
        connections: Connections::NotObservable("not watched"),
    };
    analyze(&input, atts)
}

#[test]
fn bills_every_joined_attempt_and_what_failover_added() {
    let r = priced_report();
    // flash: 699 plain + 2 (retry) + 50 (failed first) = 751 attempts × 100 in,
    // 700 answers × 50 out; qwen: 250 + 47 + 3 = 300 × 100 in, 297 × 50 out
    // (the untagged and preflight attempts are not joined and not billed to the run).
    let flash = (751.0 * 100.0 * 0.1 + 700.0 * 50.0 * 0.2) / 1e6;
    let qwen = (300.0 * 100.0 * 1.0 + 297.0 * 50.0 * 2.0) / 1e6;
    assert!((r.cost.by_provider["flash"] - flash).abs() < 1e-12);
    assert!((r.cost.by_provider["qwen"] - qwen).abs() < 1e-12);
    assert!((r.cost.total - flash - qwen).abs() < 1e-12);
    assert!((r.cost.by_class["default"] - r.cost.total).abs() < 1e-12);
    // 47 failovers: each paid a failed flash attempt (100 in) and a qwen answer
    // instead of a flash answer: (100×0.1 + 100×1 + 50×2 − 100×0.1 − 50×0.2) / 1e6.
    // The retry paid one extra flash input; the exhausted paid two inputs, served nothing.
    let per_failover = (100.0 * 1.0 + 50.0 * 2.0 - 50.0 * 0.2) / 1e6;
    let retry = 100.0 * 0.1 / 1e6;
    let exhausted = 3.0 * (100.0 * 0.1 + 100.0 * 1.0) / 1e6;
    assert!(
        (r.cost.failover_added - (47.0 * per_failover + retry + exhausted)).abs() < 1e-12,
        "{}",
        r.cost.failover_added
    );
}

#[test]
fn classifies_events_and_reconciles_attempts() {
    let r = priced_report();
    // 47 failovers at 40–45 s (50 minus the 3 exhausted), 1 retry, 3 exhausted.
    assert_eq!((r.failovers, r.retries, r.exhausted), (47, 1, 3));
    assert_eq!(r.events, 51);
    assert_eq!(r.unreached, 0);
    // Attempts: 1000 + 1 (retry) + 3 (exhausted) + 47 (failovers).
    assert_eq!(r.attempts, 1051);
    assert_eq!(r.amplification, 1.051);
    assert_eq!((r.untagged_attempts, r.unmatched_attempts), (1, 1));
    assert_eq!(r.served_by_disagreements, 0);
    assert_eq!(r.providers["flash"].first_attempts, 1000 - 250);
    assert_eq!(r.providers["qwen"].first_attempts, 250);
    assert_eq!(r.providers["qwen"].served, 297);
    assert_eq!(r.providers["flash"].served, 700);
    assert_eq!(r.failover_latency_ms.count, 48);
    assert!((r.failover_latency_ms.p50 - 300.0).abs() < 0.5);
    let e = r.event_list.iter().find(|e| e.seq == 100).unwrap();
    assert_eq!(
        (e.kind, e.served_by.as_deref(), e.attempts),
        (EventKind::Retry, Some("flash"), 2)
    );
}

#[test]
fn times_the_failover_and_the_recovery() {
    let r = priced_report();
    let w = &r.windows[0];
    assert_eq!(w.provider, "flash");
    // Met at 40.0 s; the last first attempt at flash left at 44.9 s, 49
    // requests after the one that met the fault.
    assert_eq!(
        (w.state, w.met_fault_s),
        (WindowState::Measured, Some(40.0))
    );
    assert_eq!(w.time_to_failover_s, Some(4.9));
    assert_eq!(w.sent_into_fault, Some(49));
    assert_eq!(w.time_to_recover_s, Some(10.0));
    // The 3 exhausted requests tried both providers: provider errors.
    assert_eq!((w.requests, w.errors, w.gateway_errors), (200, 3, 0));
    assert_eq!(w.errors_by_outcome.get("5xx"), Some(&3));
    assert_eq!(w.why, None);
}

#[test]
fn flows_per_second_show_the_traffic_moving() {
    let r = priced_report();
    assert_eq!(
        r.per_second.iter().map(|s| s.sent as u64).sum::<u64>(),
        1000
    );
    // At 42 s every request tried flash first and then qwen; at 50 s the
    // gateway sent everything straight to qwen.
    let (s42, s50) = (&r.per_second[42], &r.per_second[50]);
    assert_eq!(
        (
            s42.first_attempts["flash"],
            s42.attempts["qwen"],
            s42.amplification
        ),
        (10, 10, 2.0)
    );
    assert_eq!(
        (
            s50.first_attempts["flash"],
            s50.first_attempts["qwen"],
            s50.amplification
        ),
        (0, 10, 1.0)
    );
    assert_eq!(s50.served["qwen"], 10);
    let served: u32 = r.per_second.iter().flat_map(|s| s.served.values()).sum();
    assert_eq!(served, 997);
}

#[test]
fn a_fault_on_a_provider_without_first_attempts_has_nothing_to_move() {
    let (recs, atts) = synthetic();
    let providers = ["flash".to_string(), "qwen".to_string()];
    // qwen only takes first attempts from 45 s on; a fault at 10–20 s finds none.
    let fault = Fault {
        providers: vec![1],
        target_label: "provider qwen".into(),
        start: Duration::from_secs(10),
        ..outage()
    };
    let faults = [fault];
    let input = plain_input(&providers, &faults, &recs);
    let w = &analyze(&input, atts).windows[0];
    assert_eq!(
        (w.usual_first_share, w.time_to_failover_s, w.state),
        (Some(0.0), None, WindowState::NotExercised)
    );
    let why = w.why.as_deref().unwrap();
    assert!(
        why.contains("qwen had no traffic when the window began"),
        "{why}"
    );
}

#[test]
fn a_gateway_that_never_fails_over_has_no_time_to_failover() {
    let (mut recs, mut atts) = synthetic();
    // Replace 40–60 s with: first attempt to flash, 503, no further attempt.
    atts.retain(|a| a.tag.is_none_or(|t| !(400..600).contains(&t)));
    for seq in 400..600u64 {
        atts.push(attempt(
            seq,
            FLASH,
            (seq * 100) as i64,
            AttemptOutcome::HttpError,
        ));
        recs[seq as usize].outcome = Outcome::Http5xx;
    }
    let providers = ["flash".to_string(), "qwen".to_string()];
    let faults = [outage()];
    let input = plain_input(&providers, &faults, &recs);
    let r = analyze(&input, atts);
    assert_eq!(r.windows[0].time_to_failover_s, None);
    assert_eq!(r.windows[0].state, WindowState::Never);
    assert_eq!(
        (r.windows[0].met_fault_s, r.windows[0].sent_into_fault),
        (Some(40.0), Some(199))
    );
    assert_eq!(
        r.windows[0].time_to_recover_s, None,
        "it never left, so it cannot come back"
    );
    assert_eq!(r.exhausted, 200);
    assert_eq!(r.windows[0].errors, 200);
}

#[test]
fn refused_connections_seen_in_refuse_windows_count_as_attempts() {
    let (recs, atts) = synthetic();
    let providers = ["flash".to_string(), "qwen".to_string()];
    let faults = [Fault {
        kind: FaultKind::OutageRefuse,
        ..outage()
    }];
    // One SYN a second to each provider all run (new connections), three a
    // second to flash while it refuses (40–60 s).
    let syns: Vec<Vec<u32>> = (0..100)
        .map(|s| vec![if (40..60).contains(&s) { 3 } else { 1 }, 1])
        .collect();
    let mut input = plain_input(&providers, &faults, &recs);
    input.connections = Connections::Seen(&syns);
    let r = analyze(&input, atts.clone());
    assert_eq!(r.refused_connections, Some(60));
    assert_eq!(r.providers["flash"].refused_connections, Some(60));
    assert_eq!(r.providers["qwen"].refused_connections, Some(0));
    // The ledger's attempts are as they are; amplification adds the refused.
    assert_eq!(r.attempts, 1051);
    assert!(
        (r.amplification - 1.111).abs() < 1e-9,
        "{}",
        r.amplification
    );

    // Not observable: nothing counted, nothing attributed.
    let input = plain_input(&providers, &faults, &recs);
    let r = analyze(&input, atts);
    assert_eq!(r.refused_connections, None);
    assert_eq!(r.providers["flash"].refused_connections, None);
    assert_eq!(r.amplification, 1.051);
    assert_eq!(r.providers["flash"].first_attempts, 750);
}
