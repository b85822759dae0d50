//! The ledger join, run after the load: the client's records against what
//! every provider received. An interrupt stops the ledger read (the long
//! part), and the analysis covers what was read.

use std::path::{Path, PathBuf};

use tokio::sync::watch;

use super::sort::AttemptRuns;
use super::spill::RowFile;
use crate::analysis::failover;
use crate::load::generator::DriveEnd;
use crate::metrics::recorder::Recorder;
use crate::providers::ledger::Attempt;
use crate::scenario::Scenario;

/// Marks a ledger join cut short by an interrupt.
pub(super) const JOIN_INTERRUPTED: &str = "interrupted while reading the ledger";

/// Joins the client's records with the providers' ledger, which may be in
/// several parts (shards' own providers, replicas of a provider service):
/// they are read together in the order their attempts ended, as one
/// ledger would have them. The sort's files go into `work_dir`.
/// A damaged ledger (a full disk, a provider task that died) does not cost
/// the run: the attempts read so far are joined and the error is recorded.
#[allow(clippy::too_many_arguments)]
pub fn join_ledger(
    scenario: &Scenario,
    rec: &Recorder,
    end: &DriveEnd,
    ledgers: &[PathBuf],
    work_dir: &Path,
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
    let attempts = in_end_order(ledgers)
        .take_while(|_| !already)
        .enumerate()
        .map_while(|(i, a)| {
            if i % 4096 == 4095 && stop_now() {
                cancelled = true;
                return None;
            }
            a.map_err(|e| bad = Some(e)).ok()
        });
    let mut report = analyze(&input, rec, work_dir, quiet, attempts);
    if cancelled {
        bad.get_or_insert_with(|| anyhow::anyhow!("{JOIN_INTERRUPTED}"));
    }
    if let Some(e) = bad {
        let names: Vec<String> = ledgers.iter().map(|l| l.display().to_string()).collect();
        let msg = format!(
            "reading the ledger {}: {e:#}; the analysis covers the attempts before it",
            names.join(", ")
        );
        if !quiet {
            crate::term::warning(&msg);
        }
        report.ledger_error = Some(msg);
    }
    report
}

/// The analysis, from the files next to the ledger when the recorder kept
/// the client's rows there (a run: memory does not grow with its length),
/// else from the recorder's vectors. A file that lost rows or attempts is
/// told in `ledger_error`.
fn analyze(
    input: &failover::Input,
    rec: &Recorder,
    dir: &Path,
    quiet: bool,
    attempts: impl Iterator<Item = crate::providers::ledger::Attempt>,
) -> failover::Report {
    let kept = rec
        .store
        .as_ref()
        .and_then(|s| s.as_any().downcast_ref::<RowFile>());
    let Some(rows) = kept else {
        let timings = rec.timings.as_deref().unwrap_or_default();
        return failover::analyze_client(input, &rec.answers, timings, attempts);
    };
    let mut sort = AttemptRuns::new(dir);
    let mut report = failover::analyze_records(input, rows, &mut sort, attempts);
    if let Some(w) = sort.warning().filter(|_| !quiet) {
        crate::term::warning(w);
    }
    if let Some(e) = rows.error().or_else(|| sort.error()) {
        let msg = format!(
            "keeping the join's records next to the ledger: {e}; the analysis covers only part of the run"
        );
        if !quiet {
            crate::term::warning(&msg);
        }
        report.ledger_error = Some(msg);
    }
    report
}

/// The attempts of every part, by when they ended (each part is in that
/// order already, as its writer recorded them); an error is handed on at
/// once. One part is read as it is.
fn in_end_order(parts: &[PathBuf]) -> Box<dyn Iterator<Item = anyhow::Result<Attempt>>> {
    if let [one] = parts {
        return Box::new(crate::providers::read_ledger(one));
    }
    let mut readers: Vec<_> = parts
        .iter()
        .map(|p| crate::providers::read_ledger(p).peekable())
        .collect();
    Box::new(std::iter::from_fn(move || {
        let mut best: Option<(usize, i64)> = None;
        for (i, r) in readers.iter_mut().enumerate() {
            match r.peek() {
                Some(Err(_)) => return r.next(),
                Some(Ok(a)) if best.is_none_or(|(_, t)| a.answered_us < t) => {
                    best = Some((i, a.answered_us));
                }
                _ => {}
            }
        }
        readers[best?.0].next()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ledger::AttemptOutcome;
    use crate::providers::ledger_writer::LedgerWriter;

    fn attempt(seq: u64, provider: u16, answered_ms: i64) -> Attempt {
        Attempt {
            tag: Some(seq),
            provider,
            arrived_us: answered_ms * 1000 - 5_000,
            answered_us: answered_ms * 1000,
            outcome: AttemptOutcome::Ok,
            status: 200,
            input_tokens: 10,
            output_tokens: 5,
            stream: false,
            first_byte_us: None,
            retry_after_ms: None,
            fault: None,
        }
    }

    fn ledger(path: &Path, attempts: &[Attempt]) {
        let writer = LedgerWriter::create(path, 2).unwrap();
        let sink = writer.sink();
        for a in attempts {
            sink.record(*a);
        }
        drop(sink);
        writer.finish().unwrap();
    }

    #[test]
    fn ledger_parts_read_as_one_ledger_in_the_order_attempts_ended() {
        let dir = tempfile::tempdir().unwrap();
        // One ledger, as one provider process writes it: by end time.
        let all: Vec<Attempt> = (0..500u64)
            .map(|s| attempt(s, (s % 2) as u16, (s * 7 % 1000) as i64 * 3 + s as i64))
            .collect();
        let mut by_end = all.clone();
        by_end.sort_by_key(|a| a.answered_us);
        // The same attempts in three parts (three shards' providers).
        let parts: Vec<PathBuf> = (0..3u64)
            .map(|i| {
                let p = dir.path().join(format!("part{i}.bin"));
                let mine: Vec<Attempt> = by_end
                    .iter()
                    .filter(|a| a.tag.unwrap() % 3 == i)
                    .copied()
                    .collect();
                ledger(&p, &mine);
                p
            })
            .collect();
        let merged: Vec<Attempt> = in_end_order(&parts).map(Result::unwrap).collect();
        assert_eq!(merged, by_end);
        // One part reads as it is; a missing part is an error, not silence.
        assert_eq!(in_end_order(&parts[..1]).count(), by_end.len().div_ceil(3));
        let gone = vec![parts[0].clone(), dir.path().join("gone.bin")];
        assert!(in_end_order(&gone).any(|a| a.is_err()));
    }
}
