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
pub mod ledger_info;
pub mod ledger_writer;
mod limit_headers;
mod listener;
pub mod rate_limit;
pub mod sample;
mod server;
#[cfg(test)]
mod start_tests;
mod stream;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod timer;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
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
        Self::start_on(scenario, clock, ledger_path, Ipv4Addr::LOCALHOST.into())
    }

    /// [`ProviderSet::start`] on the address `ip` (`slabench mock --bind`).
    pub fn start_on(
        scenario: &Scenario,
        clock: Arc<RunClock>,
        ledger_path: &Path,
        ip: IpAddr,
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
                listener::bind(ip, p.port).with_context(|| match p.port {
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
            let addr = listener.local_addr()?;
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
                .push((provider.name.clone(), format!("http://{addr}")));
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

    /// The ledger's counters, to read live.
    pub fn counters(&self) -> ledger_writer::LedgerCounters {
        self.ledger.counters()
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

/// How `slabench mock` serves: where, and from which t=0.
#[derive(Debug, Clone)]
pub struct Serve {
    /// The address every provider listens on (`--bind`).
    pub ip: IpAddr,
    /// `--start-at`: t=0 of the fault windows; `None`: now.
    pub start_at: Option<crate::clock::StartAt>,
    /// Filled in once the providers serve, for a metrics endpoint.
    pub watch: Watch,
    /// How the wall clock and the monotonic clock are read (tests step
    /// the wall clock).
    pub clocks: crate::clock::Clocks,
}

impl Default for Serve {
    fn default() -> Self {
        Serve {
            ip: Ipv4Addr::LOCALHOST.into(),
            start_at: None,
            watch: Watch::default(),
            clocks: crate::clock::read_clocks,
        }
    }
}

/// Where a metrics endpoint (`--metrics-addr`) reads the providers while
/// they serve: their ledger's counters and their run clock, set once they
/// start.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    pub counters: Arc<std::sync::OnceLock<ledger_writer::LedgerCounters>>,
    pub clock: Arc<std::sync::OnceLock<Arc<RunClock>>>,
}

/// Serves the providers of `scenario` on loopback from t=0 now until `stop`
/// ends (tests use a timer), as [`serve`] does.
pub async fn serve_until(
    scenario: &Scenario,
    ledger_path: &Path,
    out: &mut impl Write,
    stop: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    serve(scenario, ledger_path, out, stop, Serve::default()).await
}

/// `slabench mock`: serves the providers of `scenario` until `stop` ends
/// (Ctrl-C or SIGTERM), prints one `name  url` line per provider, and with
/// `--start-at` when t=0 is or how late the mock started against it (the
/// fault windows keep that clock either way). Stopping finishes the answers
/// in progress, flushes the ledger and prints how many attempts it holds.
pub async fn serve(
    scenario: &Scenario,
    ledger_path: &Path,
    out: &mut impl Write,
    stop: impl std::future::Future<Output = anyhow::Result<()>>,
    how: Serve,
) -> anyhow::Result<()> {
    let clock = Arc::new(RunClock::new());
    let (wall, now) = (how.clocks)();
    let settling = match how.start_at {
        None => {
            clock.start(now);
            None
        }
        Some(s) => {
            let at = s.instant(wall, now).with_context(|| {
                format!("--start-at {s} is too far from now for this machine's clock")
            })?;
            if at.saturating_duration_since(now) <= crate::clock::REMAP_AFTER {
                clock.start(at); // Near or past: this mapping is the one.
                None
            } else {
                Some(tokio::spawn(start_clock(clock.clone(), s, how.clocks)))
            }
        }
    };
    let set = ProviderSet::start_on(scenario, clock.clone(), ledger_path, how.ip)?;
    let _ = how.watch.counters.set(set.counters());
    let _ = how.watch.clock.set(clock);
    let mut info = ledger_info::LedgerInfo {
        scenario: scenario.name.clone(),
        seed: scenario.seed,
        start_at: how.start_at.map(|s| s.rfc3339()),
        started_unix_ms: ledger_info::unix_ms(wall),
        finished_unix_ms: None,
        attempts: None,
    };
    // Not beside /dev/null (benchmarks that keep no ledger).
    let described = std::fs::metadata(ledger_path).is_ok_and(|m| m.is_file());
    if described {
        info.write(ledger_path)?;
    }
    let width = set.urls.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, url) in &set.urls {
        writeln!(out, "{name:width$}  {url}")?;
    }
    if let Some(s) = how.start_at {
        writeln!(out, "{}", start_line(s, std::time::SystemTime::now()))?;
    }
    out.flush()?;
    let stopped = stop.await;
    if let Some(t) = settling {
        t.abort(); // Stopped before t=0: its clock no longer matters.
    }
    let stats = set.shutdown().await?;
    info.finished_unix_ms = Some(ledger_info::unix_ms(std::time::SystemTime::now()));
    info.attempts = Some(stats.attempts);
    if described {
        info.write(ledger_path)?;
    }
    stopped?;
    writeln!(
        out,
        "{} attempts recorded in {}",
        stats.attempts,
        ledger_path.display()
    )?;
    Ok(())
}

/// Sets the providers' t=0 to `s` as a run maps it (`StartAt::settle`):
/// from readings of the clocks taken at most two seconds before it, so
/// that a step of the system clock during a long wait is followed as the
/// shards follow it. Until then no fault is active.
async fn start_clock(clock: Arc<RunClock>, s: crate::clock::StartAt, clocks: crate::clock::Clocks) {
    let at = s
        .settle(std::time::Duration::ZERO, clocks, |until| async move {
            tokio::time::sleep_until(until).await;
            Ok(())
        })
        .await;
    // It was mapped once at startup: it maps again.
    clock.start(at.expect("--start-at maps onto this machine's clock"));
}

/// When t=0 is, seen from `now` once the providers serve.
fn start_line(s: crate::clock::StartAt, now: std::time::SystemTime) -> String {
    match s.0.duration_since(now) {
        Ok(ahead) => format!(
            "t=0 at --start-at {s}, in {:.1} s: the fault windows start then",
            ahead.as_secs_f64()
        ),
        Err(past) => format!(
            "t=0 at --start-at {s}: started {} late; the fault windows keep that clock \
             (those already over were missed)",
            crate::fmt::fmt_ms(past.duration().as_secs_f64() * 1000.0)
        ),
    }
}
