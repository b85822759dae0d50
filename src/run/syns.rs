//! The run's connection watcher (`crate::connwatch`): started once the
//! providers' ports are known, before the load, only when the scenario has
//! a `refuse` window (refused connections never reach the ledger), and
//! stopped after the load.

use crate::analysis::failover::Connections;
use crate::connwatch::{Counts, Watcher};
use crate::scenario::Scenario;
use crate::stack::Stack;

/// The interface the providers and a local gateway talk over.
const LOOPBACK: &str = "lo";

/// What the run saw of connection attempts, once the load is over.
pub(super) enum Watched {
    Seen(Counts),
    NotObservable(String),
}

impl Watched {
    /// For the analysis' input.
    pub(super) fn connections(&self) -> Connections<'_> {
        match self {
            Watched::Seen(c) => Connections::Seen(c),
            Watched::NotObservable(why) => Connections::NotObservable(why),
        }
    }
}

/// A watcher running during the load, or why there is none.
pub(super) enum Watch {
    /// The watcher, and how many ports (providers) it counts.
    Running(Watcher, usize),
    Not(String),
}

impl Watch {
    /// Starts watching the simulated providers' ports when `scenario` has
    /// a refuse window. Says why not when it has one and cannot (even with
    /// `--quiet`: it explains the report, and may be fixed for the next run).
    pub(super) fn start(scenario: &Scenario, stack: &Stack) -> Watch {
        // An outage as "refuse", or a flapping provider down as "refuse".
        if !scenario.faults.iter().any(|f| f.refuses()) {
            return Watch::Not("not watched: the scenario has no refuse window".into());
        }
        let ports: Option<Vec<u16>> = stack
            .provider_urls()
            .iter()
            .map(|(_, url)| port_of(url))
            .collect();
        let started = match ports {
            Some(ports) if !ports.is_empty() => {
                Watcher::start(LOOPBACK, &ports, stack.clock.clone()).map(|w| (w, ports.len()))
            }
            _ => Err("not watched: no simulated provider ports to watch".into()),
        };
        match started {
            Ok((w, n)) => Watch::Running(w, n),
            Err(why) => {
                crate::term::warning(format_args!("refused connections not observable: {why}"));
                Watch::Not(why)
            }
        }
    }

    /// Stops the watcher (off the async threads: the stop waits for the
    /// thread's receive timeout). The counts get a row for each of the
    /// timeline's `seconds` (a second without a SYN is a watched zero).
    pub(super) async fn finish(self, seconds: usize) -> Watched {
        match self {
            Watch::Not(why) => Watched::NotObservable(why),
            Watch::Running(w, n) => match tokio::task::spawn_blocking(move || w.stop()).await {
                Ok(Ok(mut counts)) => {
                    if counts.len() < seconds {
                        counts.resize(seconds, vec![0; n]);
                    }
                    Watched::Seen(counts)
                }
                Ok(Err(why)) => Watched::NotObservable(why),
                Err(e) => Watched::NotObservable(format!("the connection watcher failed: {e}")),
            },
        }
    }
}

/// The port of a provider's base URL (`http://127.0.0.1:8101`).
fn port_of(url: &str) -> Option<u16> {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let authority = rest.split('/').next()?;
    authority.rsplit_once(':')?.1.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_provider_url_gives_its_port() {
        assert_eq!(super::port_of("http://127.0.0.1:8101"), Some(8101));
        assert_eq!(super::port_of("http://127.0.0.1:8101/v1"), Some(8101));
        assert_eq!(super::port_of("http://[::1]:9"), Some(9));
        assert_eq!(super::port_of("http://localhost"), None);
    }
}
