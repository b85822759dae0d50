//! The simulated providers' live metrics, for `slabench mock` and for a
//! run that starts its own providers: attempts by provider and outcome
//! (the ledger's counters as its writer counts them), and which fault
//! windows are active on the run clock.

use std::fmt::Error;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use super::gauges::{self, Labels};
use crate::providers::ledger_writer::LedgerCounters;
use crate::providers::{AttemptOutcome, Watch};
use crate::scenario::Scenario;

/// One fault window on the run clock.
#[derive(Debug, Clone)]
pub struct Window {
    pub index: usize,
    pub providers: Vec<String>,
    pub fault: String,
    pub start: Duration,
    pub end: Option<Duration>,
}

/// The scenario's fault windows.
pub fn windows(scenario: &Scenario) -> Vec<Window> {
    scenario
        .faults
        .iter()
        .enumerate()
        .map(|(index, f)| Window {
            index,
            providers: f
                .providers
                .iter()
                .map(|&p| scenario.providers[p].name.clone())
                .collect(),
            fault: crate::analysis::failover::fault_label(f),
            start: f.start,
            end: f.end(),
        })
        .collect()
}

/// Writes `slabench_fault_window_active{window,provider,fault}`: 1 while
/// the window is open at `elapsed` since t=0, else 0; nothing before t=0
/// is known (`None`): then the family is absent.
pub fn encode_windows(
    enc: &mut DescriptorEncoder,
    windows: &[Window],
    elapsed: Option<Duration>,
) -> Result<(), Error> {
    let Some(t) = elapsed else { return Ok(()) };
    let samples = windows.iter().flat_map(|w| {
        let open = t >= w.start && w.end.is_none_or(|e| t < e);
        w.providers.iter().map(move |p| {
            let labels: Labels = vec![
                ("window", w.index.to_string()),
                ("provider", p.clone()),
                ("fault", w.fault.clone()),
            ];
            (labels, f64::from(u8::from(open)))
        })
    });
    gauges::gauge(
        enc,
        "slabench_fault_window_active",
        "1 while the scenario's fault window is open on the run clock, else 0",
        samples,
    )
}

/// Attempts the simulated providers served, by provider and outcome.
pub fn encode_attempts(
    enc: &mut DescriptorEncoder,
    names: &[String],
    counters: &LedgerCounters,
) -> Result<(), Error> {
    let stats = counters.snapshot();
    let samples = stats
        .by_provider_outcome
        .iter()
        .zip(names)
        .flat_map(|(by_outcome, name)| {
            AttemptOutcome::ALL.iter().map(move |o| {
                let labels: Labels = vec![("provider", name.clone()), ("outcome", o.name().into())];
                (labels, by_outcome[*o as usize])
            })
        });
    gauges::counter(
        enc,
        "slabench_provider_attempts",
        "Attempts the simulated providers served, by provider and outcome, as their ledger \
         writer counted them (every attempt, the preflight's included)",
        samples,
    )
}

/// The providers' collector: their names and fault windows, and what
/// [`Watch`] fills in once they serve (their ledger's counters, the clock).
#[derive(Debug, Clone)]
pub struct ProvidersCollector {
    pub names: Vec<String>,
    pub windows: Vec<Window>,
    pub watch: Watch,
}

impl ProvidersCollector {
    pub fn new(scenario: &Scenario) -> Self {
        ProvidersCollector {
            names: scenario.providers.iter().map(|p| p.name.clone()).collect(),
            windows: windows(scenario),
            watch: Watch::default(),
        }
    }

    /// A registry with these metrics alone (`slabench mock`).
    pub fn registry(&self) -> prometheus_client::registry::Registry {
        let mut r = prometheus_client::registry::Registry::default();
        r.register_collector(Box::new(self.clone()));
        r
    }
}

impl Collector for ProvidersCollector {
    /// Only a process that serves the providers shows their windows (a
    /// `--no-providers` shard does not), and only from t=0.
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), Error> {
        let Some(c) = self.watch.counters.get() else {
            return Ok(());
        };
        encode_attempts(&mut enc, &self.names, c)?;
        let elapsed = self.watch.clock.get().and_then(|c| {
            let us = c.micros_at(tokio::time::Instant::now());
            (us >= 0).then(|| Duration::from_micros(us as u64))
        });
        encode_windows(&mut enc, &self.windows, elapsed)
    }
}
