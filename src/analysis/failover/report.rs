//! The failover section of summary.json: what `analyze` returns and the
//! reports draw.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Cost, Event, Overhead, ProviderStats, SecondFlow, Window};
use crate::analysis::account::AccountReport;
use crate::metrics::histogram::Percentiles;

/// The failover section of summary.json, and what the reports draw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Requests whose first attempt failed (failover + retry + exhausted).
    pub events: u64,
    pub failovers: u64,
    pub retries: u64,
    pub exhausted: u64,
    /// Failed requests that no provider ever received (gateway errors,
    /// refused connections, a gateway that was down).
    pub unreached: u64,
    /// Provider attempts ÷ client requests sent.
    pub amplification: f64,
    pub attempts: u64,
    /// Attempts without a tag, or with a tag no request had (not joined).
    pub untagged_attempts: u64,
    pub unmatched_attempts: u64,
    /// Successful requests whose answer named a different provider than the
    /// ledger's serving attempt: a gateway that mislabels, or replays answers.
    pub served_by_disagreements: u64,
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
    /// The gateway's own time per request; summary.json carries it at the
    /// top level (`gateway_overhead_ms`), so it is not repeated here.
    #[serde(skip)]
    pub gateway_overhead: Option<Overhead>,
}

/// How many events summary.json lists.
pub const EVENTS_LISTED: usize = 1000;

fn first_events<S: serde::Serializer>(events: &[Event], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(events.iter().take(EVENTS_LISTED))
}
