//! `slabench gateway`: the built-in gateway on its own, in front of the
//! providers named by `--provider` or the scenario's own simulated ones,
//! with its live metrics on `--metrics-addr`.

use std::path::Path;

use super::{count_signals, linger, nth_signal, start_exporter, Outcome};
use crate::exit::{self, UserError};
use crate::scenario::{self, Scenario};

/// `slabench gateway`: serves until Ctrl-C or SIGTERM; with
/// `--metrics-addr`, its own metrics (and its providers', when it started
/// them) stay up for the linger after it stopped.
pub(super) async fn gateway(
    path: &Path,
    provider_flags: &[String],
    m: &crate::cli::MetricsArgs,
) -> Outcome {
    let sc = scenario::load(path)?;
    let crate::scenario::Gateway::Builtin(cfg) = &sc.gateway else {
        return Err(UserError::new(
            format!(
                "{}: [gateway] is external; `slabench gateway` serves the built-in gateway",
                path.display()
            ),
            "remove kind = \"external\" or use a scenario with [[providers]]",
        )
        .into());
    };
    let mut upstreams = provider_urls(provider_flags)?;
    let mut registry = prometheus_client::registry::Registry::default();
    let watch = crate::gateway::Watch::default();
    let collector = crate::exporter::gateway::GatewayCollector {
        watch: watch.clone(),
    };
    registry.register_collector(Box::new(collector));
    // Without --provider, serve the scenario's own simulated providers too.
    let mut own = None;
    if upstreams.is_empty() {
        let (set, ledger, clock) = start_own_providers(&sc)?;
        let providers = crate::exporter::providers::ProvidersCollector::new(&sc);
        let _ = providers.watch.counters.set(set.counters());
        let _ = providers.watch.clock.set(clock);
        registry.register_collector(Box::new(providers));
        upstreams = set.urls();
        for (name, url) in &upstreams {
            println!("provider {name}  {url}");
        }
        own = Some((set, ledger));
    }
    let exporter = start_exporter(m, registry).await?;
    // The first Ctrl-C or SIGTERM stops the gateway, the next ends the
    // metrics' linger.
    let signals = count_signals();
    let stop = nth_signal(signals.clone(), 1);
    let mut stdout = std::io::stdout();
    let result = crate::gateway::serve_watched(cfg, &upstreams, &mut stdout, stop, &watch).await;
    if let Some(exporter) = exporter {
        // The final counts stay up for the linger unless another signal comes.
        let second = async move {
            let _ = nth_signal(signals, 2).await;
        };
        match result.is_ok() {
            true => linger(exporter, m, second).await,
            false => exporter.stop().await,
        }
    }
    if let Some((set, ledger)) = own {
        let _ = set.shutdown().await;
        let _ = std::fs::remove_file(ledger);
    }
    result.map(|()| exit::PASS)
}

/// `--provider NAME=URL` flags.
fn provider_urls(flags: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    flags
        .iter()
        .map(|flag| match flag.split_once('=') {
            Some((name, url)) if !name.is_empty() && url.starts_with("http") => {
                Ok((name.to_string(), url.trim_end_matches('/').to_string()))
            }
            _ => Err(UserError::new(
                format!("--provider {flag:?} is not NAME=URL"),
                "e.g. --provider flash=http://127.0.0.1:9001",
            )
            .into()),
        })
        .collect()
}

type OwnProviders = (
    crate::providers::ProviderSet,
    std::path::PathBuf,
    std::sync::Arc<crate::clock::RunClock>,
);

fn start_own_providers(sc: &Scenario) -> anyhow::Result<OwnProviders> {
    let clock = std::sync::Arc::new(crate::clock::RunClock::new());
    clock.start(tokio::time::Instant::now());
    let ledger =
        std::env::temp_dir().join(format!("slabench-gateway-{}.ledger", std::process::id()));
    let set = crate::providers::ProviderSet::start(sc, clock.clone(), &ledger)?;
    Ok((set, ledger, clock))
}
