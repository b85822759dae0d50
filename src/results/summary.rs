//! summary.json: the run's results as a versioned contract.
//!
//! CI scripts and dashboards read this file. The keys listed in ARCHITECTURE.md
//! ("the minimum contract") are stable; new keys may be added freely, and a
//! change to an existing key needs a `SCHEMA_VERSION` bump and an update of
//! `schema/summary.schema.json` (a test validates real output against it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::analysis::uptime::Uptime;
use crate::analysis::{Check, Verdict};
use crate::metrics::histogram::Percentiles;

/// 2: `verdict` may be INTERRUPTED or UNMEASURED, `checks[].state` says
/// whether a check was measured, `failover.windows[].reach` whether the run
/// reached a window. Version 1 files are still read.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub schema_version: u32,
    pub slabench_version: String,
    pub scenario: ScenarioInfo,
    pub verdict: Verdict,
    pub interrupted: bool,
    /// Panics inside slabench during the run (each makes it INVALID).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub internal_errors: Vec<String>,
    /// The started gateway process exited on its own during the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_exit: Option<GatewayExitOut>,
    /// Streamed outputs (latency.hlog, requests.csv) that could not be
    /// written completely, and what that left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_problems: Vec<String>,
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
    /// The gateway's own time per request (client's service time minus the
    /// time at providers), from the ledger join; `null` without one.
    #[serde(default)]
    pub gateway_overhead_ms: Option<crate::analysis::failover::Overhead>,
    /// Did the gateway obey the providers (Retry-After, non-retryable
    /// errors, their error statuses and types, a flapping provider)?
    /// `null` without a ledger.
    #[serde(default)]
    pub obedience: Option<crate::analysis::obedience::Obedience>,
    /// The comparison with a stored baseline; `null` without `--baseline`.
    pub baseline: Option<super::comparison::Comparison>,
}

impl Summary {
    /// What the interrupt left uncounted, for the uptime line of every
    /// output: `interrupted with 37 requests in flight, 12 unanswered (not counted)`.
    pub fn interrupt_note(&self) -> Option<String> {
        let n = self.requests.in_flight_at_interrupt?;
        Some(format!(
            "interrupted with {n} request(s) in flight, {} never answered (not counted)",
            self.requests.cut_off
        ))
    }

    /// The traffic classes in the scenario's order (older files: the
    /// order of their latency table).
    pub fn class_names(&self) -> Vec<String> {
        if self.scenario.traffic.is_empty() {
            self.latency_ms.classes.keys().cloned().collect()
        } else {
            self.scenario
                .traffic
                .iter()
                .map(|t| t.name.clone())
                .collect()
        }
    }

    /// The verdict in words, for verdicts other than PASS and FAIL.
    pub fn verdict_meaning(&self) -> Option<&'static str> {
        match self.verdict {
            Verdict::Pass | Verdict::Fail | Verdict::Regression => None,
            Verdict::Interrupted => Some(
                "the run was stopped before it ended; the numbers cover only the part that ran",
            ),
            Verdict::Unmeasured => Some("a check could not be measured, so the SLA is not proven"),
            Verdict::Invalid => Some("the numbers cannot be trusted; see the checks above"),
        }
    }
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
    /// Its deployment group (`group = ...`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
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
    /// That span: seconds from t=0 to the last send (shorter than the
    /// planned duration when the run was interrupted or gave up).
    #[serde(default)]
    pub span_s: f64,
    pub sent: u64,
    pub dropped: u64,
    pub lag_ms: Lag,
    /// The lag p99 above which the run is INVALID, and where it comes from
    /// (`load.max_lag_p99`, or derived from the budgets).
    #[serde(default)]
    pub lag_limit_ms: f64,
    #[serde(default)]
    pub lag_limit_from: String,
    pub stages: Vec<StageHealth>,
    /// Set when the generator fell behind for good and stopped early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gave_up: Option<GaveUpOut>,
    /// The CPU slabench got and how busy the machine was during the load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<crate::metrics::host::HostUsage>,
    /// `--start-at`, RFC 3339 (UTC): the wall-clock instant that was t=0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    /// With `--start-at`: how late the load began against it, ms (0: on
    /// time). Later than `lag_limit_ms` makes the run INVALID; when the
    /// run was only ready after that, nothing was sent (`sent` is 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_late_ms: Option<f64>,
    /// Set when this run sent one shard of the schedule (`--shard I/N`):
    /// its targets (`target_rpm`, the stages') are then 1/N of the
    /// scenario's. Absent for the whole schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::load::shard::Shard>,
}

impl Generator {
    /// `started 0.4 ms after --start-at 2026-12-03T18:00:00Z`, or that it
    /// was too late to send; `None` without `--start-at`.
    pub fn start_line(&self) -> Option<String> {
        let (at, late) = (self.start_at.as_ref()?, self.start_late_ms?);
        let late_s = crate::fmt::fmt_ms(late);
        Some(if late > self.lag_limit_ms && self.sent == 0 {
            format!(
                "ready {late_s} after --start-at {at}: too late, nothing sent (limit {})",
                crate::fmt::fmt_ms(self.lag_limit_ms)
            )
        } else {
            format!(
                "started {late_s} after --start-at {at} (limit {})",
                crate::fmt::fmt_ms(self.lag_limit_ms)
            )
        })
    }
}

/// A gateway process that died during the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayExitOut {
    /// Seconds since t=0 (negative: before the load began).
    pub at_s: f64,
    /// `exit status 1`, `killed by signal 9 (SIGKILL)`.
    pub status: String,
    /// The last lines of gateway.log when it exited.
    pub log_tail: Vec<String>,
}

impl GatewayExitOut {
    /// `exited at 12.3 s (exit status 1)`.
    pub fn headline(&self) -> String {
        format!("exited at {:.1} s ({})", self.at_s, self.status)
    }
}

/// The generator stopped early because it could not keep up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GaveUpOut {
    /// When it stopped, seconds since t=0.
    pub at_s: f64,
    /// How late the send it gave up on was.
    pub lag_ms: f64,
    /// What it did send per minute until then, and what the stages asked.
    pub held_rpm: f64,
    pub target_rpm: f64,
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
    /// In flight when an interrupt stopped the sends (those not answered
    /// within the interrupt grace are in `cut_off`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight_at_interrupt: Option<u64>,
    pub by_outcome: BTreeMap<String, u64>,
    /// Failed requests that no provider received: errors the gateway made
    /// itself, by status and message. Only with simulated providers (the
    /// ledger tells them apart from provider errors passed through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_errors: Option<crate::analysis::gateway_errors::GatewayErrors>,
}

impl Requests {
    /// The failed requests by outcome class, largest first, as
    /// `truncated_answer 16 · 5xx 3` (empty when none failed).
    pub fn failures(&self) -> String {
        let mut failed: Vec<(&String, u64)> = self
            .by_outcome
            .iter()
            .filter(|(k, n)| **n > 0 && !matches!(k.as_str(), "ok" | "cut_off"))
            .map(|(k, n)| (k, *n))
            .collect();
        failed.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let parts: Vec<String> = failed.iter().map(|(k, n)| format!("{k} {n}")).collect();
        parts.join(" · ")
    }
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
