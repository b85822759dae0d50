//! The load phase: a preflight request, then the schedule from t=0, with
//! every result recorded in one task that also feeds the streamed outputs.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::start::Origin;
use super::{RunError, RunOptions};
use crate::analysis::start::StartFact;
use crate::clock::RunClock;
use crate::load::client::Target;
use crate::load::generator::{self, DriveEnd, Driver, Live};
use crate::load::request::ClassPlan;
use crate::load::schedule::Schedule;
use crate::metrics::accumulate::Incomplete;
use crate::metrics::recorder::Recorder;
use crate::metrics::request::RequestResult;
use crate::report::hlog::HlogWriter;
use crate::report::live::RequestsCsv;
use crate::report::{self, terminal};
use crate::scenario::Scenario;
use crate::stack::Stack;

/// What the load phase produced.
pub(super) struct Measurement {
    pub recorder: Recorder,
    /// Streamed outputs that could not be written completely.
    pub incomplete: Vec<Incomplete>,
    pub end: DriveEnd,
    /// The CPU slabench got and the machine's load during the load.
    pub host: crate::metrics::host::HostUsage,
    /// With `--start-at`: how late the load began against it.
    pub start: Option<StartFact>,
    /// The wall-clock instant of t=0 (`--start-at` when given).
    pub t0: SystemTime,
}

/// Preflight, then the load from t=0.
pub(super) async fn measure(
    scenario: &Scenario,
    stack: &Stack,
    opts: &RunOptions,
    outputs: Outputs,
) -> anyhow::Result<Measurement> {
    let target = Target::new(
        &stack.url,
        &stack.headers,
        scenario.load.timeout,
        scenario.load.max_in_flight,
    )?
    // Simulated providers' answers are verifiable: check every one.
    .check_answers(scenario.seed, scenario.providers.len());
    let plans: Vec<ClassPlan> = scenario.traffic.iter().map(ClassPlan::new).collect();
    preflight(&target, &plans[0], opts.allow_unreachable).await?;
    if super::stopped(opts) {
        return Err(RunError::InterruptedBeforeLoad.into());
    }
    let targets = (0..generator::lanes()).map(|_| target.fork()).collect();
    let driver = Arc::new(Driver {
        targets,
        plans,
        shard: opts.shard,
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
    // The outputs are created before the wait for t=0, so that creating
    // them on a slow volume cannot make the load late.
    let plan = super::start::Plan::new(opts.start_at);
    let live = Arc::new(Live::default());
    let recorder = new_recorder(scenario, opts, &outputs.dir, live.clone());
    let created = outputs.dir.join("latency.hlog");
    let (recorder, failed) = outputs.attach(recorder, plan.wall());
    // Everything is ready: wait for t=0 (at once without --start-at).
    let origin = match plan.reach(opts.stop.clone(), opts.quiet).await {
        Ok(origin) => origin,
        Err(e) => {
            // A run that never started its load leaves no output of it.
            drop(recorder);
            if failed.is_empty() {
                let _ = std::fs::remove_file(&created);
            }
            return Err(e);
        }
    };
    let t0 = origin.wall;
    let before = crate::metrics::host::Sample::now();
    let (recorder, incomplete, end, start) = drive(
        scenario,
        (driver, schedule),
        &stack.clock,
        opts,
        (recorder, failed, live),
        origin,
    )
    .await;
    let host =
        crate::metrics::host::HostUsage::between(&before, &crate::metrics::host::Sample::now());
    Ok(Measurement {
        recorder,
        incomplete,
        end,
        host,
        start,
        t0,
    })
}

/// The streamed outputs a run writes as it goes, besides the recorder's
/// own timeline: latency.hlog always, requests.csv when asked for.
/// latency.hlog is created before the wait for t=0 (and removed when the
/// run ends there: interrupted, or its start too far for the clock),
/// requests.csv with its first row, so a run that fails to start leaves
/// neither.
pub(super) struct Outputs {
    dir: PathBuf,
    classes: Vec<String>,
    streaming: Vec<bool>,
    requests_csv: bool,
}

impl Outputs {
    pub(super) fn new(scenario: &Scenario, dir: &Path, requests_csv: bool) -> Outputs {
        Outputs {
            dir: dir.to_path_buf(),
            classes: scenario.traffic.iter().map(|c| c.name.clone()).collect(),
            streaming: scenario.traffic.iter().map(|c| c.stream).collect(),
            requests_csv,
        }
    }

    /// Hands the outputs to the recorder before t=0 (`t0`: its wall-clock
    /// instant); an output that cannot even start is reported, not fatal.
    fn attach(self, mut rec: Recorder, t0: SystemTime) -> (Recorder, Vec<Incomplete>) {
        let mut failed = Vec::new();
        let path = self.dir.join("latency.hlog");
        match HlogWriter::begin(&path, &self.classes, &self.streaming, t0) {
            Ok(w) => rec = rec.with_output(Box::new(w)),
            Err(error) => failed.push(Incomplete {
                file: "latency.hlog",
                error,
            }),
        }
        if self.requests_csv {
            let csv = RequestsCsv::new(self.dir.join("requests.csv"), self.classes);
            rec = rec.with_output(Box::new(csv));
        }
        (rec, failed)
    }
}

/// The run's recorder, before its streamed outputs: the stages, the live
/// p99, and (with providers) the client's rows kept in a file next to the
/// run for the ledger join, not in memory.
fn new_recorder(scenario: &Scenario, opts: &RunOptions, dir: &Path, live: Arc<Live>) -> Recorder {
    let stage_ends: Vec<f64> = scenario
        .load
        .stages
        .iter()
        .scan(0.0, |t, s| {
            *t += s.duration().as_secs_f64();
            Some(*t)
        })
        .collect();
    let mut recorder = Recorder::new(scenario.traffic.iter().map(|c| c.name.clone()))
        .with_stages(stage_ends)
        .with_output(Box::new(report::live::RollingP99(live)));
    if let Some(metrics) = &opts.metrics {
        recorder = recorder.with_output(metrics.feed());
    }
    if !scenario.providers.is_empty() {
        let rows = Box::new(super::spill::RowFile::create(dir).sharded(opts.shard));
        let names = scenario.providers.iter().map(|p| p.name.clone()).collect();
        recorder = recorder.keep_requests_in(names, rows);
    }
    recorder
}

/// Drives the schedule from t=0 at `origin` and records every result;
/// with `--start-at`, a load not ready in time is not sent.
async fn drive(
    scenario: &Scenario,
    (driver, schedule): (Arc<Driver>, Schedule),
    clock: &Arc<RunClock>,
    opts: &RunOptions,
    (mut recorder, mut failed, live): (Recorder, Vec<Incomplete>, Arc<Live>),
    origin: Origin,
) -> (Recorder, Vec<Incomplete>, DriveEnd, Option<StartFact>) {
    let (tx, rx) = mpsc::channel(generator::RESULT_QUEUE);
    let start = origin.began(scenario.lag_limit().0);
    let origin = clock.start(origin.at);
    if let Some(metrics) = &opts.metrics {
        metrics.load_started(origin, live.clone(), clock);
    }
    if start.as_ref().is_some_and(|s| !s.sent) {
        failed.extend(recorder.finish());
        return (recorder, failed, DriveEnd::default(), start);
    }
    let record = tokio::spawn(record(recorder, rx, origin));
    let (_never, never_rx) = watch::channel(false);
    let stop = opts.stop.clone().unwrap_or(never_rx);
    // The width of the live line drawn last, for wiping it.
    let drawn = Arc::new(AtomicUsize::new(0));
    let progress = (!opts.quiet && std::io::stderr().is_terminal()).then(|| {
        let (live, drawn) = (live.clone(), drawn.clone());
        tokio::spawn(progress(live, origin, scenario.duration(), drawn))
    });
    let end = generator::drive(driver, schedule, origin, tx, live, stop).await;
    if let Some(p) = progress {
        p.abort();
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{}", crate::term::erase(drawn.load(Ordering::Relaxed)));
        let _ = err.flush();
    }
    let (recorder, incomplete) = record.await.expect("the recorder task does not panic");
    failed.extend(incomplete);
    (recorder, failed, end, start)
}

/// The run's one recording loop: every result into the recorder (which
/// feeds the streamed outputs), and a second closed on every tick.
async fn record(
    mut rec: Recorder,
    mut rx: mpsc::Receiver<Vec<RequestResult>>,
    origin: Instant,
) -> (Recorder, Vec<Incomplete>) {
    let mut tick =
        tokio::time::interval_at(origin + Duration::from_secs(1), Duration::from_secs(1));
    // The lanes send results in batches: one wake-up per batch.
    loop {
        tokio::select! {
            batch = rx.recv() => {
                let Some(batch) = batch else { break };
                for r in &batch {
                    rec.record(r);
                }
            }
            _ = tick.tick() => rec.close_interval(origin.elapsed().as_secs() as u32),
        }
    }
    let incomplete = rec.finish();
    (rec, incomplete)
}

/// The live line on stderr (a terminal), redrawn every half second;
/// `drawn` is the width of the line last drawn.
async fn progress(live: Arc<Live>, origin: Instant, total: Duration, drawn: Arc<AtomicUsize>) {
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
        let previous = drawn.swap(line.chars().count(), Ordering::Relaxed);
        let _ = write!(err, "{}", crate::term::redraw(&line, previous));
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
    crate::term::warning(format_args!(
        "preflight request to {} failed ({detail}); running anyway",
        target.url
    ));
    Ok(())
}
