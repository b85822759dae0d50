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

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::account::{refused_first_attempts, AccountReport, LedgerView, Refusal, Tally};
use crate::metrics::histogram::{self, Percentiles};
use crate::metrics::recorder::ClientRecord;
use crate::metrics::Outcome;
use crate::providers::ledger::{Attempt, AttemptOutcome};
use crate::scenario::Fault;

/// A provider's share of first attempts counts as gone once it falls below
/// this fraction of its share before the fault.
pub const GONE_SHARE: f64 = 0.10;
/// ... and as back once it returns to this fraction of it.
pub const BACK_SHARE: f64 = 0.50;

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
}

/// The join of one request with its attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Joined {
    first_arrival_us: i64,
    first_provider: u16,
    first_ok: bool,
    attempts: u16,
    /// Providers that received an attempt, as `LedgerView` bits.
    providers: u64,
    /// The provider of the last successful attempt.
    served_by: u16,
    /// What all its attempts cost, and the tokens of the answer served.
    cost: f64,
    served_tokens: (u32, u32),
}

impl Joined {
    const EMPTY: Joined = Joined {
        first_arrival_us: i64::MAX,
        first_provider: u16::MAX,
        first_ok: false,
        attempts: 0,
        providers: 0,
        served_by: u16::MAX,
        cost: 0.0,
        served_tokens: (0, 0),
    };

    fn add(&mut self, a: &Attempt, cost: f64) {
        self.cost += cost;
        self.attempts = self.attempts.saturating_add(1);
        self.providers |= LedgerView::bit(a.provider);
        if a.arrived_us < self.first_arrival_us {
            self.first_arrival_us = a.arrived_us;
            self.first_provider = a.provider;
            self.first_ok = a.outcome == AttemptOutcome::Ok;
        }
        if a.outcome == AttemptOutcome::Ok {
            self.served_by = a.provider;
            self.served_tokens = (a.input_tokens, a.output_tokens);
        }
    }
}

/// How a request whose first attempt failed ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Answered by another provider.
    Failover,
    /// Answered by the same provider again.
    Retry,
    /// Every attempt failed.
    Exhausted,
}

/// One failover event (failovers.csv has one row per event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub class: String,
    pub at_s: f64,
    pub kind: EventKind,
    pub first_provider: String,
    pub served_by: Option<String>,
    pub attempts: u16,
    pub latency_ms: f64,
    pub outcome: Outcome,
}

/// Per fault window and affected provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub provider: String,
    pub fault: String,
    pub start_s: f64,
    pub end_s: Option<f64>,
    /// The provider's usual share of first attempts (before the window, or
    /// after it for a fault from t=0); `None`/0: it had no traffic to move.
    #[serde(default)]
    pub usual_first_share: Option<f64>,
    /// From the window's start until first attempts stopped going to the provider.
    pub time_to_failover_s: Option<f64>,
    /// From the window's end until the provider's share of first attempts
    /// came back; `None` when traffic never left or never came back.
    pub time_to_recover_s: Option<f64>,
    /// Requests meant to leave inside the window, and how many of them failed.
    pub requests: u64,
    pub errors: u64,
    pub p99_ms: f64,
    /// Whether the run's sends covered the window; absent in older files.
    #[serde(default)]
    pub reach: Reach,
}

/// How much of a fault window the run's sends covered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    /// The sends went on past the window's end (or the run's end, for a
    /// window without one).
    #[default]
    Complete,
    /// The run stopped inside the window.
    CutShort,
    /// The run stopped before the window began: nothing in it was measured.
    NotReached,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderStats {
    pub attempts: u64,
    pub first_attempts: u64,
    pub failed_attempts: u64,
    pub served: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
}

/// cost_usd in summary.json: provider prices × the tokens in the ledger.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    pub total: f64,
    pub per_1k_requests: f64,
    pub by_provider: BTreeMap<String, f64>,
    pub by_class: BTreeMap<String, f64>,
    /// What the failover events cost beyond serving the same answers at
    /// each request's first provider.
    pub failover_added: f64,
}

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
}

/// How many events summary.json lists.
pub const EVENTS_LISTED: usize = 1000;

fn first_events<S: serde::Serializer>(events: &[Event], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(events.iter().take(EVENTS_LISTED))
}

/// One second of upstream traffic. Per provider: attempts received and first
/// attempts (by arrival), answers served (by completion).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecondFlow {
    pub t: u32,
    /// Client requests meant to leave in this second.
    pub sent: u32,
    /// Attempts ÷ requests sent in this second.
    pub amplification: f64,
    pub attempts: BTreeMap<String, u32>,
    pub first_attempts: BTreeMap<String, u32>,
    pub served: BTreeMap<String, u32>,
}

fn per_second(
    names: &[String],
    sent: &[u32],
    attempts: &[Vec<u32>],
    first: &[Vec<u32>],
    served: &[Vec<u32>],
) -> Vec<SecondFlow> {
    let named = |row: &[u32]| names.iter().cloned().zip(row.iter().copied()).collect();
    (0..sent.len())
        .map(|t| {
            let total: u32 = attempts[t].iter().sum();
            SecondFlow {
                t: t as u32,
                sent: sent[t],
                amplification: if sent[t] > 0 {
                    f64::from(total) / f64::from(sent[t])
                } else {
                    0.0
                },
                attempts: named(&attempts[t]),
                first_attempts: named(&first[t]),
                served: named(&served[t]),
            }
        })
        .collect()
}

/// Joins the client's records with the ledger's attempts.
pub fn analyze(input: &Input, attempts: impl IntoIterator<Item = Attempt>) -> Report {
    let n = input.requests.len();
    let np = input.providers.len();
    let secs = input.duration_s as usize + 1;
    let mut joined = vec![Joined::EMPTY; n];
    let mut providers = vec![ProviderStats::default(); np];
    let mut attempts_per_second = vec![vec![0u32; np]; secs];
    let mut served_per_second = vec![vec![0u32; np]; secs];
    let (mut total, mut untagged, mut unmatched) = (0u64, 0u64, 0u64);

    for a in attempts {
        let Some(seq) = a.tag else {
            untagged += 1;
            continue;
        };
        let Some(j) = joined
            .get_mut(seq as usize)
            .filter(|_| !input.requests[seq as usize].is_missing())
        else {
            // The preflight request and anything not from this run.
            unmatched += 1;
            continue;
        };
        let cost = price(input.prices, a.provider, a.input_tokens, a.output_tokens);
        j.add(&a, cost);
        total += 1;
        if let Some(p) = providers.get_mut(a.provider as usize) {
            p.cost_usd += cost;
            p.attempts += 1;
            p.failed_attempts += u64::from(a.outcome != AttemptOutcome::Ok);
            p.input_tokens += u64::from(a.input_tokens);
            p.output_tokens += u64::from(a.output_tokens);
        }
        bump(&mut attempts_per_second, a.arrived_us, a.provider);
        if a.outcome == AttemptOutcome::Ok {
            bump(&mut served_per_second, a.answered_us, a.provider);
        }
    }

    let mut first_per_second = vec![vec![0u32; np]; secs];
    let mut sent_per_second = vec![0u32; secs];
    let mut events = Vec::new();
    let (mut failover_h, mut normal_h) = (histogram::new(), histogram::new());
    let mut unreached = 0;
    let mut disagreements = 0;
    let mut sent = 0u64;
    let mut by_class = vec![0.0; input.class_names.len()];
    let mut failover_added = 0.0;
    let refusals = refusals(input.faults, input.duration_s);
    let mut account = Tally::new(input.providers, input.account_dialects, &refusals);
    let refused = refused_first_attempts(input.requests, joined.iter().map(view), &refusals);
    let mut refused_iter = refused.iter().peekable();
    for (seq, (rec, j)) in input.requests.iter().zip(&joined).enumerate() {
        if rec.is_missing() || rec.outcome == Outcome::Dropped {
            continue;
        }
        sent += 1;
        account.add(seq as u64, rec, &view(j));
        let mut j = *j;
        if let Some(&(_, p)) = refused_iter.next_if(|(s, _)| *s == seq) {
            // The first attempt went to `p`, which refused it: the ledger
            // cannot show it, the gateway's account does.
            j.first_provider = p;
            j.first_arrival_us = i64::from(rec.intended_ms) * 1000;
            j.first_ok = false;
        }
        let sec = (rec.intended_ms / 1000) as usize;
        if let Some(s) = sent_per_second.get_mut(sec) {
            *s += 1;
        }
        if let Some(c) = by_class.get_mut(rec.class as usize) {
            *c += j.cost;
        }
        if j.attempts == 0 {
            unreached += u64::from(rec.outcome.counted() && !rec.outcome.is_ok());
            continue;
        }
        let fp = j.first_provider as usize;
        if let Some(p) = providers.get_mut(fp) {
            p.first_attempts += 1;
        }
        bump(&mut first_per_second, j.first_arrival_us, j.first_provider);
        let served = if j.served_by != u16::MAX {
            j.served_by
        } else {
            rec.served_by
        };
        if rec.outcome.is_ok() {
            disagreements +=
                u64::from(rec.served_by != ClientRecord::NONE && rec.served_by != served);
            if let Some(p) = providers.get_mut(served as usize) {
                p.served += 1;
            }
        }
        if !rec.outcome.counted() {
            // Cut off by the end of the run: reported, not counted, and not
            // an event (its last attempt may still have been under way).
            continue;
        }
        let latency = std::time::Duration::from_micros(u64::from(rec.latency_us));
        if j.first_ok && j.attempts == 1 {
            if rec.outcome.is_ok() {
                histogram::record(&mut normal_h, latency);
            }
            continue;
        }
        if j.first_ok && rec.outcome.is_ok() {
            // A duplicate attempt after a success (e.g. a hedged request): not an event.
            histogram::record(&mut normal_h, latency);
            continue;
        }
        let kind = if !rec.outcome.is_ok() {
            EventKind::Exhausted
        } else if served == j.first_provider {
            EventKind::Retry
        } else {
            EventKind::Failover
        };
        if rec.outcome.is_ok() {
            histogram::record(&mut failover_h, latency);
        }
        let (tin, tout) = j.served_tokens;
        failover_added += j.cost - price(input.prices, j.first_provider, tin, tout);
        let name = |i: u16| input.providers.get(i as usize).cloned();
        events.push(Event {
            seq: seq as u64,
            class: input
                .class_names
                .get(rec.class as usize)
                .cloned()
                .unwrap_or_default(),
            at_s: f64::from(rec.intended_ms) / 1000.0,
            kind,
            first_provider: name(j.first_provider).unwrap_or_default(),
            served_by: if rec.outcome.is_ok() {
                name(served)
            } else {
                None
            },
            attempts: j.attempts,
            latency_ms: f64::from(rec.latency_us) / 1000.0,
            outcome: rec.outcome,
        });
    }
    let count = |k: EventKind| events.iter().filter(|e| e.kind == k).count() as u64;
    let windows = windows(input, &first_per_second);
    let total_cost: f64 = providers.iter().map(|p| p.cost_usd).sum();
    let cost = Cost {
        total: total_cost,
        per_1k_requests: if sent > 0 {
            total_cost / sent as f64 * 1000.0
        } else {
            0.0
        },
        by_provider: input
            .providers
            .iter()
            .cloned()
            .zip(providers.iter().map(|p| p.cost_usd))
            .collect(),
        by_class: input.class_names.iter().cloned().zip(by_class).collect(),
        failover_added,
    };
    Report {
        cost,
        events: events.len() as u64,
        failovers: count(EventKind::Failover),
        retries: count(EventKind::Retry),
        exhausted: count(EventKind::Exhausted),
        unreached,
        amplification: if sent > 0 {
            total as f64 / sent as f64
        } else {
            0.0
        },
        attempts: total,
        untagged_attempts: untagged,
        unmatched_attempts: unmatched,
        served_by_disagreements: disagreements,
        failover_latency_ms: Percentiles::of(&failover_h),
        normal_latency_ms: Percentiles::of(&normal_h),
        providers: input.providers.iter().cloned().zip(providers).collect(),
        windows,
        gateway_account: account.finish(refused.len()),
        event_list: events,
        ledger_error: None,
        per_second: per_second(
            input.providers,
            &sent_per_second,
            &attempts_per_second,
            &first_per_second,
            &served_per_second,
        ),
    }
}

/// What the ledger holds for one request, for the account comparison.
fn view(j: &Joined) -> LedgerView {
    LedgerView {
        attempts: j.attempts,
        providers: j.providers,
        served_by: j.served_by,
    }
}

/// Every provider refusing connections, and when.
fn refusals(faults: &[Fault], duration_s: u32) -> Vec<Refusal> {
    faults
        .iter()
        .filter(|f| matches!(f.kind, crate::scenario::FaultKind::OutageRefuse))
        .flat_map(|f| {
            let end_s = f.end().map_or(f64::from(duration_s), |e| e.as_secs_f64());
            f.providers.iter().map(move |&p| Refusal {
                provider: p as u16,
                start_s: f.start.as_secs_f64(),
                end_s,
            })
        })
        .collect()
}

/// Counts one for `provider` in the second of `us` (ignored outside the timeline).
fn bump(per_second: &mut [Vec<u32>], us: i64, provider: u16) {
    if let Some(c) = second_of(us)
        .and_then(|s| per_second.get_mut(s))
        .and_then(|row| row.get_mut(provider as usize))
    {
        *c += 1;
    }
}

fn price(prices: &[(f64, f64)], provider: u16, input: u32, output: u32) -> f64 {
    prices.get(provider as usize).map_or(0.0, |(pi, po)| {
        (f64::from(input) * pi + f64::from(output) * po) / 1e6
    })
}

fn second_of(us: i64) -> Option<usize> {
    (us >= 0).then_some((us / 1_000_000) as usize)
}

/// Share of first attempts that went to provider `p` in second `s`.
fn share(first: &[Vec<u32>], s: usize, p: usize) -> Option<f64> {
    let row = first.get(s)?;
    let total: u32 = row.iter().sum();
    (total > 0).then(|| f64::from(row[p]) / f64::from(total))
}

/// Mean share of first attempts for `p` over seconds [a, b).
fn mean_share(first: &[Vec<u32>], a: usize, b: usize, p: usize) -> Option<f64> {
    let (mut to_p, mut total) = (0u64, 0u64);
    for row in first.get(a..b.min(first.len()))? {
        to_p += u64::from(row[p]);
        total += row.iter().map(|&c| u64::from(c)).sum::<u64>();
    }
    (total > 0).then(|| to_p as f64 / total as f64)
}

fn windows(input: &Input, first: &[Vec<u32>]) -> Vec<Window> {
    let mut out = Vec::new();
    // Every loop below is bounded by the timeline, whatever the scenario's
    // fault windows say.
    let seconds = first.len();
    for fault in input.faults {
        let start = fault.start.as_secs_f64();
        let end = fault.end().map(|e| e.as_secs_f64());
        let reach = if start >= input.sent_until_s {
            Reach::NotReached
        } else if end.map_or(input.sent_until_s < f64::from(input.duration_s), |e| {
            e > input.sent_until_s
        }) {
            Reach::CutShort
        } else {
            Reach::Complete
        };
        let (s0, s1) = (
            (start.floor() as usize).min(seconds),
            end.map_or(seconds, |e| (e.ceil() as usize).min(seconds)),
        );
        let (requests, errors, p99_ms) = window_requests(input.requests, start, end);
        for &p in &fault.providers {
            // The provider's usual share: before the fault, or, for a fault
            // from t=0, after it.
            let usual = mean_share(first, s0.saturating_sub(30), s0, p)
                .or_else(|| mean_share(first, s1, s1.saturating_add(30), p));
            let ttf = usual.filter(|u| *u > 0.0).and_then(|u| {
                (s0..s1)
                    .find(|&s| share(first, s, p).is_some_and(|x| x < u * GONE_SHARE))
                    .map(|s| (s as f64 - start).max(0.0))
            });
            // Recovery is only meaningful after traffic left.
            let ttr = match (usual, end, ttf) {
                (Some(u), Some(e), Some(_)) if u > 0.0 => (s1..seconds)
                    .find(|&s| share(first, s, p).is_some_and(|x| x >= u * BACK_SHARE))
                    .map(|s| (s as f64 - e).max(0.0)),
                _ => None,
            };
            out.push(Window {
                provider: input.providers.get(p).cloned().unwrap_or_default(),
                fault: fault_label(fault),
                start_s: start,
                end_s: end,
                usual_first_share: usual,
                time_to_failover_s: ttf,
                time_to_recover_s: ttr,
                requests,
                errors,
                p99_ms,
                reach,
            });
        }
    }
    out
}

fn window_requests(requests: &[ClientRecord], start: f64, end: Option<f64>) -> (u64, u64, f64) {
    let mut h = histogram::new();
    let (mut n, mut errors) = (0, 0);
    for r in requests
        .iter()
        .filter(|r| !r.is_missing() && r.outcome.counted())
    {
        let t = f64::from(r.intended_ms) / 1000.0;
        if t >= start && end.map_or(true, |e| t < e) {
            n += 1;
            if r.outcome.is_ok() {
                histogram::record_us(&mut h, u64::from(r.latency_us));
            } else {
                errors += 1;
            }
        }
    }
    (n, errors, histogram::quantile_ms(&h, 0.99))
}

/// `outage (5xx 503) on flash`.
pub fn fault_label(f: &Fault) -> String {
    use crate::scenario::FaultKind::*;
    let kind = match &f.kind {
        OutageHttp { status } => format!("outage ({status})"),
        OutageRefuse => "outage (refused connections)".into(),
        OutageReset => "outage (connection resets)".into(),
        OutageHang => "outage (hangs)".into(),
        ErrorBurst { status } => format!("error burst ({status})"),
        LatencySpike { multiplier, add } => format!(
            "latency spike (×{multiplier}, +{})",
            humantime::format_duration(*add)
        ),
        RateLimitSqueeze { rpm } => format!("rate-limit squeeze ({rpm} rpm)"),
        Malformed(m) => format!("malformed answers ({m:?})"),
        StreamStall { .. } => "stream stall".into(),
        StreamCut => "stream cut".into(),
        StreamErrorEvent => "stream error event".into(),
        SlowFirstToken { delay } => {
            format!("slow first token ({})", humantime::format_duration(*delay))
        }
    };
    format!("{kind} on {}", f.target_label)
}

#[cfg(test)]
mod tests;
