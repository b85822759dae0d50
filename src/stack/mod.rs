//! The system under test, started and stopped around a run: simulated
//! providers first, then the gateway (built in, or an external process,
//! `process.rs`, behind a supervisor, `supervisor.rs`, that ends it when
//! slabench goes away), then a bounded readiness probe (`ready.rs`).
//! `Stack::stop` always runs, on success, on error and after an interrupt,
//! so that no port is left bound and the providers' ledger is flushed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use crate::clock::RunClock;
use crate::gateway::BuiltinGatewayServer;
mod process;
mod ready;
mod supervisor;

use crate::providers::ProviderSet;
use crate::scenario::{Gateway, Scenario};
pub use process::{log_lines, GatewayChild, GatewayExit, EXIT_LOG_LINES, LOG_FILE, STOP_GRACE};
pub use ready::wait_ready;

/// How long a gateway may take to answer its readiness probe.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything started for one run.
pub struct Stack {
    pub clock: Arc<RunClock>,
    /// Base URL the load goes to.
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// The providers' ledger, when simulated providers run.
    pub ledger: Option<PathBuf>,
    /// Why the ledger may be incomplete: the providers' shutdown failed
    /// (e.g. its writer met a full disk). Set by [`Stack::stop`].
    pub ledger_problem: Option<String>,
    providers: Option<ProviderSet>,
    gateway: Option<BuiltinGatewayServer>,
    /// The external gateway's process, when slabench started it.
    process: Option<GatewayChild>,
    /// Its exit before the stop, kept once `stop` has taken the process.
    process_exit: Option<GatewayExit>,
}

impl Stack {
    /// Starts what `scenario` needs; an external gateway's log goes to
    /// `out_dir`. On failure, whatever was started is stopped. `stop` turning
    /// true (Ctrl-C) ends a wait for the gateway's readiness with an error.
    pub async fn start(
        scenario: &Scenario,
        out_dir: &Path,
        stop: Option<watch::Receiver<bool>>,
    ) -> anyhow::Result<Stack> {
        Self::start_with(scenario, out_dir, stop, true).await
    }

    /// [`Stack::start`]; without `providers` (`--no-providers`: they are
    /// served elsewhere) the scenario's providers are not started and there
    /// is no ledger.
    pub async fn start_with(
        scenario: &Scenario,
        out_dir: &Path,
        stop: Option<watch::Receiver<bool>>,
        providers: bool,
    ) -> anyhow::Result<Stack> {
        let clock = Arc::new(RunClock::new());
        let mut stack = Stack {
            clock: clock.clone(),
            url: String::new(),
            headers: Vec::new(),
            ledger: None,
            ledger_problem: None,
            providers: None,
            gateway: None,
            process: None,
            process_exit: None,
        };
        match stack.start_parts(scenario, out_dir, stop, providers).await {
            Ok(()) => Ok(stack),
            Err(e) => {
                stack.stop().await;
                Err(e)
            }
        }
    }

    async fn start_parts(
        &mut self,
        scenario: &Scenario,
        out_dir: &Path,
        stop: Option<watch::Receiver<bool>>,
        providers: bool,
    ) -> anyhow::Result<()> {
        let mut upstreams = Vec::new();
        if providers && !scenario.providers.is_empty() {
            let ledger = out_dir.join("ledger.bin");
            let set = ProviderSet::start(scenario, self.clock.clone(), &ledger)
                .context("starting the simulated providers")?;
            upstreams = set.urls();
            self.providers = Some(set);
            self.ledger = Some(ledger);
        }
        match &scenario.gateway {
            Gateway::Builtin(cfg) => {
                let gw = BuiltinGatewayServer::start(cfg, &upstreams)
                    .await
                    .context("starting the built-in gateway")?;
                self.url = gw.url();
                self.gateway = Some(gw);
                wait_ready(&format!("{}/health", self.url), READY_TIMEOUT).await?;
            }
            Gateway::External(g) => {
                self.url = g.url.clone();
                self.headers = g.headers.clone();
                if let Some(spec) = &g.process {
                    let addr = host_port(&g.url)?;
                    self.process = Some(GatewayChild::start(spec, out_dir, &addr, stop).await?);
                }
            }
        }
        Ok(())
    }

    /// The simulated providers' ledger counters, to read live.
    pub fn provider_counters(&self) -> Option<crate::providers::ledger_writer::LedgerCounters> {
        self.providers.as_ref().map(ProviderSet::counters)
    }

    /// `(name, url)` of the simulated providers.
    pub fn provider_urls(&self) -> Vec<(String, String)> {
        self.providers
            .as_ref()
            .map(ProviderSet::urls)
            .unwrap_or_default()
    }

    /// The started gateway process's exit, if it exited on its own (a crash
    /// during the load), with when, its status and the log's last lines;
    /// `None` without a started process, while it runs, and when it only
    /// exited because [`Stack::stop`] stopped it. Also answers after `stop`.
    pub fn gateway_exit(&self) -> Option<GatewayExit> {
        match &self.process {
            Some(p) => p.exited(),
            None => self.process_exit.clone(),
        }
    }

    /// A receiver that turns `Some` when the started gateway process exits
    /// (`None` without one), to notice a crash while the load goes on. It
    /// also sees the exit that `stop` causes: use [`Stack::gateway_exit`]
    /// after the stop.
    pub fn gateway_exit_watch(&self) -> Option<watch::Receiver<Option<GatewayExit>>> {
        self.process.as_ref().map(GatewayChild::exit_watch)
    }

    /// Stops the gateway, then the providers (flushing the ledger). Errors
    /// are reported, not returned: the run's measurements still get written.
    pub async fn stop(&mut self) {
        if let Some(gw) = self.gateway.take() {
            gw.shutdown().await;
        }
        if let Some(mut process) = self.process.take() {
            process.stop().await;
            self.process_exit = process.exited();
        }
        if let Some(set) = self.providers.take() {
            if let Err(e) = set.shutdown().await {
                crate::term::warning(format_args!("stopping the providers: {e:#}"));
                self.ledger_problem = Some(format!("{e:#}"));
            }
        }
    }
}

/// `host:port` of a base URL, for a plain TCP readiness probe.
fn host_port(url: &str) -> anyhow::Result<String> {
    let u = reqwest::Url::parse(url).with_context(|| format!("parsing the gateway URL {url}"))?;
    let host = u.host_str().context("the gateway URL has no host")?;
    let port = u
        .port_or_known_default()
        .context("the gateway URL has no port")?;
    Ok(format!("{host}:{port}"))
}
