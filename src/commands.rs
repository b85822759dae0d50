//! Subcommand implementations: each turns its arguments into library calls
//! and returns the process exit code, or an error. [`main`] is the one
//! place errors are printed (through [`crate::exit`]). A command's result
//! goes to stdout, everything else to stderr ([`crate::term`]).

use std::path::Path;

use anyhow::Context;

use crate::cli::{Cli, Command, RunArgs};
use crate::exit::{self, UserError};
use crate::scenario::{self, Scenario};

/// A command's result: the exit code, or an error to print.
type Outcome = anyhow::Result<i32>;

mod standalone;

/// The [`exit::Advice`] of the first error in the chain that has one.
fn advice(e: &anyhow::Error) -> Option<&dyn exit::Advice> {
    e.chain().find_map(|cause| -> Option<&dyn exit::Advice> {
        if let Some(x) = cause.downcast_ref::<crate::scenario::ScenarioError>() {
            return Some(x);
        }
        if let Some(x) = cause.downcast_ref::<crate::baseline::BaselineError>() {
            return Some(x);
        }
        if let Some(x) = cause.downcast_ref::<crate::run::RunError>() {
            return Some(x);
        }
        if let Some(x) = cause.downcast_ref::<crate::exporter::ExporterError>() {
            return Some(x);
        }
        cause
            .downcast_ref::<UserError>()
            .map(|x| x as &dyn exit::Advice)
    })
}

/// `error: …` with the help and note of the error's [`exit::Advice`].
pub fn render_error(e: &anyhow::Error) -> String {
    exit::framed(&format!("{e:#}"), advice(e))
}

/// Prints `e` and returns the exit code it ends the process with: the one
/// place errors reach the user.
fn print_error(e: &anyhow::Error) -> i32 {
    crate::term::error(&render_error(e));
    advice(e).map_or(exit::USAGE, exit::Advice::exit_code)
}

/// Runs the command line; returns the process exit code.
pub fn main(cli: Cli) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("slabench-worker")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return print_error(&anyhow::Error::new(e).context("cannot start the async runtime"))
        }
    };
    let outcome = rt.block_on(async {
        match cli.command {
            Command::Run(args) => run(args).await,
            Command::Validate {
                scenarios,
                allow_remote,
            } => Ok(validate(&scenarios, allow_remote)),
            Command::Mock(args) => mock(args).await,
            Command::Compare(args) => compare(&args),
            Command::Gateway {
                scenario,
                providers,
                metrics,
            } => standalone::gateway(&scenario, &providers, &metrics).await,
            Command::Report { run_dir, json } => report(&run_dir, json),
            Command::Completions { shell } => {
                crate::cli_docs::completions(shell).map(|()| exit::PASS)
            }
            Command::Man { dir } => crate::cli_docs::man(dir.as_deref()).map(|()| exit::PASS),
            Command::Merge(args) => merge(args),
            Command::Scorecard(args) => scorecard(args).await,
            Command::Capacity(args) => capacity(args).await,
        }
    });
    outcome.unwrap_or_else(|e| print_error(&e))
}

async fn run(args: RunArgs) -> Outcome {
    let load = scenario::LoadOptions {
        allow_remote: args.allow_remote,
    };
    let mut sc = scenario::load_with(&args.scenario, load)?;
    if let Some(seed) = args.seed {
        sc.seed = seed;
    }
    let gate = crate::baseline::RunGate::prepare(
        &sc,
        args.baseline.as_deref(),
        args.save_baseline.clone(),
        args.gate.tolerance,
        args.gate.floor,
    )?;
    let shard = match args.shard {
        Some((i, n)) => crate::load::shard::Shard::new(i, n)
            .map_err(|e| UserError::new(format!("--shard: {e}"), "e.g. --shard 0/3"))?,
        None => crate::load::shard::Shard::WHOLE,
    };
    let metrics = crate::exporter::run::RunExport::new(&sc, shard);
    let registry = metrics.registry();
    let exporter = start_exporter(&args.metrics, registry).await?;
    let stop = watch_signals(args.quiet);
    let opts = crate::run::RunOptions {
        out: args.out,
        quiet: args.quiet,
        json: args.json,
        stop: Some(stop.clone()),
        requests_csv: args.requests_csv,
        allow_unreachable: args.allow_unreachable,
        start_at: args.start_at,
        no_providers: args.no_providers,
        allow_remote: args.allow_remote,
        shard,
        metrics: exporter.is_some().then_some(metrics),
    };
    if let Some(line) = remote_header(&sc) {
        anstream::eprintln!("{line}");
    }
    let outcome = crate::run::run_gated(&sc, opts, &gate).await;
    if let Some(exporter) = exporter {
        match outcome.is_ok() {
            true => linger(exporter, &args.metrics, crate::exporter::next_change(stop)).await,
            false => exporter.stop().await,
        }
    }
    Ok(outcome?.summary.verdict.exit_code())
}

/// Starts the metrics endpoint when `--metrics-addr` asks for one, and
/// says where it is (on stderr: a port 0 becomes a real one).
async fn start_exporter(
    args: &crate::cli::MetricsArgs,
    registry: prometheus_client::registry::Registry,
) -> anyhow::Result<Option<crate::exporter::Exporter>> {
    let Some(addr) = args.metrics_addr else {
        return Ok(None);
    };
    let exporter =
        crate::exporter::Exporter::start(addr, args.metrics_allow_remote, registry).await?;
    eprintln!("metrics: http://{}/metrics", exporter.addr());
    Ok(Some(exporter))
}

/// Counts Ctrl-C and SIGTERM for the whole command (a service's: the
/// first stops it, the next ends its metrics' linger).
fn count_signals() -> tokio::sync::watch::Receiver<u32> {
    let (count, signals) = tokio::sync::watch::channel(0u32);
    let mut stream = terminate_signal();
    tokio::spawn(async move {
        while interrupted(&mut stream).await {
            count.send_modify(|n| *n += 1);
        }
    });
    signals
}

/// Completes with the `n`th signal counted; an error when signals cannot
/// be received.
async fn nth_signal(mut count: tokio::sync::watch::Receiver<u32>, n: u32) -> anyhow::Result<()> {
    let heard = count.wait_for(|c| *c >= n).await.is_ok();
    anyhow::ensure!(heard, "cannot wait for Ctrl-C or SIGTERM");
    Ok(())
}

/// Keeps the endpoint up for `--metrics-linger` after the work, so that
/// the last scrape sees the final values, or until `until` (an interrupt).
async fn linger(
    exporter: crate::exporter::Exporter,
    args: &crate::cli::MetricsArgs,
    until: impl std::future::Future<Output = ()>,
) {
    LINGERING.store(true, std::sync::atomic::Ordering::Relaxed);
    exporter.linger(args.metrics_linger, until).await;
}

/// The header line of a run whose load goes to a host other than this
/// one (`--allow-remote` or `allow_non_loopback`), printed even with
/// `--quiet`: a load tester pointed at the wrong URL is an outage.
fn remote_header(sc: &Scenario) -> Option<String> {
    let crate::scenario::Gateway::External(g) = &sc.gateway else {
        return None;
    };
    let url = reqwest::Url::parse(&g.url).ok()?;
    (!scenario::is_loopback_url(&url)).then(|| {
        format!(
            "slabench run {}: the load goes to {}, which is not a loopback address (allowed by {})",
            sc.name,
            g.url,
            if g.allow_non_loopback {
                "allow_non_loopback = true in [gateway]"
            } else {
                "--allow-remote"
            }
        )
    })
}

/// `slabench merge`: the merged run's verdict is the exit code, as `run`'s.
fn merge(args: crate::cli::MergeArgs) -> Outcome {
    let shards = crate::merge::read(&args.dirs)?;
    let gate = crate::baseline::RunGate::prepare(
        &shards.scenario,
        args.baseline.as_deref(),
        args.save_baseline.clone(),
        args.gate.tolerance,
        args.gate.floor,
    )?;
    let opts = crate::merge::Options {
        dirs: args.dirs,
        ledgers: args.ledgers,
        out: args.out,
        quiet: args.quiet,
        json: args.json,
    };
    let summary = crate::merge::merge(shards, &opts, &gate)?;
    Ok(summary.verdict.exit_code())
}

/// `slabench scorecard`: its exit code is [`crate::scorecard::Scorecard::exit_code`]
/// (0 every case passed; 1 any fail or partial; 2, 3, 5, 6 as for `run`).
async fn scorecard(args: crate::cli::ScorecardArgs) -> Outcome {
    if args.list {
        crate::term::result(crate::scorecard::list().as_bytes());
        return Ok(exit::PASS);
    }
    let Some(gateway_file) = args.gateway_file else {
        return Err(
            UserError::new("no gateway file given", "slabench scorecard GATEWAY_FILE").into(),
        );
    };
    let out = args.out.unwrap_or_else(crate::scorecard::default_out);
    let opts = crate::scorecard::Options {
        gateway_file,
        out: out.clone(),
        only: args.only,
        stop: Some(watch_signals(true)),
    };
    let card = crate::scorecard::run(opts).await?;
    match args.json {
        true => crate::term::data(crate::scorecard::render::json(&card)?.as_bytes()),
        false => crate::term::result(crate::scorecard::render::terminal(&card, &out).as_bytes()),
    }
    Ok(card.exit_code())
}

/// `slabench capacity`: its exit code is [`crate::capacity::Capacity::exit_code`]
/// (0 the capacity meets the required headroom; 1 it does not; 2, 3, 5 as for `run`).
async fn capacity(args: crate::cli::CapacityArgs) -> Outcome {
    let mut sc = scenario::load(&args.scenario)?;
    if let Some(seed) = args.seed {
        sc.seed = seed;
    }
    let peak = crate::capacity::probe::peak_rpm(&sc);
    let (lo, hi) = (
        args.min_rpm.unwrap_or(peak / 8.0),
        args.max_rpm.unwrap_or(peak * 8.0),
    );
    if lo > hi {
        return Err(UserError::new(
            format!(
                "the search's lowest load {} RPM is above its highest {} RPM (the defaults are the \
                 scenario's peak {} RPM ÷ 8 and × 8)",
                crate::capacity::rpm(lo),
                crate::capacity::rpm(hi),
                crate::capacity::rpm(peak)
            ),
            "give --min-rpm below --max-rpm",
        )
        .into());
    }
    let needed = peak * (1.0 + args.require_headroom);
    if hi < needed * (1.0 - 1e-9) {
        return Err(UserError::new(
            format!(
                "--max-rpm {} RPM is below the load --require-headroom {:.0}% asks for ({} RPM: the \
                 scenario's peak {} RPM + {:.0}%), so the search could never probe it{}",
                crate::capacity::rpm(hi),
                args.require_headroom * 100.0,
                crate::capacity::rpm(needed),
                crate::capacity::rpm(peak),
                args.require_headroom * 100.0,
                if args.max_rpm.is_none() { " (the default --max-rpm is the peak × 8)" } else { "" }
            ),
            format!(
                "give --max-rpm {} or more, or a lower --require-headroom",
                needed.ceil()
            ),
        )
        .into());
    }
    let out = args
        .out
        .unwrap_or_else(|| crate::capacity::default_out(&sc));
    let opts = crate::capacity::Options {
        out: out.clone(),
        min_rpm: args.min_rpm,
        max_rpm: args.max_rpm,
        precision: args.precision,
        repeats: args.repeats,
        require_headroom: args.require_headroom,
        stop: Some(watch_signals(true)),
        progress: true,
    };
    anstream::eprintln!(
        "capacity of {}: the scenario's peak is {} RPM; probes in {}",
        sc.name,
        crate::capacity::rpm(peak),
        out.join("probes").display()
    );
    let cap = crate::capacity::run(&sc, opts).await?;
    match args.json {
        true => crate::term::data(crate::capacity::render::json(&cap)?.as_bytes()),
        false => crate::term::result(crate::capacity::render::terminal(&cap, &out).as_bytes()),
    }
    Ok(cap.exit_code())
}

/// First Ctrl-C (or SIGTERM, e.g. a CI job's timeout): stop sending, let
/// in-flight requests finish briefly, write everything, stop the gateway
/// process and the providers. A second one cuts in-flight requests at
/// once; a third exits without writing anything more.
/// Set once the work is done and only the metrics endpoint lingers: an
/// interrupt then closes it, and says so.
static LINGERING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn watch_signals(quiet: bool) -> tokio::sync::watch::Receiver<bool> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term = terminate_signal();
        let mut count = 0;
        while interrupted(&mut term).await {
            count += 1;
            if LINGERING.load(std::sync::atomic::Ordering::Relaxed) {
                eprintln!("\ninterrupted: closing the metrics endpoint");
                let _ = stop_tx.send(true);
                continue;
            }
            match count {
                1 if !quiet => anstream::eprintln!(
                    "\ninterrupted: stopping; whatever was measured will be written \
                     (again: cut in-flight requests; a third time: exit at once)"
                ),
                1 => {}
                2 => anstream::eprintln!("\ninterrupted again: cutting in-flight requests now"),
                _ => {
                    anstream::eprintln!(
                        "\ninterrupted a third time: exiting without writing the reports"
                    );
                    std::process::exit(exit::INTERRUPTED);
                }
            }
            let _ = stop_tx.send(true);
        }
    });
    stop_rx
}

/// The interrupt and terminate signals, each one stream for the whole run
/// (a listener made anew for every signal could miss one that arrives in
/// between).
#[cfg(unix)]
type Terminate = Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>;
#[cfg(not(unix))]
type Terminate = ();

#[cfg(unix)]
fn terminate_signal() -> Terminate {
    use tokio::signal::unix::{signal, SignalKind};
    Some((
        signal(SignalKind::interrupt()).ok()?,
        signal(SignalKind::terminate()).ok()?,
    ))
}

#[cfg(not(unix))]
fn terminate_signal() -> Terminate {}

/// Waits for Ctrl-C or SIGTERM; false when signals cannot be received.
async fn interrupted(term: &mut Terminate) -> bool {
    #[cfg(unix)]
    if let Some((int, term)) = term.as_mut() {
        return tokio::select! {
            i = int.recv() => i.is_some(),
            t = term.recv() => t.is_some(),
        };
    }
    let _ = term;
    tokio::signal::ctrl_c().await.is_ok()
}

/// `slabench compare`: prints the table; 4 on a regression, 2 on a refusal.
fn compare(args: &crate::cli::CompareArgs) -> Outcome {
    let c = crate::baseline::compare_files(
        &args.baseline,
        &args.candidate,
        args.gate.tolerance,
        args.gate.floor,
    )?;
    let regressed = c.regressed();
    let text = format!(
        "{}\n  verdict: {}\n",
        crate::report::comparison::terminal(&c),
        if regressed { "REGRESSION" } else { "PASS" }
    );
    crate::term::result(text.as_bytes());
    Ok(if regressed {
        exit::REGRESSION
    } else {
        exit::PASS
    })
}

/// `slabench validate`: every file is checked; 2 when any is bad.
/// `--allow-remote` accepts what `run --allow-remote` accepts.
fn validate(paths: &[std::path::PathBuf], allow_remote: bool) -> i32 {
    let mut code = exit::PASS;
    for path in paths {
        match scenario::load_with(path, scenario::LoadOptions { allow_remote }) {
            Ok(sc) => println!(
                "ok: {} ({}, {} stage(s), {} traffic class(es), {} provider(s), {} fault(s), {:.0}s)",
                path.display(),
                sc.name,
                sc.load.stages.len(),
                sc.traffic.len(),
                sc.providers.len(),
                sc.faults.len(),
                sc.duration().as_secs_f64()
            ),
            Err(e) => code = print_error(&e.into()),
        }
    }
    code
}

/// `slabench mock`: the scenario's providers as a service, until Ctrl-C or
/// SIGTERM (both: stop accepting, finish, flush the ledger, exit 0).
async fn mock(args: crate::cli::MockArgs) -> Outcome {
    let path = &args.scenario;
    let load = scenario::LoadOptions {
        allow_remote: args.allow_remote,
    };
    let mut sc = scenario::load_with(path, load)?;
    if sc.providers.is_empty() {
        return Err(UserError::new(
            format!(
                "{}: the scenario has no [[providers]] to serve",
                path.display()
            ),
            "add a [[providers]] table with a profile from mock-providers/",
        )
        .into());
    }
    if !args.bind.is_loopback() && !args.allow_remote {
        return Err(UserError::new(
            format!("--bind {} is not a loopback address", args.bind),
            "pass --allow-remote to serve the providers to other machines (e.g. behind a \
             Kubernetes Service), or bind 127.0.0.1",
        )
        .into());
    }
    override_ports(&mut sc, &args.ports)?;
    let ledger = &args.ledger;
    if let Some(dir) = ledger.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // The first Ctrl-C or SIGTERM stops the providers, the next ends the
    // metrics' linger.
    let signals = count_signals();
    let stop = nth_signal(signals.clone(), 1);
    let metrics = crate::exporter::providers::ProvidersCollector::new(&sc);
    let exporter = start_exporter(&args.metrics, metrics.registry()).await?;
    let how = crate::providers::Serve {
        ip: args.bind,
        start_at: args.start_at,
        watch: metrics.watch.clone(),
        ..Default::default()
    };
    let served = crate::providers::serve(&sc, ledger, &mut std::io::stdout(), stop, how).await;
    if let Some(exporter) = exporter {
        // Stopped by a signal: the final counts stay up for the linger
        // unless another signal comes.
        match served.is_ok() {
            true => {
                let second = async move {
                    let _ = nth_signal(signals, 2).await;
                };
                linger(exporter, &args.metrics, second).await
            }
            false => exporter.stop().await,
        }
    }
    served?;
    Ok(exit::PASS)
}

/// `--port NAME=PORT` (or SLABENCH_PORTS): each names a provider of the scenario.
fn override_ports(sc: &mut Scenario, ports: &[(String, u16)]) -> anyhow::Result<()> {
    for (name, port) in ports {
        let Some(p) = sc.providers.iter_mut().find(|p| &p.name == name) else {
            let names: Vec<&str> = sc.providers.iter().map(|p| p.name.as_str()).collect();
            return Err(UserError::new(
                format!("--port {name}={port}: the scenario has no provider {name:?}"),
                format!("name one of its providers: {}", names.join(", ")),
            )
            .into());
        };
        p.port = *port;
    }
    Ok(())
}

/// `slabench report`: 0 when the files were written (the run's own verdict
/// is in them, not in this exit code). Prints the rebuilt files' paths, or
/// with `--json` the run's summary.json as it is on disk (the paths then
/// go to stderr).
fn report(dir: &Path, json: bool) -> Outcome {
    crate::report::rebuild(dir, |data| {
        crate::baseline::curves_of(&data.summary, &data.classes)
    })?;
    let paths: String = ["report.html", "summary.md", "junit.xml"]
        .iter()
        .map(|name| format!("{}\n", dir.join(name).display()))
        .collect();
    if !json {
        crate::term::result(paths.as_bytes());
        return Ok(exit::PASS);
    }
    let path = dir.join("summary.json");
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    crate::term::data(&bytes);
    anstream::eprint!("{paths}");
    Ok(exit::PASS)
}
