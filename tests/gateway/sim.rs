//! slabench's own simulated providers behind the gateway, for what only
//! they give: seeded faults on the run clock and the ledger of every
//! attempt (arrival, answer, the Retry-After sent), read back at the end.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use slabench::clock::RunClock;
use slabench::gateway::BuiltinGatewayServer;
use slabench::providers::{read_ledger, Attempt, ProviderSet};
use slabench::scenario::{ErrorSpec, Fault, FaultKind, RetryAfter, RetryAfterSpec, Scenario};

pub use slabench::providers::testing::scenario;

/// Simulated providers `p0`, `p1`, … with the run clock started now.
pub struct Sim {
    set: ProviderSet,
    pub urls: Vec<(String, String)>,
    ledger: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sim {
    pub fn start(s: &Scenario) -> Sim {
        let clock = Arc::new(RunClock::new());
        clock.start(tokio::time::Instant::now());
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("ledger.bin");
        let set = ProviderSet::start(s, clock, &ledger).unwrap();
        Sim {
            urls: set.urls(),
            set,
            ledger,
            _dir: dir,
        }
    }

    /// The `(name, url)` pairs as `support::start` takes them.
    pub fn upstreams(&self) -> Vec<(&str, String)> {
        self.urls
            .iter()
            .map(|(n, u)| (n.as_str(), u.clone()))
            .collect()
    }

    /// Stops the gateway and the providers; every attempt the providers
    /// recorded, in ledger order.
    pub async fn finish(self, gw: BuiltinGatewayServer) -> Vec<Attempt> {
        gw.shutdown().await;
        self.set.shutdown().await.unwrap();
        read_ledger(&self.ledger).map(Result::unwrap).collect()
    }
}

/// A fault on provider `index` from `start` for `duration`, hitting every
/// request, with `error` as its error.
pub fn fault(index: usize, kind: FaultKind, window: (u64, u64), error: ErrorSpec) -> Fault {
    let ms = Duration::from_millis;
    let mut f = slabench::providers::testing::fault(
        index,
        kind,
        ms(window.0),
        Some(ms(window.1 - window.0)),
    );
    f.error = error;
    f
}

/// An error with `code` and a Retry-After of `wait` (an HTTP date if
/// `as_date`).
pub fn error(code: Option<&str>, retry_after: Option<(u64, bool)>) -> ErrorSpec {
    ErrorSpec {
        code: code.map(str::to_owned),
        retry_after: match retry_after {
            None => RetryAfterSpec::Default,
            Some((ms, as_date)) => RetryAfterSpec::After(RetryAfter {
                wait: Duration::from_millis(ms),
                as_date,
            }),
        },
        ..ErrorSpec::default()
    }
}

/// Attempts that reached provider `p` while a Retry-After it sent earlier
/// was in force: arrived more than 50 ms after that answer left, and before
/// its wait was over (the analysis's rule). `(answered, wait, arrived)` µs.
pub fn retry_after_violations(ledger: &[Attempt], p: u16) -> Vec<(i64, i64, i64)> {
    let at_p: Vec<&Attempt> = ledger.iter().filter(|a| a.provider == p).collect();
    let mut found = Vec::new();
    for asked in at_p.iter().filter(|a| a.retry_after_ms.is_some()) {
        let wait = i64::from(asked.retry_after_ms.unwrap()) * 1000;
        let from = asked.answered_us + 50_000;
        let until = asked.answered_us + wait;
        for a in &at_p {
            if a.arrived_us > from && a.arrived_us < until {
                found.push((asked.answered_us, wait, a.arrived_us));
            }
        }
    }
    found
}
