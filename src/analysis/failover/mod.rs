//! Failover analysis: join what the client saw with what every provider
//! received, by request tag.
//!
//! Per request: the first provider tried, the provider that served it, the
//! number of attempts, and whether it was retried, failed over or exhausted.
//! Per fault window: how long until the gateway stopped sending first
//! attempts to the failed provider, and how long until traffic came back.
//! Plus upstream amplification and reconciliation counts, so that every
//! request and every attempt is accounted for.
//!
//! Attempts that a provider never saw (refused connections) are not in the
//! ledger; for those the gateway's own account is the only witness.
//!
//! `analyze` is the pipeline; each stage has its own file:
//!
//! - `join`: ledger attempts × client records → one `Joined` per request;
//!   attempts are counted per provider and per second as they pass.
//! - `facts`: each sent request with what the ledger shows and what is
//!   attributed to it (a first attempt a provider refused).
//! - `events`: what became of each request; the failover events.
//! - `providers`, `flows`, `cost`: accumulators fed attempt by attempt and
//!   request by request.
//! - `windows`: time to failover and to recover per fault window.
//! - `overhead`: the gateway's own time per request (client's time minus
//!   the providers'), from the attempts' intervals and the client's timings.
//! - `report`: the `Report` the pipeline returns.

mod cost;
mod events;
mod facts;
mod flows;
mod join;
mod overhead;
mod providers;
mod report;
mod windows;

pub use cost::Cost;
pub use events::{Event, EventKind};
pub use flows::SecondFlow;
pub use overhead::{Overhead, OverheadSecond, Spread};
pub use providers::ProviderStats;
pub use report::{Report, EVENTS_LISTED};
pub use windows::{fault_label, Reach, Window, BACK_SHARE, GONE_SHARE};

use super::account::{refused_first_attempts, Tally};
use crate::metrics::recorder::{ClientRecord, ClientTiming};
use crate::providers::ledger::Attempt;
use crate::scenario::Fault;
use cost::CostTally;
use events::{classify, EventLog};
use facts::{facts, refusals};
use flows::Flows;
use join::join;
use overhead::OverheadTally;
use providers::ProviderTally;
use windows::windows;

/// What the analysis needs besides the ledger.
pub struct Input<'a> {
    pub providers: &'a [String],
    /// USD per million (input, output) tokens, per provider.
    pub prices: &'a [(f64, f64)],
    pub class_names: &'a [String],
    pub faults: &'a [Fault],
    /// Client records indexed by request number.
    pub requests: &'a [ClientRecord],
    /// Seconds the stages ran (timeline length).
    pub duration_s: u32,
    /// When the last send left (seconds since t=0): less than the planned
    /// duration when the run was interrupted or the generator gave up.
    /// Windows that start after it were not reached.
    pub sent_until_s: f64,
    /// Which gateways' accounts the client saw (`Recorder::account_dialects`).
    pub account_dialects: u8,
    /// TCP connection attempts (SYNs) each provider's port received, per
    /// second of the timeline and per provider (`[second][provider]`),
    /// when the run could watch loopback for them; otherwise why it could
    /// not (e.g. no CAP_NET_RAW). Refused connections never reach the
    /// ledger: in a `refuse` window these counts are the only witness.
    pub connections: Connections<'a>,
}

/// What the run saw of connection attempts to the providers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Connections<'a> {
    /// SYNs per second and provider (`[second][provider]`).
    Seen(&'a [Vec<u32>]),
    /// Not watched, and why, in words for the report.
    NotObservable(&'a str),
}

/// Joins the client's records with the ledger's attempts.
pub fn analyze(input: &Input, attempts: impl IntoIterator<Item = Attempt>) -> Report {
    analyze_timed(input, &[], attempts)
}

/// [`analyze`], and the gateway's overhead from the client's `timings` (by
/// request number, beside `input.requests`; none: no overhead).
pub fn analyze_timed(
    input: &Input,
    timings: &[ClientTiming],
    attempts: impl IntoIterator<Item = Attempt>,
) -> Report {
    let names = input.providers;
    let mut providers = ProviderTally::new(names.len());
    let mut flows = Flows::new(names.len(), input.duration_s);
    let mut overhead = OverheadTally::new(timings);
    let ledger = join(input, attempts, |a, cost| {
        providers.attempt(a, cost);
        flows.attempt(a);
        overhead.attempt(a.tag.unwrap_or(u64::MAX), a);
    });

    let refusals = refusals(input.faults, input.duration_s);
    let refused = refused_first_attempts(input.requests, ledger.views(), &refusals);
    let mut account = Tally::new(names, input.account_dialects, &refusals);
    let mut events = EventLog::new(names, input.class_names);
    let mut cost = CostTally::new(input.prices, input.class_names.len());
    let mut sent = 0u64;
    for fact in facts(input.requests, &ledger.requests, &refused) {
        sent += 1;
        let class = classify(&fact);
        account.add(fact.seq as u64, fact.rec, &fact.ledger);
        providers.request(&fact);
        flows.request(&fact);
        cost.request(&fact, class);
        events.add(&fact, class);
        overhead.request(&fact, class);
    }

    let windows = windows(input, flows.first_attempts());
    let cost = cost.finish(names, providers.stats(), input.class_names, sent);
    let (providers, served_by_disagreements) = providers.finish(names);
    let events = events.finish();
    Report {
        cost,
        events: events.list.len() as u64,
        failovers: events.count(EventKind::Failover),
        retries: events.count(EventKind::Retry),
        exhausted: events.count(EventKind::Exhausted),
        unreached: events.unreached,
        amplification: if sent > 0 {
            ledger.joined as f64 / sent as f64
        } else {
            0.0
        },
        attempts: ledger.joined,
        untagged_attempts: ledger.untagged,
        unmatched_attempts: ledger.unmatched,
        served_by_disagreements,
        failover_latency_ms: events.failover_latency_ms,
        normal_latency_ms: events.normal_latency_ms,
        providers,
        windows,
        gateway_account: account.finish(refused.len()),
        event_list: events.list,
        ledger_error: None,
        per_second: flows.finish(names),
        gateway_overhead: overhead.finish(),
    }
}

#[cfg(test)]
mod tests;
