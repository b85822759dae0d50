//! One run, start to finish: prepare the output directory, start what the
//! scenario needs, drive the load, record, judge, write.
//!
//! Everything that can fail for a plain reason (an output path that cannot be
//! created, a gateway that never becomes ready) fails *before* t=0, so a run
//! never spends its load and then loses the result.

mod join;
pub use join::join_ledger;
mod measure;
mod out_dir;
pub use out_dir::{dir_name, DEFAULT_ROOT};
mod sort;
mod spill;
mod start;
pub use spill::RowFile;
mod syns;

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Context;
use tokio::sync::watch;

use crate::analysis::sla;
use crate::load::generator::{self, DriveEnd};
use crate::report::{self, terminal};
use crate::results::Summary;
use crate::scenario::Scenario;
use crate::stack::Stack;
use join::JOIN_INTERRUPTED;
use measure::{measure, Measurement, Outputs};

/// How to run, beyond what the scenario says.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Output directory; default `reports/<scenario>-<UTC timestamp>/`.
    pub out: Option<PathBuf>,
    /// No progress line and no summary table.
    pub quiet: bool,
    /// Print summary.json on stdout instead of the summary table
    /// (`--json`; also with `quiet`).
    pub json: bool,
    /// Stop the run when this channel turns true (Ctrl-C in the CLI; tests).
    pub stop: Option<watch::Receiver<bool>>,
    /// Also write requests.csv, one row per request, streamed as the run goes.
    pub requests_csv: bool,
    /// Run even when the preflight request cannot reach the target at all.
    pub allow_unreachable: bool,
    /// `--start-at`: t=0 at this wall-clock instant, shared with other
    /// processes; the run gets ready, then waits for it (`start.rs`).
    pub start_at: Option<crate::clock::StartAt>,
    /// `--no-providers`: the scenario's providers are served elsewhere (a
    /// `slabench mock`); none is started and there is no ledger.
    pub no_providers: bool,
    /// Send only this shard's arrivals (`--shard I/N`); the whole schedule
    /// by default.
    pub shard: crate::load::shard::Shard,
    /// `--metrics-addr`: the live metrics this run feeds (its endpoint is
    /// the caller's).
    pub metrics: Option<crate::exporter::run::RunExport>,
    /// The scenario was loaded with `--allow-remote` (recorded in the
    /// shard manifest, so that merge reads it back as the run did).
    pub allow_remote: bool,
}

/// Why a run ended without a verdict (the caller maps these to exit codes).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Stopped before t=0: nothing was measured.
    #[error("interrupted before the load started; nothing was measured")]
    InterruptedBeforeLoad,
    /// The preflight request could not reach the target at all.
    #[error("the target {url} cannot be reached: {detail}")]
    Unreachable { url: String, detail: String },
    /// `--no-providers` with the built-in gateway, which routes only to
    /// the providers the run starts.
    #[error("--no-providers needs an external gateway: the built-in gateway routes to the providers the run starts itself")]
    NoProvidersBuiltin,
}

impl crate::exit::Advice for RunError {
    fn help(&self) -> Option<String> {
        match self {
            RunError::InterruptedBeforeLoad => None,
            RunError::Unreachable { .. } => Some(
                "start the gateway, fix [gateway] url, or pass --allow-unreachable to run and \
                 measure the failures anyway"
                    .into(),
            ),
            RunError::NoProvidersBuiltin => Some(
                "set kind = \"external\" in [gateway] with the url of your gateway (pointed at \
                 the providers `slabench mock` serves), or drop --no-providers"
                    .into(),
            ),
        }
    }
    fn exit_code(&self) -> i32 {
        match self {
            RunError::InterruptedBeforeLoad => crate::exit::INTERRUPTED,
            RunError::Unreachable { .. } | RunError::NoProvidersBuiltin => crate::exit::USAGE,
        }
    }
}

/// What a finished run produced.
#[derive(Debug)]
pub struct RunOutcome {
    pub summary: Summary,
    pub out_dir: PathBuf,
}

/// Runs `scenario` and writes its outputs.
pub async fn run(scenario: &Scenario, opts: RunOptions) -> anyhow::Result<RunOutcome> {
    run_gated(scenario, opts, &crate::baseline::RunGate::default()).await
}

/// [`run`], comparing with and saving baselines as `gate` says (prepare it
/// before the run, so that a refused baseline costs no load).
pub async fn run_gated(
    scenario: &Scenario,
    opts: RunOptions,
    gate: &crate::baseline::RunGate,
) -> anyhow::Result<RunOutcome> {
    refuse_options(scenario, &opts)?;
    crate::crash::install();
    let panics_before = crate::crash::mark();
    let started = SystemTime::now();
    let (out_dir, exports, outputs) = prepare(scenario, &opts, started)?;
    // A run that ends before its load leaves no empty directory behind
    // (remove_dir removes only an empty one: gateway.log stays), nor its
    // start marker.
    let unmake_dir = || {
        crate::shard::remove_started(&out_dir);
        let _ = std::fs::remove_dir(&out_dir);
    };
    let stack = Stack::start_with(scenario, &out_dir, opts.stop.clone(), !opts.no_providers);
    let mut stack = match stack.await {
        Ok(stack) => stack,
        Err(e) => {
            unmake_dir();
            return Err(match stopped(&opts) {
                true => RunError::InterruptedBeforeLoad.into(),
                false => e,
            });
        }
    };
    if let (Some(metrics), Some(counters)) = (&opts.metrics, stack.provider_counters()) {
        metrics.providers_started(counters);
    }
    // Refused connections never reach the ledger: watch for them from
    // before the load (the ports are known now) to its end.
    let watch = syns::Watch::start(scenario, &stack);
    let measured = measure(scenario, &stack, &opts, outputs).await;
    let seconds = measured.as_ref().map_or(0, |m| m.recorder.timeline.len());
    let connections = watch.finish(seconds).await;
    if let Some(metrics) = &opts.metrics {
        metrics.phase("analysis");
    }
    stack.stop().await;
    let gateway_exit = gateway_exit(&stack);
    let m = measured.inspect_err(|_| unmake_dir())?;
    let run = RunContext {
        opts: &opts,
        started,
        panics_before,
        connections: &connections,
    };
    let mut summary = judge(scenario, &m, &stack, &run, gateway_exit);
    // What `slabench merge` needs (a failure is told, not fatal).
    shard_folder(scenario, &m, &stack, &run, &mut summary, &out_dir);
    // The reports are written even when saving the baseline fails: the
    // measurements must not be lost to a baseline problem.
    let gated = gate.apply(scenario, &m.recorder, &mut summary, &out_dir);
    let notes = m.incomplete.iter().map(report::Note::incomplete).collect();
    let mut data = report::RunData::from_run(scenario, summary, &m.recorder, notes);
    data.baseline_curves = gate.curves(&data.classes);
    let written = exports.write(&data);
    let summary = data.summary;
    if let Some(metrics) = &opts.metrics {
        metrics.finish(&summary);
    }
    // The verdict is shown even when a report could not be written; the
    // error (which files are good, how to rebuild the rest) follows.
    terminal::show(
        terminal::Show::of(opts.json, opts.quiet),
        &summary,
        &out_dir,
    );
    written.context("writing the reports")?;
    unfit_is_a_warning(gated)?;
    Ok(RunOutcome { summary, out_dir })
}

/// The run directory before anything starts: a bad path or a disk too
/// small fails now, before any load; then the start marker, by which merge
/// tells a shard that dies from here on from no run at all.
fn prepare(
    scenario: &Scenario,
    opts: &RunOptions,
    started: SystemTime,
) -> anyhow::Result<(std::path::PathBuf, report::Exports, Outputs)> {
    let out_dir = out_dir::prepare_out_dir(scenario, opts.out.as_deref(), started)?;
    report::space::check_space(
        &out_dir,
        &report::space::estimate(scenario, opts.requests_csv),
    )?;
    let exports = report::Exports::create(&out_dir, report::Set::Run)?;
    let outputs = Outputs::new(scenario, &out_dir, opts.requests_csv);
    crate::shard::write_started(
        &out_dir,
        scenario,
        opts.shard,
        opts.start_at.map(|s| s.rfc3339()),
        started,
    )?;
    Ok((out_dir, exports, outputs))
}

/// An interrupted or invalid run is not saved as a baseline; that is said,
/// and the run's own verdict (not a usage error) stands.
fn unfit_is_a_warning(gated: anyhow::Result<()>) -> anyhow::Result<()> {
    match gated {
        Err(e)
            if matches!(
                e.downcast_ref::<crate::baseline::BaselineError>(),
                Some(crate::baseline::BaselineError::Unfit { .. })
            ) =>
        {
            crate::term::warning(format_args!("{e:#}"));
            Ok(())
        }
        other => other,
    }
}

/// Options the scenario cannot honour, refused before anything starts.
fn refuse_options(scenario: &Scenario, opts: &RunOptions) -> Result<(), RunError> {
    let builtin = matches!(scenario.gateway, crate::scenario::Gateway::Builtin(_));
    match opts.no_providers && builtin {
        true => Err(RunError::NoProvidersBuiltin),
        false => Ok(()),
    }
}

/// What `judge` needs to know about the run besides its measurements.
struct RunContext<'a> {
    opts: &'a RunOptions,
    started: SystemTime,
    /// The panic count when the run began (see `crate::crash`).
    panics_before: usize,
    /// Connection attempts to the providers seen during the load.
    connections: &'a syns::Watched,
}

/// Writes the run directory's `shard/` folder; a run that cannot says so
/// in its output problems and goes on (its own reports are complete
/// without it).
fn shard_folder(
    scenario: &Scenario,
    m: &Measurement,
    stack: &Stack,
    run: &RunContext,
    summary: &mut Summary,
    out_dir: &std::path::Path,
) {
    if let Err(e) = write_shard(scenario, m, stack, run, summary, out_dir) {
        let problem = format!("{e:#}; this run cannot be merged");
        if !run.opts.quiet {
            crate::term::warning(&problem);
        }
        summary.output_problems.push(problem);
    }
}

/// Writes the run directory's `shard/` folder (see `crate::shard`).
fn write_shard(
    scenario: &Scenario,
    m: &Measurement,
    stack: &Stack,
    run: &RunContext,
    summary: &Summary,
    out_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let rows = m
        .recorder
        .store
        .as_ref()
        .and_then(|s| s.as_any().downcast_ref::<spill::RowFile>());
    if let Some(e) = rows.and_then(spill::RowFile::error) {
        anyhow::bail!("the client's records were not all kept ({e})");
    }
    let ledger = stack.ledger.as_ref().map(|l| {
        let name = l.strip_prefix(out_dir).unwrap_or(l);
        (name, stack.ledger_problem.clone())
    });
    let completed = summary
        .checks
        .iter()
        .find(|c| c.name == crate::analysis::verdict::COMPLETED_CHECK)
        .map(|c| c.measured.clone());
    crate::shard::write(&crate::shard::WriteInput {
        run_dir: out_dir,
        scenario,
        shard: run.opts.shard,
        started: run.started,
        t0: m.t0,
        allow_remote: run.opts.allow_remote,
        recorder: &m.recorder,
        rows: rows.map(|r| r as &dyn crate::analysis::failover::Records),
        end: &m.end,
        host: Some(m.host),
        interrupted: completed.or_else(|| summary.interrupted.then(|| "interrupted".into())),
        internal_errors: summary.internal_errors.clone(),
        gateway_exit: summary.gateway_exit.clone(),
        output_problems: summary.output_problems.clone(),
        ledger,
        start: m.start.as_ref(),
    })?;
    // A read error while the rows were copied leaves a short requests.bin.
    if let Some(e) = rows.and_then(spill::RowFile::error) {
        let _ = std::fs::remove_dir_all(out_dir.join(crate::shard::DIR));
        anyhow::bail!("the client's records could not all be copied ({e})");
    }
    Ok(())
}

/// Analyses what was measured and judges it into the Summary.
fn judge(
    scenario: &Scenario,
    m: &Measurement,
    stack: &Stack,
    run: &RunContext,
    gateway_exit: Option<crate::results::GatewayExitOut>,
) -> Summary {
    let opts = run.opts;
    let mut facts = run_facts(scenario, &m.end, &m.host);
    facts.start = m.start.clone();
    if opts.no_providers && !scenario.providers.is_empty() {
        facts.no_ledger_why = Some(NO_PROVIDERS_WHY.into());
    }
    facts.gateway_exit = gateway_exit.as_ref().map(|e| e.headline());
    let failover = stack.ledger.as_ref().map(|ledger| {
        let mut report = join_ledger(
            scenario,
            &m.recorder,
            &m.end,
            std::slice::from_ref(ledger),
            ledger.parent().unwrap_or(std::path::Path::new(".")),
            run.connections.connections(),
            opts.quiet,
            opts.stop.clone(),
        );
        // A ledger whose writer failed may end cleanly on a record and
        // still miss attempts: judge nothing from it.
        if let Some(problem) = &stack.ledger_problem {
            report.ledger_error.get_or_insert_with(|| {
                format!("the providers' ledger may be incomplete: {problem}")
            });
        }
        if report
            .ledger_error
            .as_deref()
            .is_some_and(|e| e.contains(JOIN_INTERRUPTED))
        {
            facts
                .interrupted
                .get_or_insert_with(|| "interrupted during the analysis".into());
        }
        report
    });
    // An interrupt after the load (while the gateway stopped, or during
    // the analysis) still makes the run INTERRUPTED.
    if stopped(opts) && facts.interrupted.is_none() {
        facts.interrupted = Some("interrupted after the load, before the analysis ended".into());
    }
    // Every panic since the run began, in any thread or task.
    facts.internal_errors = crate::crash::since(run.panics_before);
    Summary::build(crate::results::BuildInput {
        scenario,
        recorder: &m.recorder,
        end: &m.end,
        started: run.started,
        failover,
        facts: &facts,
        host: Some(m.host),
        gateway_exit,
        output_problems: m
            .incomplete
            .iter()
            .map(|i| report::Note::incomplete(i).to_string())
            .collect(),
        shard: opts.shard,
    })
}

/// The started gateway process's exit during the run, on the run's clock.
fn gateway_exit(stack: &Stack) -> Option<crate::results::GatewayExitOut> {
    let e = stack.gateway_exit()?;
    let origin = stack.clock.origin().map(|o| o.into_std());
    Some(crate::results::GatewayExitOut {
        // Negative: before t=0 (while the preflight ran).
        at_s: origin.map_or(0.0, |o| {
            if e.at >= o {
                e.at.duration_since(o).as_secs_f64()
            } else {
                -o.duration_since(e.at).as_secs_f64()
            }
        }),
        status: e.status,
        log_tail: e.log_tail,
    })
}

/// Whether the run was told to stop.
fn stopped(opts: &RunOptions) -> bool {
    opts.stop.as_ref().is_some_and(|s| *s.borrow())
}

/// How the run went, beside what it measured.
pub fn run_facts(
    scenario: &Scenario,
    end: &DriveEnd,
    host: &crate::metrics::host::HostUsage,
) -> sla::RunFacts {
    let (limit, _) = scenario.lag_limit();
    sla::RunFacts {
        interrupted: end.interrupted.then(|| {
            if end.send_span >= scenario.duration() {
                "interrupted after the last send, before every answer came".to_string()
            } else {
                format!("interrupted at {:.1} s", end.send_span.as_secs_f64())
            }
        }),
        internal_errors: Vec::new(),
        gateway_exit: None,
        gave_up: end.gave_up.map(|g| {
            format!(
                "requests left more than {} ms late for {:.1} s from t={:.1} s (the last one by {:.1} s): \
                 the rate is more than this machine can send; it held {:.0} RPM while behind; during the load {}",
                generator::BEHIND_LAG.as_millis(),
                generator::GIVE_UP_AFTER.as_secs_f64(),
                g.since.as_secs_f64(),
                g.lag.as_secs_f64(),
                g.held_rpm(),
                host.describe()
            )
        }),
        lag_limit_ms: limit.as_secs_f64() * 1000.0,
        generator_context: Some(host.explain()),
        start: None,
        no_ledger_why: None,
    }
}

/// Why a `--no-providers` run measures nothing from a ledger.
const NO_PROVIDERS_WHY: &str = "the providers were served elsewhere (--no-providers), so this \
     run has no ledger of their attempts; `slabench merge --ledger` with their ledger files \
     brings the analysis";

#[cfg(test)]
mod tests {
    use super::join::join_ledger;
    use super::*;
    use crate::metrics::recorder::Recorder;
    use crate::metrics::request::RequestResult;
    use crate::providers::ledger::{Attempt, AttemptOutcome};
    use crate::providers::ledger_writer::LedgerWriter;
    use std::time::Duration;

    const NOT_WATCHED: crate::analysis::failover::Connections =
        crate::analysis::failover::Connections::NotObservable("not watched");

    #[test]
    fn an_interrupt_after_the_load_stops_the_ledger_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.bin");
        crate::providers::ledger_writer::LedgerWriter::create(&path, 1)
            .unwrap()
            .finish()
            .unwrap();
        let sc = crate::providers::testing::scenario(1, 1);
        let rec = Recorder::new(["c".to_string()]).keep_requests(vec!["p0".into()]);
        let (_tx, stop) = tokio::sync::watch::channel(true);
        // The load ended normally; the signal came after it.
        let report = join_ledger(
            &sc,
            &rec,
            &DriveEnd::default(),
            std::slice::from_ref(&path),
            dir.path(),
            NOT_WATCHED,
            true,
            Some(stop.clone()),
        );
        assert!(
            report
                .ledger_error
                .as_deref()
                .is_some_and(|e| e.contains(join::JOIN_INTERRUPTED)),
            "{:?}",
            report.ledger_error
        );
        // A run interrupted during the load is analysed in full.
        let interrupted = DriveEnd {
            interrupted: true,
            ..DriveEnd::default()
        };
        let report = join_ledger(
            &sc,
            &rec,
            &interrupted,
            std::slice::from_ref(&path),
            dir.path(),
            NOT_WATCHED,
            true,
            Some(stop),
        );
        assert_eq!(report.ledger_error, None);
    }

    #[test]
    fn a_damaged_ledger_keeps_what_was_read_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.bin");
        let writer = LedgerWriter::create(&path, 1).unwrap();
        let sink = writer.sink();
        for seq in 0..2 {
            sink.record(Attempt {
                tag: Some(seq),
                provider: 0,
                arrived_us: 1000,
                answered_us: 2000,
                outcome: AttemptOutcome::Ok,
                status: 200,
                input_tokens: 10,
                output_tokens: 5,
                stream: false,
                first_byte_us: None,
                retry_after_ms: None,
                fault: None,
            });
        }
        drop(sink);
        writer.finish().unwrap();
        // A torn last record, as a full disk leaves it.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[7, 7, 7]);
        std::fs::write(&path, bytes).unwrap();

        let mut sc = crate::providers::testing::scenario(1, 1);
        sc.traffic = vec![crate::scenario::TrafficClass {
            name: "c".into(),
            weight: 1.0,
            model: "default".into(),
            prompt_tokens: 10,
            max_tokens: 5,
            stream: false,
            budgets: Default::default(),
        }];
        let mut rec = Recorder::new(["c".to_string()]).keep_requests(vec!["p0".into()]);
        for seq in 0..2 {
            let mut r = RequestResult::unanswered(
                seq,
                0,
                Duration::ZERO,
                crate::metrics::Outcome::Ok,
                Duration::from_millis(5),
            );
            r.m.served_by = Some("p0".into());
            rec.record(&r);
        }
        let report = join_ledger(
            &sc,
            &rec,
            &DriveEnd::default(),
            std::slice::from_ref(&path),
            dir.path(),
            NOT_WATCHED,
            true,
            None,
        );
        assert_eq!(report.attempts, 2);
        assert!(
            report
                .ledger_error
                .as_deref()
                .is_some_and(|e| e.contains("ledger.bin")),
            "{:?}",
            report.ledger_error
        );
    }
}
