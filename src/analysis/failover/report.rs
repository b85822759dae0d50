//! The failover section of summary.json: what `analyze` returns and the
//! reports draw.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    AnswerCheck, ConnectionsOut, Cost, Event, Overhead, ProviderStats, SecondFlow, Window,
};
use crate::analysis::account::AccountReport;
use crate::metrics::histogram::Percentiles;

/// The failover section of summary.json, and what the reports draw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Requests whose first attempt failed (failover + retry + exhausted).
    pub events: u64,
    pub failovers: u64,
    /// Requests answered by another deployment of their first provider's
    /// group (`group = ...`): not failovers.
    #[serde(default)]
    pub group_moves: u64,
    pub retries: u64,
    pub exhausted: u64,
    /// Failed requests that no provider ever received: errors the gateway
    /// made itself (`gateway_error`s; summary.json's
    /// `requests.gateway_errors` has them by status and message).
    pub unreached: u64,
    /// Failed requests whose attempts reached providers and failed there:
    /// provider errors the gateway passed through (the exhausted events).
    #[serde(default)]
    pub provider_errors_passed_through: u64,
    /// The unreached requests by message (indexes into the recorder's
    /// `ErrorMessages`); `requests.gateway_errors` names them.
    #[serde(skip)]
    pub gateway_errors: Vec<super::GatewayErrorCount>,
    /// Attempts per request sent: the ledger's attempts plus the refused
    /// connections, when they were watched (`refused_connections`).
    pub amplification: f64,
    /// Attempts in the ledger (joined to a request of this run).
    pub attempts: u64,
    /// Connections refused inside `refuse` windows (attempts no provider
    /// saw), over all providers; `null` when refused connections were not
    /// observable (then amplification leaves them out).
    #[serde(default)]
    pub refused_connections: Option<u64>,
    /// Attempts without a tag, or with a tag no request had (not joined).
    pub untagged_attempts: u64,
    pub unmatched_attempts: u64,
    /// Successful requests whose answer named a different provider than the
    /// ledger's serving attempt: a gateway that mislabels, or replays answers.
    pub served_by_disagreements: u64,
    /// The client's check of each answer against the serving attempt:
    /// `answers_checked`, `answer_mismatches`, `answer_mismatch_example`.
    #[serde(flatten, default)]
    pub answers: AnswerCheck,
    /// What failing over cost: latency of failed-over requests against the
    /// rest of the successful ones.
    pub failover_latency_ms: Percentiles,
    pub normal_latency_ms: Percentiles,
    pub providers: BTreeMap<String, ProviderStats>,
    pub windows: Vec<Window>,
    /// The gateway's own account (response headers) against the ledger;
    /// `null` when no answer carried one.
    pub gateway_account: Option<AccountReport>,
    #[serde(skip)]
    pub cost: Cost,
    /// Events in request order; summary.json lists the first
    /// `EVENTS_LISTED` (failovers.csv has them all).
    #[serde(serialize_with = "first_events")]
    pub event_list: Vec<Event>,
    /// Upstream flows per second since t=0.
    pub per_second: Vec<SecondFlow>,
    /// Set when the ledger could not be read to its end: the analysis
    /// covers the attempts before the damage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_error: Option<String>,
    /// Connection attempts watched on loopback, when the scenario has a
    /// refuse window (refused connections never reach the ledger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<ConnectionsOut>,
    /// The gateway's own time per request; summary.json carries it at the
    /// top level (`gateway_overhead_ms`), so it is not repeated here.
    #[serde(skip)]
    pub gateway_overhead: Option<Overhead>,
    /// Did the gateway obey? summary.json carries it at the top level
    /// (`obedience`), so it is not repeated here.
    #[serde(skip)]
    pub obedience: Option<crate::analysis::obedience::Obedience>,
}

/// How many events summary.json lists.
pub const EVENTS_LISTED: usize = 1000;

fn first_events<S: serde::Serializer>(events: &[Event], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(events.iter().take(EVENTS_LISTED))
}
