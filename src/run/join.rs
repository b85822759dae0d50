//! The ledger join, run after the load: the client's records against what
//! every provider received. An interrupt stops the ledger read (the long
//! part), and the analysis covers what was read.

use std::path::Path;

use tokio::sync::watch;

use crate::analysis::failover;
use crate::load::generator::DriveEnd;
use crate::metrics::recorder::Recorder;
use crate::scenario::Scenario;

/// Marks a ledger join cut short by an interrupt.
pub(super) const JOIN_INTERRUPTED: &str = "interrupted while reading the ledger";

/// Joins the client's records with the providers' ledger.
/// A damaged ledger (a full disk, a provider task that died) does not cost
/// the run: the attempts read so far are joined and the error is recorded.
pub(super) fn join_ledger(
    scenario: &Scenario,
    rec: &Recorder,
    end: &DriveEnd,
    ledger: &Path,
    connections: failover::Connections,
    quiet: bool,
    cancel: Option<watch::Receiver<bool>>,
) -> failover::Report {
    let names: Vec<String> = scenario.providers.iter().map(|p| p.name.clone()).collect();
    let groups: Vec<Option<String>> = scenario.providers.iter().map(|p| p.group.clone()).collect();
    let prices: Vec<(f64, f64)> = scenario
        .providers
        .iter()
        .map(|p| (p.profile.price_input_per_m, p.profile.price_output_per_m))
        .collect();
    let classes: Vec<String> = scenario.traffic.iter().map(|c| c.name.clone()).collect();
    let dialects: Vec<_> = scenario
        .providers
        .iter()
        .map(|p| p.profile.dialect)
        .collect();
    let input = failover::Input {
        providers: &names,
        groups: &groups,
        prices: &prices,
        class_names: &classes,
        faults: &scenario.faults,
        requests: rec.requests.as_deref().unwrap_or_default(),
        duration_s: rec.timeline.len() as u32,
        sent_until_s: end.send_span.as_secs_f64(),
        account_dialects: rec.account_dialects,
        dialects: &dialects,
        messages: rec.error_messages.entries(),
        connections,
    };
    let mut bad: Option<anyhow::Error> = None;
    // The ledger is the long part of the analysis (one record per attempt):
    // an interrupt stops the read, and the analysis covers what was read.
    // A run already interrupted during the load is analysed in full (a
    // second Ctrl-C cut its in-flight requests; a third exits). Otherwise
    // any interrupt since the sends ended (during the drain's end, while the
    // gateway and providers stopped, or now) stops the read.
    let cancel = cancel.filter(|_| !end.interrupted);
    let stop_now = || cancel.as_ref().is_some_and(|c| *c.borrow());
    let already = stop_now();
    let mut cancelled = already;
    let attempts = crate::providers::read_ledger(ledger)
        .take_while(|_| !already)
        .enumerate()
        .map_while(|(i, a)| {
            if i % 4096 == 4095 && stop_now() {
                cancelled = true;
                return None;
            }
            a.map_err(|e| bad = Some(e)).ok()
        });
    let timings = rec.timings.as_deref().unwrap_or_default();
    let mut report = failover::analyze_client(&input, &rec.answers, timings, attempts);
    if cancelled {
        bad.get_or_insert_with(|| anyhow::anyhow!("{JOIN_INTERRUPTED}"));
    }
    if let Some(e) = bad {
        let msg = format!(
            "reading the ledger {}: {e:#}; the analysis covers the attempts before it",
            ledger.display()
        );
        if !quiet {
            eprintln!("warning: {msg}");
        }
        report.ledger_error = Some(msg);
    }
    report
}
