//! Subcommand implementations: each turns its arguments into library calls
//! and returns an exit code. The only place outcomes become exit codes.

use std::path::Path;

use crate::analysis::verdict::EXIT_USAGE;
use crate::cli::{Cli, Command, RunArgs};
use crate::scenario::{self, Scenario};

/// Runs the command line; returns the process exit code.
pub fn main(cli: Cli) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return EXIT_USAGE;
        }
    };
    rt.block_on(async {
        match cli.command {
            Command::Run(args) => run(args).await,
            Command::Validate { scenarios } => validate(&scenarios),
            Command::Mock { scenario, ledger } => mock(&scenario, &ledger).await,
            Command::Compare(args) => compare(&args),
            Command::Gateway {
                scenario,
                providers,
            } => gateway(&scenario, &providers).await,
            Command::Report { run_dir } => report(&run_dir),
        }
    })
}

fn load(path: &Path) -> Result<Scenario, i32> {
    scenario::load(path).map_err(|e| {
        eprintln!("{e}");
        EXIT_USAGE
    })
}

async fn run(args: RunArgs) -> i32 {
    let mut sc = match load(&args.scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Some(seed) = args.seed {
        sc.seed = seed;
    }
    let gate = match crate::baseline::RunGate::prepare(
        &sc,
        args.baseline.as_deref(),
        args.save_baseline.clone(),
        args.gate.tolerance,
        args.gate.floor,
    ) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_USAGE;
        }
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let quiet = args.quiet;
    tokio::spawn(async move {
        // First Ctrl-C (or SIGTERM, e.g. a CI job's timeout): stop sending,
        // let in-flight requests finish briefly, write everything, stop the
        // gateway process and the providers. The generator treats a second
        // one as "now".
        // A second one cuts in-flight requests at once; a third exits
        // without writing anything more.
        let mut term = terminate_signal();
        let mut count = 0;
        while interrupted(&mut term).await {
            count += 1;
            match count {
                1 if !quiet => eprintln!(
                    "\ninterrupted: stopping new sends and writing what was measured \
                     (again: cut in-flight requests; a third time: exit at once)"
                ),
                1 => {}
                2 => eprintln!("\ninterrupted again: cutting in-flight requests now"),
                _ => {
                    eprintln!("\ninterrupted a third time: exiting without writing the reports");
                    std::process::exit(crate::analysis::Verdict::Interrupted.exit_code());
                }
            }
            let _ = stop_tx.send(true);
        }
    });
    let opts = crate::run::RunOptions {
        out: args.out,
        quiet: args.quiet,
        stop: Some(stop_rx),
        requests_csv: args.requests_csv,
        allow_unreachable: args.allow_unreachable,
    };
    match crate::run::run_gated(&sc, opts, &gate).await {
        Ok(outcome) => outcome.summary.verdict.exit_code(),
        // Its own text already reads "error: …\n  help: …".
        Err(e) if e.is::<crate::baseline::BaselineError>() => {
            eprintln!("{e}");
            EXIT_USAGE
        }
        Err(e) => match e.downcast::<crate::run::RunError>() {
            Ok(crate::run::RunError::InterruptedBeforeLoad) => {
                eprintln!("interrupted before the load started; nothing was measured");
                crate::analysis::Verdict::Interrupted.exit_code()
            }
            Ok(unreachable @ crate::run::RunError::Unreachable { .. }) => {
                eprintln!(
                    "error: {unreachable}\n  help: start the gateway, fix [gateway] url, or pass \
                     --allow-unreachable to run and measure the failures anyway"
                );
                EXIT_USAGE
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                EXIT_USAGE
            }
        },
    }
}

#[cfg(unix)]
type Terminate = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Terminate = ();

#[cfg(unix)]
fn terminate_signal() -> Terminate {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok()
}

#[cfg(not(unix))]
fn terminate_signal() -> Terminate {}

/// Waits for Ctrl-C or SIGTERM; false when signals cannot be received.
async fn interrupted(term: &mut Terminate) -> bool {
    #[cfg(unix)]
    if let Some(term) = term.as_mut() {
        return tokio::select! {
            r = tokio::signal::ctrl_c() => r.is_ok(),
            t = term.recv() => t.is_some(),
        };
    }
    let _ = term;
    tokio::signal::ctrl_c().await.is_ok()
}

/// `slabench compare`: prints the table; 4 on a regression, 2 on a refusal.
fn compare(args: &crate::cli::CompareArgs) -> i32 {
    match crate::baseline::compare_files(
        &args.baseline,
        &args.candidate,
        args.gate.tolerance,
        args.gate.floor,
    ) {
        Ok(c) => {
            print!("{}", crate::report::comparison::terminal(&c));
            let regressed = c.regressed();
            println!(
                "\n  verdict: {}",
                if regressed { "REGRESSION" } else { "PASS" }
            );
            if regressed {
                crate::analysis::Verdict::Regression.exit_code()
            } else {
                0
            }
        }
        Err(e) => {
            eprintln!("{e}");
            EXIT_USAGE
        }
    }
}

fn validate(paths: &[std::path::PathBuf]) -> i32 {
    let mut code = 0;
    for path in paths {
        match scenario::load(path) {
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
            Err(e) => {
                eprintln!("{e}");
                code = EXIT_USAGE;
            }
        }
    }
    code
}

async fn mock(path: &Path, ledger: &Path) -> i32 {
    let sc = match load(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if sc.providers.is_empty() {
        eprintln!("error: {}: the scenario has no [[providers]] to serve\n  help: add a [[providers]] table with a profile from mock-providers/", path.display());
        return EXIT_USAGE;
    }
    if let Some(dir) = ledger.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("error: creating {}: {e}", dir.display());
            return EXIT_USAGE;
        }
    }
    report_error(crate::providers::run_standalone(&sc, ledger, &mut std::io::stdout()).await)
}

async fn gateway(path: &Path, provider_flags: &[String]) -> i32 {
    let sc = match load(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let crate::scenario::Gateway::Builtin(cfg) = &sc.gateway else {
        eprintln!("error: {}: [gateway] is external; `slabench gateway` serves the built-in gateway\n  help: remove kind = \"external\" or use a scenario with [[providers]]", path.display());
        return EXIT_USAGE;
    };
    let mut upstreams = Vec::new();
    for flag in provider_flags {
        match flag.split_once('=') {
            Some((name, url)) if !name.is_empty() && url.starts_with("http") => {
                upstreams.push((name.to_string(), url.trim_end_matches('/').to_string()))
            }
            _ => {
                eprintln!("error: --provider {flag:?} is not NAME=URL\n  help: e.g. --provider flash=http://127.0.0.1:9001");
                return EXIT_USAGE;
            }
        }
    }
    // Without --provider, serve the scenario's own simulated providers too.
    let mut own = None;
    if upstreams.is_empty() {
        let clock = std::sync::Arc::new(crate::clock::RunClock::new());
        clock.start(tokio::time::Instant::now());
        let ledger =
            std::env::temp_dir().join(format!("slabench-gateway-{}.ledger", std::process::id()));
        match crate::providers::ProviderSet::start(&sc, clock, &ledger) {
            Ok(set) => {
                upstreams = set.urls();
                for (name, url) in &upstreams {
                    println!("provider {name}  {url}");
                }
                own = Some((set, ledger));
            }
            Err(e) => return report_error(Err(e)),
        }
    }
    let result = crate::gateway::run_standalone(cfg, &upstreams, &mut std::io::stdout()).await;
    if let Some((set, ledger)) = own {
        let _ = set.shutdown().await;
        let _ = std::fs::remove_file(ledger);
    }
    report_error(result)
}

fn report(dir: &Path) -> i32 {
    match crate::report::rebuild(dir, |data| {
        crate::baseline::curves_of(&data.summary, &data.classes)
    }) {
        Ok(_) => {
            for name in ["report.html", "summary.md", "junit.xml"] {
                println!("{}", dir.join(name).display());
            }
            // Rendering succeeded; the run's verdict was its own exit code.
            0
        }
        Err(e) => report_error(Err(e)),
    }
}

fn report_error(result: anyhow::Result<()>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_USAGE
        }
    }
}
