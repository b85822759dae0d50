//! `shard/manifest.json`: who the run was and how it went.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::load::generator::{DriveEnd, GaveUp};
use crate::load::shard::Shard;
use crate::metrics::host::HostUsage;
use crate::results::GatewayExitOut;

/// The manifest. `layout_version` decides how everything in the folder
/// reads; the other keys may grow (a reader ignores keys it does not know).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub layout_version: u32,
    pub slabench_version: String,
    pub scenario: ScenarioId,
    /// The seed the run used (the scenario's, or `--seed`).
    pub seed: u64,
    pub shard: Shard,
    /// The common start instant (`--start-at`) when one was given; `null`
    /// otherwise.
    pub start_at: Option<String>,
    /// How late the load started against `start_at`, ms; `null` without one.
    pub start_late_ms: Option<f64>,
    /// Whether the load was sent at all with `start_at` (`false`: it was
    /// ready too late and sent nothing); `null` without `start_at`.
    #[serde(default)]
    pub start_sent: Option<bool>,
    /// Wall-clock start of the run (its launch), ms since the Unix epoch.
    pub started_unix_ms: u64,
    /// The wall-clock instant of the run's t=0 (the start of its first
    /// stage: `start_at` when one was given), ms since the Unix epoch: the
    /// base of its per-second rows and latency.hlog. `null` in a manifest
    /// written before this key existed (merge then takes `start_at`, or
    /// the launch time).
    #[serde(default)]
    pub t0_unix_ms: Option<u64>,
    /// The scenario was loaded with `--allow-remote` (a gateway that is not
    /// loopback): merge reads it back with the same `LoadOptions`. `false`
    /// in a manifest written before this key existed.
    #[serde(default)]
    pub allow_remote: bool,
    pub drive: DriveState,
    pub host: Option<HostUsage>,
    /// How the run was interrupted, if it was.
    pub interrupted: Option<String>,
    /// Panics inside slabench during the run.
    pub internal_errors: Vec<String>,
    pub gateway_exit: Option<GatewayExitOut>,
    /// Streamed outputs that could not be written completely.
    pub output_problems: Vec<String>,
    /// The providers' ledger this run's own providers wrote; `null` when it
    /// started none.
    pub ledger: Option<LedgerState>,
    /// Rows in requests.bin.
    pub requests: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioId {
    pub name: String,
    /// [`super::scenario_digest`].
    pub digest: String,
    /// Where the scenario was read from (its provider profiles resolve
    /// from there when merge reads `scenario.toml` back).
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerState {
    /// The file's name in the run directory (`ledger.bin`).
    pub file: String,
    /// Why it may be incomplete, if it may.
    pub problem: Option<String>,
}

/// [`DriveEnd`] as data (seconds since t=0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriveState {
    pub interrupted: bool,
    pub send_span_s: f64,
    pub in_flight_at_interrupt: Option<u64>,
    pub gave_up: Option<GaveUpState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GaveUpState {
    pub at_s: f64,
    pub lag_s: f64,
    pub since_s: f64,
    pub held: u64,
}

impl DriveState {
    pub fn of(end: &DriveEnd) -> DriveState {
        DriveState {
            interrupted: end.interrupted,
            send_span_s: end.send_span.as_secs_f64(),
            in_flight_at_interrupt: end.in_flight_at_interrupt,
            gave_up: end.gave_up.map(|g| GaveUpState {
                at_s: g.at.as_secs_f64(),
                lag_s: g.lag.as_secs_f64(),
                since_s: g.since.as_secs_f64(),
                held: g.held,
            }),
        }
    }

    /// The `DriveEnd` this was taken from (to the nanosecond).
    pub fn end(&self) -> DriveEnd {
        let d = Duration::from_secs_f64;
        DriveEnd {
            interrupted: self.interrupted,
            send_span: d(self.send_span_s),
            in_flight_at_interrupt: self.in_flight_at_interrupt,
            gave_up: self.gave_up.as_ref().map(|g| GaveUp {
                at: d(g.at_s),
                lag: d(g.lag_s),
                since: d(g.since_s),
                held: g.held,
            }),
        }
    }
}
