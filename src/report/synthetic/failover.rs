//! The synthetic run's failover analysis: its one fault window and the
//! report around it.

use super::{fault_window, FailoverLog, FaultInfo, Shape, Sim, Totals};
use crate::analysis::failover::{Cost, ProviderStats, Report, Window};
use crate::analysis::obedience::{Obedience, RetryAfterRow};
use crate::analysis::CheckState;
use crate::metrics::histogram::{self, Percentiles};

/// The outage's window in the failover analysis.
pub(super) fn window(
    shape: &Shape,
    fault: &FaultInfo,
    providers: &[String],
    totals: Totals,
) -> Window {
    let (fs, fe) = fault_window(shape);
    Window {
        provider: providers[0].clone(),
        fault: fault.label.clone(),
        start_s: fs,
        end_s: Some(fe),
        usual_first_share: Some(0.8),
        state: Default::default(),
        why: None,
        met_fault_s: Some(fs),
        sent_into_fault: Some(2),
        time_to_failover_s: Some(1.0),
        time_to_recover_s: Some(2.0),
        requests: (fe - fs) as u64 * shape.rps,
        errors: totals.failed,
        gateway_errors: 0,
        errors_elsewhere: 0,
        errors_by_outcome: [("5xx".to_string(), totals.failed)]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect(),
        p99_ms: 1500.0,
        all_p99_ms: Some(1500.0),
        reach: Default::default(),
    }
}

pub(super) fn failover_report(
    sim: &Sim,
    totals: Totals,
    all: &histogram::Hist,
    window: Window,
    cost: Cost,
    log: FailoverLog,
) -> Report {
    let window_label = window.fault.clone();
    let failovers = log.events.len() as u64;
    let np = sim.providers.len() as u64;
    let per_provider = |i: usize| ProviderStats {
        attempts: totals.counted / np,
        first_attempts: totals.counted / np,
        failed_attempts: if i == 0 { totals.failed } else { 0 },
        served: totals.ok / np,
        input_tokens: 1000 * (i as u64 + 1),
        output_tokens: 500 * (i as u64 + 1),
        cost_usd: 0.01 * (i as f64 + 1.0),
        refused_connections: None,
    };
    Report {
        events: failovers + 1,
        failovers,
        group_moves: 0,
        retries: 1,
        exhausted: 0,
        unreached: 0,
        provider_errors_passed_through: 0,
        gateway_errors: Vec::new(),
        amplification: 1.03,
        attempts: totals.counted + failovers,
        refused_connections: None,
        untagged_attempts: 0,
        unmatched_attempts: 0,
        served_by_disagreements: 0,
        answers: crate::analysis::failover::AnswerCheck {
            answers_checked: totals.ok,
            ..Default::default()
        },
        gateway_account: None,
        failover_latency_ms: Percentiles::default(),
        normal_latency_ms: Percentiles::of(all),
        providers: sim
            .providers
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), per_provider(i)))
            .collect(),
        windows: vec![window],
        cost,
        event_list: log.events,
        per_second: log.flows,
        ledger_error: None,
        connections: None,
        gateway_overhead: None,
        obedience: Some(obedience(sim, totals, &window_label)),
    }
}

/// What the synthetic gateway did with the providers' asks: it waited out
/// most Retry-After answers, left non-retryable errors alone and rewrote
/// some of the outage's 503s as 500s.
pub(super) fn obedience(sim: &Sim, totals: Totals, window: &str) -> Obedience {
    use crate::analysis::obedience::{RewritePair, RewrittenRow, Violation};
    let provider = sim.providers[0].clone();
    let answers = (totals.counted / 20).max(2);
    let late = answers / 10 + 1;
    let compared = totals.counted / 10 + 2;
    let rewritten = compared / 2;
    let mut o = Obedience {
        grace_ms: 50.0,
        ..Default::default()
    };
    let r = &mut o.retry_after;
    (r.answers, r.not_waited, r.violations, r.same_request) = (answers, late, late, late);
    r.worst = Some(Violation {
        request: crate::protocol::tag::format(totals.counted / 3),
        provider: provider.clone(),
        at_s: 12.5,
        early_ms: 840.0,
        retry_after_ms: 1000,
    });
    r.rows = vec![RetryAfterRow {
        provider: provider.clone(),
        window: "rate limit".into(),
        answers,
        not_waited: late,
        violations: late,
        same_request: late,
        other_requests: 0,
        worst: r.worst.clone(),
    }];
    let n = &mut o.non_retryable;
    n.state = CheckState::NotExercised;
    n.why = Some("no request got an error that must not be retried".into());
    let w = &mut o.rewritten;
    (w.compared, w.kept, w.rewritten, w.status_changed) =
        (compared, compared - rewritten, rewritten, rewritten);
    w.pairs = vec![RewritePair {
        from: "503 server_error".into(),
        to: "500 server_error".into(),
        count: rewritten,
    }];
    w.rows = vec![RewrittenRow {
        provider,
        window: window.to_string(),
        compared,
        kept: compared - rewritten,
        rewritten,
    }];
    o
}
