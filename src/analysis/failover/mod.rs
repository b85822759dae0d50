//! Failover analysis: join what the client saw with what every provider
//! received, by request tag.
//!
//! Per request: the first provider tried, the provider that served it, the
//! number of attempts, and whether it was retried, failed over or exhausted.
//! Per fault window: when the gateway first met the fault, how long until it
//! stopped sending first attempts to the failed provider for good, and how
//! long until traffic came back; or why there was nothing to time.
//! Plus upstream amplification and reconciliation counts, so that every
//! request and every attempt is accounted for.
//!
//! Attempts that a provider never saw (refused connections) are not in the
//! ledger. Where the run watched connection attempts (`Input::connections`)
//! the ones refused inside `refuse` windows are counted per provider, added
//! to the attempts for amplification, and used in total to explain what the
//! gateway's own account claims; nothing is attributed to a request.
//!
//! `analyze` is the pipeline; each stage has its own file:
//!
//! - `join`: ledger attempts × client records. A first pass in ledger
//!   order counts attempts per provider and per second and hands the
//!   joined ones to an `AttemptSort`; the rows (`Records`) then meet their
//!   attempts in request order (`source`), one `Joined` at a time, so that
//!   nothing per request is held for the whole run when `run/` keeps both
//!   in files.
//! - `facts`: each sent request with what the ledger shows; the refused
//!   connections per provider.
//! - `events`: what became of each request; the failover events (a move
//!   inside a deployment group is a `group_move`); the errors the gateway
//!   made itself.
//! - `providers`, `flows`, `cost`: accumulators fed attempt by attempt and
//!   request by request.
//! - `reactions`: when the gateway met each fault, how many requests it sent
//!   into it, when it left the provider; failed requests per window, split.
//! - `windows`: each window's state, time to failover and to recover.
//! - `answers`: the client's check of each answer against the serving
//!   attempt (tokens, and whose sequence the content is).
//! - `overhead`: the gateway's own time per request (client's time minus
//!   the providers'), from the attempts' intervals and the client's timings.
//! - `obedience` (`analysis/obedience/`): fed every ledger attempt in
//!   ledger order, and each request's attempts with its client record in
//!   request order; whether the gateway waited out Retry-After, left
//!   non-retryable errors alone, kept providers' errors, probed a flapping
//!   provider sparingly.
//! - `report`: the `Report` the pipeline returns.

mod answers;
mod connections;
mod cost;
mod events;
mod facts;
mod flows;
mod join;
mod overhead;
mod providers;
mod reactions;
mod report;
mod source;
mod window_requests;
mod windows;

pub use answers::AnswerCheck;
pub use connections::{ConnectionsOut, ProviderSyns};
pub use cost::Cost;
pub use events::{Event, EventKind, GatewayErrorCount};
pub use flows::SecondFlow;
pub use overhead::{Overhead, OverheadSecond, Spread};
pub use providers::ProviderStats;
pub use reactions::{MIN_GONE_S, SUSTAIN_S};
pub use report::{Report, EVENTS_LISTED};
pub use source::{AttemptSort, InMemory, Records};
pub use windows::{fault_label, Reach, Window, WindowState, BACK_SHARE, GONE_SHARE};

use super::account::{Refusal, Tally};
use super::groups::Groups;
use super::obedience;
use super::refusals::RefusedSeen;
use crate::metrics::recorder::{AnswerRecord, ClientRecord, ClientTiming, RequestRow};
use crate::providers::ledger::Attempt;
use crate::scenario::Fault;
use answers::AnswerTally;
use cost::CostTally;
use events::{classify, EventLog};
pub(crate) use facts::refusals;
use facts::Fact;
use facts::{fact, refused_connections};
use flows::Flows;
use join::{fold, join_pass, Counts};
use overhead::OverheadTally;
use providers::ProviderTally;
use reactions::Reactions;
use source::{each_request, Present, Slices};
use window_requests::WindowRequests;
use windows::windows;

/// What the analysis needs besides the ledger.
pub struct Input<'a> {
    pub providers: &'a [String],
    /// The deployment group of each provider (`group = ...`), `None` for
    /// none; providers beyond the slice have none.
    pub groups: &'a [Option<String>],
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
    /// Each provider's error dialect (`dialect = ...`); providers beyond
    /// the slice: OpenAI.
    pub dialects: &'a [crate::scenario::Dialect],
    /// The client's interned error answers (`ClientRecord::message`
    /// indexes them); empty: not kept.
    pub messages: &'a [crate::metrics::messages::ErrorMessage],
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
    analyze_client(input, &[], &[], attempts)
}

/// [`analyze`], with what the client kept beside each request (both by
/// request number, beside `input.requests`; empty: not kept): the check of
/// each answer's content (`Recorder::answers`), compared with the ledger,
/// and the client's timings (`Recorder::timings`), for the gateway's
/// overhead.
pub fn analyze_client(
    input: &Input,
    answers: &[AnswerRecord],
    timings: &[ClientTiming],
    attempts: impl IntoIterator<Item = Attempt>,
) -> Report {
    let records = Slices {
        requests: input.requests,
        answers,
        timings,
    };
    analyze_records(input, &records, &mut InMemory::default(), attempts)
}

/// [`analyze_client`] with the client's rows read from `records` (not
/// `input.requests`) and the attempts sorted by request in `sort`: with
/// both kept off the heap, the analysis keeps no per-request state for the
/// whole run. The same rows and attempts give the same report.
pub fn analyze_records(
    input: &Input,
    records: &dyn Records,
    sort: &mut dyn AttemptSort,
    attempts: impl IntoIterator<Item = Attempt>,
) -> Report {
    let mut obedience = obedience::Tally::new(obedience_scope(input));
    let mut report = analyze_joined(input, records, sort, attempts, &mut obedience);
    report.obedience = Some(obedience.finish());
    report
}

/// The accumulators fed request by request, in request order.
struct PerRequest<'a> {
    account: Tally<'a>,
    events: EventLog<'a>,
    cost: CostTally<'a>,
    checks: AnswerTally<'a>,
    overhead: OverheadTally<'a>,
    seen: WindowRequests,
    sent: u64,
}

impl PerRequest<'_> {
    /// One request that was sent, with its class and the client's row.
    fn request(&mut self, fact: &Fact, class: events::Class, row: &RequestRow) {
        self.sent += 1;
        self.account.add(fact.seq as u64, fact.rec, &fact.ledger);
        self.cost.request(fact, class);
        self.events.add(fact, class);
        self.checks.request_answer(fact, Some(row.answer));
        self.overhead.request_timed(fact, class, row.timing);
    }
}

/// [`analyze_records`] but obedience's ledger-order part.
fn analyze_joined(
    input: &Input,
    records: &dyn Records,
    sort: &mut dyn AttemptSort,
    attempts: impl IntoIterator<Item = Attempt>,
    obedience: &mut obedience::Tally,
) -> Report {
    let names = input.providers;
    let mut providers = ProviderTally::new(names.len());
    let mut flows = Flows::new(names.len(), input.duration_s);
    let mut reactions = Reactions::new(input.faults, names.len(), input.duration_s);
    let present = Present::of(records);
    // Obedience sees every attempt, joined to a request or not.
    let attempts = attempts
        .into_iter()
        .inspect(|a| obedience.ledger_attempt(a));
    let ledger = join_pass(input, &present, attempts, sort, |a, cost| {
        providers.attempt(a, cost);
        flows.attempt(a);
        reactions.attempt(a);
    });

    let refusals = refusals(input.faults, input.duration_s);
    let (refused, seen) = refused_seen(input, &refusals);
    let groups = Groups::new(input.groups, names.len());
    let mut per = PerRequest {
        account: Tally::new(names, input.account_dialects, &refusals, &groups),
        events: EventLog::new(names, input.class_names),
        cost: CostTally::new(input.prices, input.class_names.len()),
        checks: AnswerTally::new(names, &[]),
        overhead: OverheadTally::streamed(records.timings_kept()),
        seen: WindowRequests::new(input.faults),
        sent: 0,
    };
    each_request(records.rows(), sort.sorted(), |seq, row, atts| {
        let joined = fold(input.prices, atts);
        for a in atts {
            obedience.joined_attempt(a, &row.rec);
            per.overhead.attempt(seq, a);
        }
        per.seen.add(&row.rec);
        let Some(fact) = fact(seq, &row.rec, joined) else {
            return;
        };
        let class = classify(&fact, &groups);
        providers.request(&fact);
        flows.request(&fact);
        reactions.request(&fact);
        per.request(&fact, class, row);
    });
    // Requests sent into each fault: known once the gateway left the provider.
    reactions.settle(input.sent_until_s, flows.first_attempts());
    each_request(records.rows(), sort.sorted(), |seq, row, atts| {
        if let Some(f) = fact(seq, &row.rec, fold(input.prices, atts)) {
            reactions.count(&f);
        }
    });

    let at = PerAttempt {
        providers,
        flows,
        reactions,
    };
    finish(input, at, per, ledger, refused, &seen)
}

/// The accumulators fed attempt by attempt, in ledger order.
struct PerAttempt {
    providers: ProviderTally,
    flows: Flows,
    reactions: Reactions,
}

/// The report from the accumulators.
fn finish(
    input: &Input,
    at: PerAttempt,
    per: PerRequest,
    ledger: Counts,
    refused: Option<Vec<u64>>,
    seen: &RefusedSeen,
) -> Report {
    let names = input.providers;
    let PerAttempt {
        mut providers,
        flows,
        reactions,
    } = at;
    let windows = windows(input, flows.first_attempts(), &reactions, &per.seen);
    let sent = per.sent;
    let cost = per
        .cost
        .finish(names, providers.stats(), input.class_names, sent);
    providers.refused(refused.as_deref());
    let (providers, served_by_disagreements) = providers.finish(names);
    let events = per.events.finish();
    let refused_connections = refused.map(|r| r.iter().sum::<u64>());
    // Refused connections are attempts too, when they were watched.
    let attempts = ledger.joined + refused_connections.unwrap_or(0);
    Report {
        cost,
        events: events.list.len() as u64,
        failovers: events.count(EventKind::Failover),
        group_moves: events.count(EventKind::GroupMove),
        retries: events.count(EventKind::Retry),
        exhausted: events.count(EventKind::Exhausted),
        unreached: events.unreached,
        provider_errors_passed_through: events.passed_through,
        gateway_errors: events.gateway_errors,
        amplification: per_request(attempts, sent),
        attempts: ledger.joined,
        refused_connections,
        untagged_attempts: ledger.untagged,
        unmatched_attempts: ledger.unmatched,
        served_by_disagreements,
        answers: per.checks.finish(),
        failover_latency_ms: events.failover_latency_ms,
        normal_latency_ms: events.normal_latency_ms,
        providers,
        windows,
        gateway_account: per.account.finish(seen),
        event_list: events.list,
        ledger_error: None,
        per_second: flows.finish(names),
        connections: connections::summarize(input),
        gateway_overhead: per.overhead.finish(),
        obedience: None,
    }
}

/// What the obedience accumulators read besides the ledger.
fn obedience_scope<'a>(input: &Input<'a>) -> obedience::Scope<'a> {
    obedience::Scope {
        providers: input.providers,
        dialects: input.dialects,
        faults: input.faults,
        requests: input.requests,
        messages: input.messages,
        duration_s: input.duration_s,
        sent_until_s: input.sent_until_s,
    }
}

/// Connections refused inside refuse windows, per provider, when they were
/// watched; and what the gateway-account comparison may make of them.
fn refused_seen(input: &Input, refusals: &[Refusal]) -> (Option<Vec<u64>>, RefusedSeen) {
    match input.connections {
        Connections::Seen(counts) => {
            let n = input.providers.len();
            let per = refused_connections(counts, refusals, n, input.duration_s);
            let total = per.iter().sum();
            (Some(per), RefusedSeen::Seen(total))
        }
        Connections::NotObservable(why) => (None, RefusedSeen::NotObservable(why.to_string())),
    }
}

/// `attempts / sent`, 0 when nothing was sent.
fn per_request(attempts: u64, sent: u64) -> f64 {
    if sent > 0 {
        attempts as f64 / sent as f64
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_reactions;
