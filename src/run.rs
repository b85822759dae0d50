//! One run, start to finish: prepare the output directory, start what the
//! scenario needs, drive the load, record, judge, write.
//!
//! Everything that can fail for a plain reason (an output path that cannot be
//! created, a gateway that never becomes ready) fails *before* t=0, so a run
//! never spends its load and then loses the result.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::analysis::{failover, sla};
use crate::clock::RunClock;
use crate::load::client::Target;
use crate::load::generator::{self, DriveEnd, Driver, Live};
use crate::load::request::ClassPlan;
use crate::load::schedule::Schedule;
use crate::metrics::recorder::Recorder;
use crate::metrics::request::RequestResult;
use crate::report::{self, live::Tap, terminal};
use crate::results::Summary;
use crate::scenario::Scenario;
use crate::stack::Stack;

/// How to run, beyond what the scenario says.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Output directory; default `reports/<scenario>-<UTC timestamp>/`.
    pub out: Option<PathBuf>,
    /// No progress line and no summary table.
    pub quiet: bool,
    /// Stop the run when this channel turns true (Ctrl-C in the CLI; tests).
    pub stop: Option<watch::Receiver<bool>>,
    /// Also write requests.csv, one row per request, streamed as the run goes.
    pub requests_csv: bool,
    /// Run even when the preflight request cannot reach the target at all.
    pub allow_unreachable: bool,
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
        }
    }
    fn exit_code(&self) -> i32 {
        match self {
            RunError::InterruptedBeforeLoad => crate::exit::INTERRUPTED,
            RunError::Unreachable { .. } => crate::exit::USAGE,
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
    crate::crash::install();
    let panics_before = crate::crash::mark();
    let started = SystemTime::now();
    let out_dir = prepare_out_dir(scenario, opts.out.as_deref(), started)?;
    let needs = report::space::estimate(scenario, opts.requests_csv);
    report::space::check_space(&out_dir, &needs)?;
    // A bad path or a disk too small fails now, before any load.
    let exports = report::Exports::create(&out_dir, report::Set::Run)?;
    let taps = Taps::create(scenario, &out_dir, opts.requests_csv)?;
    let mut stack = match Stack::start(scenario, &out_dir, opts.stop.clone()).await {
        Ok(stack) => stack,
        Err(_) if stopped(&opts) => return Err(RunError::InterruptedBeforeLoad.into()),
        Err(e) => return Err(e),
    };
    let measured = measure(scenario, &stack, &opts, taps).await;
    stack.stop().await;
    let gateway_exit = stack.gateway_exit().map(|e| {
        let origin = stack.clock.origin().map(|o| o.into_std());
        crate::results::GatewayExitOut {
            at_s: origin.map_or(0.0, |o| {
                if e.at >= o {
                    e.at.duration_since(o).as_secs_f64()
                } else {
                    -o.duration_since(e.at).as_secs_f64()
                }
            }),
            status: e.status,
            log_tail: e.log_tail,
        }
    });
    let Measurement {
        recorder,
        tap,
        end,
        host,
    } = measured?;
    let streamed = tap.finish().context("writing the streamed reports")?;

    let mut facts = run_facts(scenario, &end, &host);
    facts.gateway_exit = gateway_exit.as_ref().map(|e| e.headline());
    let failover = match &stack.ledger {
        Some(ledger) => {
            let cancel = opts.stop.clone();
            let report = join_ledger(scenario, &recorder, &end, ledger, opts.quiet, cancel);
            if report
                .ledger_error
                .as_deref()
                .is_some_and(|e| e.contains(JOIN_INTERRUPTED))
            {
                facts
                    .interrupted
                    .get_or_insert_with(|| "interrupted during the analysis".into());
            }
            Some(report)
        }
        None => None,
    };
    facts.internal_errors = crate::crash::since(panics_before);
    let mut summary = Summary::build(crate::results::BuildInput {
        scenario,
        recorder: &recorder,
        end: &end,
        started,
        failover,
        facts: &facts,
        host: Some(host),
        gateway_exit,
        output_problems: streamed.problems.iter().map(|n| n.to_string()).collect(),
    });
    // The reports are written even when saving the baseline fails: the
    // measurements must not be lost to a baseline problem.
    let gated = gate.apply(scenario, &recorder, &mut summary, &out_dir);
    let mut data = report::RunData::from_run(scenario, summary, &recorder, &streamed);
    data.baseline_curves = gate.curves(&data.classes);
    let written = exports.write(&data);
    let summary = data.summary;
    // The verdict is shown even when a report could not be written; the
    // error (which files are good, how to rebuild the rest) follows.
    if !opts.quiet {
        eprint!("{}", terminal::render(&summary));
        eprintln!("  reports:  {}", out_dir.display());
    }
    written.context("writing the reports")?;
    gated?;
    Ok(RunOutcome { summary, out_dir })
}

/// Whether the run was told to stop.
fn stopped(opts: &RunOptions) -> bool {
    opts.stop.as_ref().is_some_and(|s| *s.borrow())
}

/// What the load phase produced.
struct Measurement {
    recorder: Recorder,
    tap: Tap,
    end: DriveEnd,
    /// The CPU slabench got and the machine's load during the load.
    host: crate::metrics::host::HostUsage,
}

/// Preflight, then the load from t=0.
async fn measure(
    scenario: &Scenario,
    stack: &Stack,
    opts: &RunOptions,
    taps: Taps,
) -> anyhow::Result<Measurement> {
    let target = Target::new(
        &stack.url,
        &stack.headers,
        scenario.load.timeout,
        scenario.load.max_in_flight,
    )?;
    let plans: Vec<ClassPlan> = scenario.traffic.iter().map(ClassPlan::new).collect();
    preflight(&target, &plans[0], opts.allow_unreachable).await?;
    if stopped(opts) {
        return Err(RunError::InterruptedBeforeLoad.into());
    }
    let driver = Arc::new(Driver {
        target,
        plans,
        max_in_flight: scenario.load.max_in_flight,
        drain: scenario.load.drain,
        // Ctrl-C is honoured within a second: in-flight requests get at
        // most that long to finish.
        interrupt_grace: scenario.load.drain.min(Duration::from_secs(1)),
    });
    let weights: Vec<f64> = scenario.traffic.iter().map(|c| c.weight).collect();
    let schedule = Schedule::new(
        &scenario.load.stages,
        scenario.load.arrival,
        &weights,
        scenario.seed,
    );
    let before = crate::metrics::host::Sample::now();
    let (recorder, tap, end) = drive(scenario, driver, schedule, &stack.clock, opts, taps).await;
    let host =
        crate::metrics::host::HostUsage::between(&before, &crate::metrics::host::Sample::now());
    Ok(Measurement {
        recorder,
        tap,
        end,
        host,
    })
}

/// How the run went, beside what it measured.
fn run_facts(
    scenario: &Scenario,
    end: &DriveEnd,
    host: &crate::metrics::host::HostUsage,
) -> sla::RunFacts {
    let (limit, _) = scenario.lag_limit();
    sla::RunFacts {
        interrupted: end
            .interrupted
            .then(|| format!("interrupted at {:.1} s", end.send_span.as_secs_f64())),
        internal_errors: Vec::new(),
        gateway_exit: None,
        gave_up: end.gave_up.map(|g| {
            format!(
                "every send was more than {} ms late for {} s from t={:.1} s (the last one by {:.1} s): \
                 the rate is more than this machine can send; {}",
                generator::BEHIND_LAG.as_millis(),
                generator::GIVE_UP_AFTER.as_secs(),
                g.at.saturating_sub(generator::GIVE_UP_AFTER).as_secs_f64(),
                g.lag.as_secs_f64(),
                host.explain()
            )
        }),
        lag_limit_ms: limit.as_secs_f64() * 1000.0,
        generator_context: Some(host.explain()),
    }
}

/// Marks a ledger join cut short by an interrupt.
const JOIN_INTERRUPTED: &str = "interrupted while reading the ledger";

/// The live report outputs: latency.hlog (through the recorder's interval
/// sink and the tap) and the tap itself (requests.csv, per-class counts).
struct Taps {
    hlog: report::hlog::Shared,
    tap: Tap,
}

impl Taps {
    fn create(scenario: &Scenario, dir: &Path, requests_csv: bool) -> anyhow::Result<Taps> {
        let classes: Vec<String> = scenario.traffic.iter().map(|c| c.name.clone()).collect();
        let streaming: Vec<bool> = scenario.traffic.iter().map(|c| c.stream).collect();
        let hlog =
            report::hlog::HlogState::create(&dir.join("latency.hlog"), &classes, &streaming)?;
        let mut tap = Tap::new(classes).with_hlog(hlog.clone());
        if requests_csv {
            tap = tap.with_requests_csv(&dir.join("requests.csv"))?;
        }
        Ok(Taps { hlog, tap })
    }
}

/// Joins the client's records with the providers' ledger.
/// A damaged ledger (a full disk, a provider task that died) does not cost
/// the run: the attempts read so far are joined and the error is recorded.
fn join_ledger(
    scenario: &Scenario,
    rec: &Recorder,
    end: &DriveEnd,
    ledger: &Path,
    quiet: bool,
    cancel: Option<watch::Receiver<bool>>,
) -> failover::Report {
    let names: Vec<String> = scenario.providers.iter().map(|p| p.name.clone()).collect();
    let prices: Vec<(f64, f64)> = scenario
        .providers
        .iter()
        .map(|p| (p.profile.price_input_per_m, p.profile.price_output_per_m))
        .collect();
    let classes: Vec<String> = scenario.traffic.iter().map(|c| c.name.clone()).collect();
    let input = failover::Input {
        providers: &names,
        prices: &prices,
        class_names: &classes,
        faults: &scenario.faults,
        requests: rec.requests.as_deref().unwrap_or_default(),
        duration_s: rec.timeline.len() as u32,
        sent_until_s: end.send_span.as_secs_f64(),
        account_dialects: rec.account_dialects,
    };
    let mut bad: Option<anyhow::Error> = None;
    // The ledger is the long part of the analysis (one record per attempt):
    // an interrupt stops the read, and the analysis covers what was read.
    // Only a signal from now on counts: the one that ended the load (if
    // any) has been seen.
    let mut cancel = cancel;
    if let Some(c) = cancel.as_mut() {
        c.borrow_and_update();
    }
    let mut cancelled = false;
    let attempts = crate::providers::read_ledger(ledger)
        .enumerate()
        .map_while(|(i, a)| {
            if i % 4096 == 0
                && cancel
                    .as_ref()
                    .is_some_and(|c| c.has_changed().unwrap_or(false))
            {
                cancelled = true;
                return None;
            }
            a.map_err(|e| bad = Some(e)).ok()
        });
    let mut report = failover::analyze(&input, attempts);
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

/// Drives the schedule from a fresh t=0 and records every result.
async fn drive(
    scenario: &Scenario,
    driver: Arc<Driver>,
    schedule: Schedule,
    clock: &RunClock,
    opts: &RunOptions,
    taps: Taps,
) -> (Recorder, Tap, DriveEnd) {
    let stage_ends: Vec<f64> = scenario
        .load
        .stages
        .iter()
        .scan(0.0, |t, s| {
            *t += s.duration().as_secs_f64();
            Some(*t)
        })
        .collect();
    let live = Arc::new(Live::default());
    let (tx, rx) = mpsc::channel(generator::RESULT_QUEUE);
    let mut recorder = Recorder::new(scenario.traffic.iter().map(|c| c.name.clone()))
        .with_stages(stage_ends)
        .with_sink(Box::new(report::hlog::Sink(taps.hlog.clone())));
    if !scenario.providers.is_empty() {
        recorder =
            recorder.keep_requests(scenario.providers.iter().map(|p| p.name.clone()).collect());
    }
    // A short lead so that setting up the tasks below does not count as lag.
    let lead = Duration::from_millis(20);
    let origin = clock.start(Instant::now() + lead);
    let t0 = SystemTime::now() + lead;
    let mut tap = taps.tap;
    if let Err(e) = taps.hlog.lock().expect("not poisoned").begin(t0) {
        tap.fail(e);
    }
    let record = tokio::spawn(record(recorder, tap, rx, live.clone(), origin));
    let (_never, never_rx) = watch::channel(false);
    let stop = opts.stop.clone().unwrap_or(never_rx);
    let progress = (!opts.quiet && std::io::stderr().is_terminal())
        .then(|| tokio::spawn(progress(live.clone(), origin, scenario.duration())));
    let end = generator::drive(driver, schedule, origin, tx, live, stop).await;
    if let Some(p) = progress {
        p.abort();
        eprint!("\r\x1b[2K");
    }
    let (recorder, tap) = record.await.expect("the recorder task does not panic");
    (recorder, tap, end)
}

async fn record(
    mut rec: Recorder,
    mut tap: Tap,
    mut rx: mpsc::Receiver<RequestResult>,
    live: Arc<Live>,
    origin: Instant,
) -> (Recorder, Tap) {
    let mut tick =
        tokio::time::interval_at(origin + Duration::from_secs(1), Duration::from_secs(1));
    loop {
        tokio::select! {
            r = rx.recv() => match r {
                Some(r) => {
                    rec.record(&r);
                    tap.record(&r);
                }
                None => break,
            },
            _ = tick.tick() => {
                rec.close_interval(origin.elapsed().as_secs() as u32);
                live.p99_us.store((rec.rolling_p99_ms() * 1000.0) as u64, Ordering::Relaxed);
            }
        }
    }
    rec.finish();
    (rec, tap)
}

async fn progress(live: Arc<Live>, origin: Instant, total: Duration) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut last = (Instant::now(), 0u64);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let sent = live.sent.load(Ordering::Relaxed);
        let rpm =
            (sent - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-3) * 60.0;
        last = (now, sent);
        let line = terminal::progress_line(
            now.saturating_duration_since(origin).as_secs_f64(),
            total.as_secs_f64(),
            rpm,
            live.errors.load(Ordering::Relaxed),
            live.p99_us.load(Ordering::Relaxed) as f64 / 1000.0,
            live.in_flight.load(Ordering::Relaxed),
        );
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
    }
}

/// One request before t=0. A target that cannot be reached at all (no
/// connection) is a misconfiguration, not an SLA verdict: the run stops
/// with the URL and the error, unless `allow_unreachable`. Any answer, even
/// an error status, means the target is there; the run goes on and
/// measures. Warnings print even with `--quiet`: they explain the verdict.
async fn preflight(
    target: &Target,
    plan: &ClassPlan,
    allow_unreachable: bool,
) -> anyhow::Result<()> {
    use crate::metrics::Outcome;
    let now = Instant::now();
    let timing = crate::load::client::Timing {
        intended_at: now,
        sent_at: now,
    };
    let (outcome, m) =
        crate::load::client::send(target, u64::MAX, plan.body(u64::MAX), plan.stream, timing).await;
    if outcome.is_ok() {
        return Ok(());
    }
    // Only a refused connection (or no route, no name) means nothing is
    // there; a timeout may be a gateway that hangs, which is for the run to
    // measure.
    let unreachable = outcome == Outcome::Refused;
    let detail = if unreachable {
        "the connection was refused (nothing listens there, or the host cannot be reached)"
            .to_string()
    } else {
        format!("{outcome}, status {}", m.status)
    };
    if unreachable && !allow_unreachable {
        return Err(RunError::Unreachable {
            url: target.url.clone(),
            detail,
        }
        .into());
    }
    eprintln!(
        "warning: preflight request to {} failed ({detail}); running anyway",
        target.url
    );
    Ok(())
}

/// Creates the output directory now, so that a bad path fails before any load.
fn prepare_out_dir(
    scenario: &Scenario,
    out: Option<&Path>,
    started: SystemTime,
) -> anyhow::Result<PathBuf> {
    let dir = match out {
        Some(d) => d.to_path_buf(),
        None => {
            let stamp = humantime::format_rfc3339_seconds(started)
                .to_string()
                .replace([':', '-'], "");
            PathBuf::from("reports").join(format!("{}-{stamp}", dir_name(&scenario.name)))
        }
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the output directory {}", dir.display()))?;
    let probe = dir.join(".slabench-write-test");
    std::fs::write(&probe, b"")
        .with_context(|| format!("the output directory {} is not writable", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(dir)
}

/// The scenario's name as a directory name: ASCII letters, digits, `-` and
/// `_`, at most 64 characters (file systems refuse names over 255 bytes).
fn dir_name(name: &str) -> String {
    name.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ledger::{Attempt, AttemptOutcome};
    use crate::providers::ledger_writer::LedgerWriter;

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
        let report = join_ledger(&sc, &rec, &DriveEnd::default(), &path, true, None);
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
