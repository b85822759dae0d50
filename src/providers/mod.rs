//! Simulated LLM providers: fault model, server, ledger, OpenAI bodies, SSE.
//!
//! [`ProviderSet::start`] binds every provider of a scenario on loopback and
//! serves them until [`ProviderSet::shutdown`]; each one answers like an
//! OpenAI-compatible API whose latency, errors and breakage follow its
//! profile and the scenario's fault timeline (`fault.rs`, pure and seeded),
//! and records every attempt in the ledger file (`ledger.rs`).

pub mod body;
mod entry;
pub mod errors;
pub mod fault;
pub mod ledger;
pub mod ledger_writer;
mod limit_headers;
mod listener;
pub mod rate_limit;
pub mod sample;
mod server;
mod stream;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod timer;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use ledger::{read_ledger, Attempt, AttemptOutcome};
pub use ledger_writer::LedgerStats;

use crate::clock::RunClock;
use crate::scenario::Scenario;
use fault::FaultModel;
use ledger_writer::LedgerWriter;
use server::ProviderCtx;

/// The running providers of one scenario.
#[derive(Debug)]
pub struct ProviderSet {
    urls: Vec<(String, String)>,
    tasks: Vec<JoinHandle<()>>,
    shutdown: watch::Sender<bool>,
    ledger: LedgerWriter,
}

impl ProviderSet {
    /// Binds and starts every provider of `scenario` (on `127.0.0.1`; port 0:
    /// any free one) and creates the ledger at `ledger_path`. Faults follow
    /// `clock`: none is active before it starts. Call from a tokio runtime.
    pub fn start(
        scenario: &Scenario,
        clock: Arc<RunClock>,
        ledger_path: &Path,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            scenario.providers.len() <= usize::from(u16::MAX),
            "too many providers ({})",
            scenario.providers.len()
        );
        let runtime = tokio::runtime::Handle::try_current()
            .context("providers must be started inside a tokio runtime")?;
        let listeners = scenario
            .providers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                listener::bind(p.port).with_context(|| match p.port {
                    0 => format!("starting provider {}", p.name),
                    port => format!(
                        "starting provider {} (providers[{i}].port = {port})",
                        p.name
                    ),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let ledger = LedgerWriter::create(ledger_path, scenario.providers.len())?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut set = ProviderSet {
            urls: Vec::new(),
            tasks: Vec::new(),
            shutdown,
            ledger,
        };
        for (index, (provider, listener)) in scenario.providers.iter().zip(listeners).enumerate() {
            let port = listener.local_addr()?.port();
            let model = FaultModel::new(scenario, index);
            let refusing = listener::refusing(model.faults());
            let ctx = ProviderCtx::new(
                index as u16,
                scenario.seed,
                provider,
                clock.clone(),
                model,
                set.ledger.sink(),
                shutdown_rx.clone(),
                scenario.faults.iter().map(|f| f.error.clone()).collect(),
            )
            .with_context(|| {
                format!(
                    "provider name {:?} is not a valid header value",
                    provider.name
                )
            })?;
            let task = runtime.spawn(listener::serve(
                Arc::new(ctx),
                listener,
                refusing,
                shutdown_rx.clone(),
            ));
            set.tasks.push(task);
            set.urls
                .push((provider.name.clone(), format!("http://127.0.0.1:{port}")));
        }
        Ok(set)
    }

    /// `(provider name, base URL)` in scenario order; requests go to
    /// `{url}/v1/chat/completions`.
    pub fn urls(&self) -> Vec<(String, String)> {
        self.urls.clone()
    }

    /// Ledger counters so far.
    pub fn stats(&self) -> LedgerStats {
        self.ledger.stats()
    }

    /// Stops accepting, lets answers in progress finish (briefly; hung
    /// requests are reset), frees every port, and flushes the ledger.
    pub async fn shutdown(self) -> anyhow::Result<LedgerStats> {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            task.await.context("a provider task failed")?;
        }
        let ledger = self.ledger;
        tokio::task::spawn_blocking(move || ledger.finish())
            .await
            .context("the ledger writer failed")?
    }
}

/// Serves the providers of `scenario` until Ctrl-C (`slabench mock`): starts
/// the run clock at once, so faults run on their timeline from now, and
/// prints one `name  url` line per provider.
pub async fn run_standalone(
    scenario: &Scenario,
    ledger_path: &Path,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let ctrl_c = async { tokio::signal::ctrl_c().await.context("waiting for Ctrl-C") };
    serve_until(scenario, ledger_path, out, ctrl_c).await
}

/// [`run_standalone`] with any stop signal (tests use a timer).
pub async fn serve_until(
    scenario: &Scenario,
    ledger_path: &Path,
    out: &mut impl Write,
    stop: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let clock = Arc::new(RunClock::new());
    clock.start(tokio::time::Instant::now());
    let set = ProviderSet::start(scenario, clock, ledger_path)?;
    let width = set.urls.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, url) in &set.urls {
        writeln!(out, "{name:width$}  {url}")?;
    }
    out.flush()?;
    let stopped = stop.await;
    let stats = set.shutdown().await?;
    stopped?;
    writeln!(
        out,
        "{} attempts recorded in {}",
        stats.attempts,
        ledger_path.display()
    )?;
    Ok(())
}
