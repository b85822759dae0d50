//! summary.json: the run's results as a versioned contract.
//!
//! CI scripts and dashboards read this file. The keys listed in DESIGN.md
//! ("the minimum contract") are stable; new keys may be added freely, and a
//! change to an existing key needs a `SCHEMA_VERSION` bump and an update of
//! `schema/summary.schema.json` (a test validates real output against it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::analysis::uptime::Uptime;
use crate::analysis::{Check, Verdict};
use crate::metrics::histogram::Percentiles;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub schema_version: u32,
    pub slabench_version: String,
    pub scenario: ScenarioInfo,
    pub verdict: Verdict,
    pub interrupted: bool,
    pub checks: Vec<Check>,
    pub generator: Generator,
    pub requests: Requests,
    pub uptime: UptimeOut,
    pub latency_ms: Latency,
    /// Failover analysis; `null` when no ledger exists (external target
    /// without simulated providers).
    pub failover: Option<crate::analysis::failover::Report>,
    /// Cost from the providers' prices; `null` without simulated providers.
    pub cost_usd: Option<crate::analysis::failover::Cost>,
    /// The comparison with a stored baseline; `null` without `--baseline`.
    pub baseline: Option<crate::baseline::Comparison>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioInfo {
    pub name: String,
    pub seed: u64,
    pub file: Option<String>,
    pub description: Option<String>,
    /// Planned duration of the stages, seconds.
    pub duration_s: f64,
    pub gateway: String,
    /// UTC start time, RFC 3339.
    pub started_at: String,
    /// The scenario in brief, for the reports (additive; absent in files
    /// written before it existed).
    #[serde(default)]
    pub traffic: Vec<TrafficInfo>,
    #[serde(default)]
    pub providers: Vec<ProviderInfo>,
    #[serde(default)]
    pub faults: Vec<FaultInfo>,
    #[serde(default)]
    pub sla_budgets_ms: BudgetsMs,
}

/// One traffic class as the scenario defines it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrafficInfo {
    pub name: String,
    pub weight: f64,
    pub model: String,
    pub prompt_tokens: u32,
    pub max_tokens: u32,
    pub stream: bool,
    /// The class's own latency budgets, ms (the scenario-wide ones are in
    /// `sla_budgets_ms` and apply to all classes together).
    pub budgets_ms: BudgetsMs,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BudgetsMs {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// One simulated provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderInfo {
    pub name: String,
    pub profile: String,
    pub model: String,
    pub region: String,
    pub price_input_per_m: f64,
    pub price_output_per_m: f64,
}

/// One fault on the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultInfo {
    /// `outage (503) on provider flash`.
    pub label: String,
    pub start_s: f64,
    /// `null`: until the end of the run.
    pub end_s: Option<f64>,
    pub probability: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Generator {
    /// Mean rate the stages ask for over the span that was sent.
    pub target_rpm: f64,
    /// What was sent, per minute, over the same span.
    pub achieved_rpm: f64,
    pub sent: u64,
    pub dropped: u64,
    pub lag_ms: Lag,
    pub stages: Vec<StageHealth>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Lag {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageHealth {
    pub index: usize,
    /// `hold 600 rpm for 30s` / `ramp 0 → 600 rpm over 30s`.
    pub shape: String,
    pub start_s: f64,
    pub end_s: f64,
    pub target_rpm: f64,
    pub achieved_rpm: f64,
    pub sent: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Requests {
    /// Requests that count towards uptime (everything but cut off).
    pub counted: u64,
    pub ok: u64,
    pub failed: u64,
    /// In flight when the run ended: reported, not counted.
    pub cut_off: u64,
    pub by_outcome: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UptimeOut {
    pub ratio: f64,
    pub ci95: [f64; 2],
    pub target: f64,
    pub error_budget: crate::analysis::budget::Budget,
}

impl UptimeOut {
    pub fn new(u: &Uptime, target: f64, error_budget: crate::analysis::budget::Budget) -> Self {
        UptimeOut {
            ratio: u.ratio,
            ci95: u.ci95,
            target,
            error_budget,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Latency {
    /// Latency of successful requests, from the intended send instant.
    pub all: Percentiles,
    pub classes: BTreeMap<String, ClassLatency>,
    /// Service time of successful requests (from the actual send).
    pub service: Percentiles,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassLatency {
    #[serde(flatten)]
    pub latency: Percentiles,
    pub requests: u64,
    pub ok: u64,
    /// Streaming classes: time to first token and time per output token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft: Option<Percentiles>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpot: Option<Percentiles>,
    /// Streaming classes: mean output tokens per second after the first token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_s: Option<f64>,
}
