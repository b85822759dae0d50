//! The gateway's own account held against the providers' ledger.
//!
//! A gateway reports what it did in its response headers (`load::gateway_headers`):
//! LiteLLM and Portkey say how many fallbacks and retries they made, the
//! built-in gateway lists every attempt. The ledger records what each
//! provider actually received. Where the two disagree, the gateway's
//! telemetry is wrong, or it does things it does not report (hidden retries
//! inside an SDK, a fallback its headers do not count), and dashboards built
//! on those headers mislead. Each kind of disagreement is counted, with a
//! few examples to look up in failovers.csv and the gateway's log.
//!
//! Fallbacks on the ledger's side are the providers a request reached beyond
//! the first; when the scenario declares deployment groups and the gateway
//! reports moves inside a group as retries (LiteLLM), the groups it reached
//! beyond the first (`fallbacks_between`). An attempt that no provider
//! received (a refused connection) is not in the ledger, so a gateway can
//! rightly report *more* than the ledger shows while a provider refuses
//! connections: such requests are judged together against the refused
//! connections the run saw (`refusals`), never one by one. A gateway can
//! never rightly report less than the ledger shows.

use serde::{Deserialize, Serialize};

use super::groups::Groups;
use super::refusals::{RefusalAccount, RefusedSeen};
use crate::metrics::recorder::{AccountRecord, ClientRecord};
use crate::metrics::request::Dialect;

/// Examples kept per kind of disagreement.
pub const EXAMPLES_PER_KIND: usize = 3;

/// How one request's account disagrees with the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disagreement {
    /// The ledger shows more providers than the gateway's fallbacks account for.
    FallbacksUnreported,
    /// The gateway reports fallbacks to providers that received nothing.
    FallbacksUnseen,
    /// Providers received more attempts than the gateway's account implies.
    AttemptsUnreported,
    /// The gateway's account implies attempts that no provider received.
    AttemptsUnseen,
    /// The gateway names another provider than the one the ledger says answered.
    ServedBy,
}

impl Disagreement {
    /// For people: `fallbacks no provider saw`.
    pub fn label(self) -> &'static str {
        match self {
            Disagreement::FallbacksUnreported => "fallbacks not in the gateway's account",
            Disagreement::FallbacksUnseen => "fallbacks no provider saw",
            Disagreement::AttemptsUnreported => "attempts not in the gateway's account",
            Disagreement::AttemptsUnseen => "attempts no provider saw",
            Disagreement::ServedBy => "another provider named as the server",
        }
    }

    const ALL: [Disagreement; 5] = [
        Disagreement::FallbacksUnreported,
        Disagreement::FallbacksUnseen,
        Disagreement::AttemptsUnreported,
        Disagreement::AttemptsUnseen,
        Disagreement::ServedBy,
    ];
}

/// What the ledger holds for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerView {
    pub attempts: u16,
    /// Providers that received an attempt, as bits (providers beyond 64 are
    /// folded onto bit 63; scenarios have a handful).
    pub providers: u64,
    /// The provider of the last successful attempt, `u16::MAX` if none.
    pub served_by: u16,
}

impl LedgerView {
    pub fn bit(provider: u16) -> u64 {
        1 << provider.min(63)
    }
}

/// What the ledger's fallbacks are counted between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbacksBetween {
    /// Each provider beyond the first is a fallback.
    Providers,
    /// Each deployment group beyond the first is a fallback; a move between
    /// two deployments of one group is a retry, as LiteLLM counts it.
    Groups,
}

/// Counts of each disagreement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Disagreements {
    pub fallbacks_unreported: u64,
    pub fallbacks_unseen: u64,
    pub attempts_unreported: u64,
    pub attempts_unseen: u64,
    pub served_by: u64,
}

impl Disagreements {
    fn bump(&mut self, d: Disagreement) {
        *match d {
            Disagreement::FallbacksUnreported => &mut self.fallbacks_unreported,
            Disagreement::FallbacksUnseen => &mut self.fallbacks_unseen,
            Disagreement::AttemptsUnreported => &mut self.attempts_unreported,
            Disagreement::AttemptsUnseen => &mut self.attempts_unseen,
            Disagreement::ServedBy => &mut self.served_by,
        } += 1;
    }
}

/// One request where the gateway's account and the ledger disagree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    pub seq: u64,
    pub at_s: f64,
    pub kind: Disagreement,
    /// `0 fallbacks, 1 retry` / `3 attempts (1 fallback, 1 retry), served by r1`.
    pub gateway: String,
    /// `3 attempts at flash, qwen; served by qwen`.
    pub ledger: String,
}

/// `failover.gateway_account` in summary.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountReport {
    /// Whose headers were read: `litellm`, `portkey`, `builtin`.
    pub dialects: Vec<String>,
    /// Whether the gateway lists every attempt (else its figures are a lower
    /// bound: LiteLLM and Portkey report retries of the last hop only).
    pub attempts_exact: bool,
    /// Requests whose answer carried the gateway's account.
    pub requests: u64,
    /// Requests that reached a provider but whose answer had no account.
    pub requests_without_account: u64,
    /// Requests (with an account) where it agrees with the ledger.
    pub agreeing: u64,
    /// How the ledger's fallbacks were counted: between providers, or
    /// between deployment groups (declared groups, and a gateway that counts
    /// moves inside a group as retries).
    #[serde(default = "providers")]
    pub fallbacks_between: FallbacksBetween,
    /// Requests whose account claims attempts that no provider received,
    /// while a provider refused connections, when the refused connections
    /// the run saw cover them in total (`refusals`): not disagreements.
    pub explained_by_refused_connections: u64,
    /// Always 0: refused attempts are no longer attributed to requests (see
    /// `refusals`). Kept because schema version 2 requires the key.
    #[serde(default)]
    pub refused_first_attempts: u64,
    /// The requests claiming attempts no provider received during `refuse`
    /// windows, judged against the refused connections; `null` without a
    /// `refuse` window.
    #[serde(default)]
    pub refusals: Option<RefusalAccount>,
    /// Totals over the requests with an account.
    pub gateway_fallbacks: u64,
    pub ledger_fallbacks: u64,
    pub gateway_retries: u64,
    /// Exact, or the fewest the account implies (see `attempts_exact`).
    pub gateway_attempts: u64,
    pub ledger_attempts: u64,
    /// Requests per kind of disagreement (a request can have several).
    pub disagreements: Disagreements,
    /// Up to `EXAMPLES_PER_KIND` per kind, in request order.
    pub examples: Vec<Example>,
}

fn providers() -> FallbacksBetween {
    FallbacksBetween::Providers
}

/// Accumulates the comparison request by request.
pub struct Tally<'a> {
    providers: &'a [String],
    refusals: &'a [Refusal],
    /// `refusals` sorted by start (their indices), and the latest end among
    /// the first k of that order: whether a request's life meets a refusal
    /// is two binary-search steps, however many spans a flapping provider
    /// made.
    by_start: Vec<(f64, f64)>,
    /// Set when fallbacks are counted between groups.
    groups: Option<&'a Groups>,
    report: AccountReport,
    /// Requests set aside while a provider refused connections (`refusals.rs`).
    held: Held,
}

/// The requests whose only disagreement is attempts no provider received,
/// in flight during a `refuse` window: judged at the end, in total.
#[derive(Default)]
struct Held {
    requests: u64,
    attempts_claimed: u64,
    disagreements: Disagreements,
    examples: Vec<Example>,
}

/// A provider refusing connections (an outage `as = "refuse"`), from
/// `start_s` to `end_s` on the run's clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Refusal {
    pub provider: u16,
    pub start_s: f64,
    pub end_s: f64,
}

/// `[start, end]` of a request's life in seconds since t=0.
fn life(rec: &ClientRecord) -> (f64, f64) {
    let start = f64::from(rec.intended_ms) / 1000.0;
    (start, start + f64::from(rec.latency_us) / 1e6)
}

impl<'a> Tally<'a> {
    /// `groups`: the scenario's deployment groups; fallbacks are counted
    /// between them when any is declared and the gateway counts moves inside
    /// a group as retries: LiteLLM (its fallbacks are moves between model
    /// groups). Portkey counts every target passed over, and the built-in
    /// gateway routes between providers: both are compared per provider.
    pub fn new(
        providers: &'a [String],
        dialects: u8,
        refusals: &'a [Refusal],
        groups: &'a Groups,
    ) -> Self {
        let dialects: Vec<Dialect> = Dialect::ALL
            .into_iter()
            .filter(|d| dialects & d.bit() != 0)
            .collect();
        let by_group = groups.declared() && dialects.contains(&Dialect::LiteLlm);
        let mut by_start: Vec<(f64, f64)> = refusals.iter().map(|r| (r.start_s, r.end_s)).collect();
        by_start.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut latest = f64::NEG_INFINITY;
        for span in &mut by_start {
            latest = latest.max(span.1);
            span.1 = latest;
        }
        Tally {
            providers,
            refusals,
            by_start,
            groups: by_group.then_some(groups),
            held: Held::default(),
            report: AccountReport {
                fallbacks_between: if by_group {
                    FallbacksBetween::Groups
                } else {
                    FallbacksBetween::Providers
                },
                refusals: None,
                attempts_exact: !dialects.is_empty() && dialects == [Dialect::Builtin],
                dialects: dialects.iter().map(|d| d.name().to_string()).collect(),
                requests: 0,
                requests_without_account: 0,
                agreeing: 0,
                explained_by_refused_connections: 0,
                refused_first_attempts: 0,
                gateway_fallbacks: 0,
                ledger_fallbacks: 0,
                gateway_retries: 0,
                gateway_attempts: 0,
                ledger_attempts: 0,
                disagreements: Disagreements::default(),
                examples: Vec::new(),
            },
        }
    }

    /// Adds request `seq` (sent, not dropped) with what the ledger holds for it.
    pub fn add(&mut self, seq: u64, rec: &ClientRecord, ledger: &LedgerView) {
        let a = &rec.account;
        if !a.is_reported() {
            self.report.requests_without_account += u64::from(ledger.attempts > 0);
            return;
        }
        let ledger_fallbacks = self.fallbacks(ledger);
        let r = &mut self.report;
        r.requests += 1;
        let fallbacks = AccountRecord::get(a.fallbacks);
        let retries = AccountRecord::get(a.retries);
        let attempts = AccountRecord::get(a.attempts).or_else(|| {
            (fallbacks.is_some() || retries.is_some())
                .then(|| 1 + fallbacks.unwrap_or(0) + retries.unwrap_or(0))
        });
        r.gateway_fallbacks += u64::from(fallbacks.unwrap_or(0));
        r.gateway_retries += u64::from(retries.unwrap_or(0));
        r.gateway_attempts += u64::from(attempts.unwrap_or(0));
        r.ledger_fallbacks += u64::from(ledger_fallbacks);
        r.ledger_attempts += u64::from(ledger.attempts);

        let mut found = Vec::new();
        if let Some(f) = fallbacks {
            match f.cmp(&ledger_fallbacks) {
                std::cmp::Ordering::Less => found.push(Disagreement::FallbacksUnreported),
                std::cmp::Ordering::Greater => found.push(Disagreement::FallbacksUnseen),
                std::cmp::Ordering::Equal => {}
            }
        }
        // With the fallbacks in disagreement, the attempts are too; only
        // when they agree does a difference in attempts say something new
        // (retries hidden, or claimed and never made).
        if let Some(n) = attempts.filter(|_| found.is_empty()) {
            let seen = u32::from(ledger.attempts);
            // A lower bound (retries of earlier hops are not in LiteLLM's or
            // Portkey's headers) is only contradicted by fewer attempts; but
            // without a fallback there are no earlier hops, so 1 + retries is
            // exact.
            let exact = a.attempts != AccountRecord::NONE || fallbacks == Some(0);
            if seen > n && exact {
                found.push(Disagreement::AttemptsUnreported);
            } else if seen < n {
                found.push(Disagreement::AttemptsUnseen);
            }
        }
        if a.served_by < AccountRecord::UNKNOWN
            && ledger.served_by != u16::MAX
            && u16::from(a.served_by) != ledger.served_by
        {
            found.push(Disagreement::ServedBy);
        }
        let unseen_only = found.iter().all(|k| {
            matches!(
                k,
                Disagreement::FallbacksUnseen | Disagreement::AttemptsUnseen
            )
        });
        if found.is_empty() {
            r.agreeing += 1;
            return;
        }
        let held = unseen_only && self.during_refusals(rec);
        if held {
            let claimed = attempts
                .unwrap_or(0)
                .saturating_sub(u32::from(ledger.attempts));
            let hops = fallbacks.unwrap_or(0).saturating_sub(ledger_fallbacks);
            self.held.requests += 1;
            self.held.attempts_claimed += u64::from(claimed.max(hops));
        }
        for kind in found {
            self.disagree(seq, rec, ledger, kind, held);
        }
    }

    /// Counts a disagreement (set aside when `held`) and keeps an example.
    fn disagree(
        &mut self,
        seq: u64,
        rec: &ClientRecord,
        ledger: &LedgerView,
        kind: Disagreement,
        held: bool,
    ) {
        let kept = if held {
            &self.held.examples
        } else {
            &self.report.examples
        };
        let example = wants(kept, kind).then(|| self.example(seq, rec, ledger, kind));
        let (counts, examples) = if held {
            (&mut self.held.disagreements, &mut self.held.examples)
        } else {
            (&mut self.report.disagreements, &mut self.report.examples)
        };
        counts.bump(kind);
        examples.extend(example);
    }

    /// The ledger's fallbacks: providers, or groups, beyond the first.
    fn fallbacks(&self, ledger: &LedgerView) -> u32 {
        let reached = match self.groups {
            Some(g) => g.count(ledger.providers),
            None => ledger.providers.count_ones(),
        };
        reached.saturating_sub(1)
    }

    /// Whether the request was in flight while a provider refused connections.
    fn during_refusals(&self, rec: &ClientRecord) -> bool {
        let (start, end) = life(rec);
        // Spans that began by the request's end; did any end after its start?
        let began = self.by_start.partition_point(|&(s, _)| s <= end);
        began > 0 && self.by_start[began - 1].1 > start
    }

    fn example(
        &self,
        seq: u64,
        rec: &ClientRecord,
        ledger: &LedgerView,
        kind: Disagreement,
    ) -> Example {
        Example {
            seq,
            at_s: f64::from(rec.intended_ms) / 1000.0,
            kind,
            gateway: self.describe_account(&rec.account),
            ledger: self.describe_ledger(ledger),
        }
    }

    /// The report, or `None` when no answer carried an account. `refused`
    /// is what the run saw of refused connections inside `refuse` windows:
    /// the requests set aside are explained by them in total, or counted as
    /// disagreements.
    pub fn finish(mut self, refused: &RefusedSeen) -> Option<AccountReport> {
        if !self.refusals.is_empty() {
            let held = std::mem::take(&mut self.held);
            let judged = RefusalAccount::judge(held.requests, held.attempts_claimed, refused);
            if judged.explained {
                self.report.explained_by_refused_connections = held.requests;
            } else {
                let d = &mut self.report.disagreements;
                d.fallbacks_unseen += held.disagreements.fallbacks_unseen;
                d.attempts_unseen += held.disagreements.attempts_unseen;
                for e in held.examples {
                    keep(&mut self.report.examples, e);
                }
            }
            self.report.refusals = Some(judged);
        }
        let order = |e: &Example| Disagreement::ALL.iter().position(|k| *k == e.kind);
        self.report.examples.sort_by_key(|e| (order(e), e.seq));
        (self.report.requests > 0).then_some(self.report)
    }

    fn name(&self, i: usize) -> &str {
        self.providers.get(i).map_or("?", String::as_str)
    }

    fn describe_account(&self, a: &AccountRecord) -> String {
        let mut parts = Vec::new();
        if let Some(n) = AccountRecord::get(a.attempts) {
            parts.push(plural(n, "attempt"));
        }
        if let Some(n) = AccountRecord::get(a.fallbacks) {
            parts.push(plural(n, "fallback"));
        }
        if let Some(n) = AccountRecord::get(a.retries) {
            parts.push(plural(n, "retry"));
        }
        let mut s = parts.join(", ");
        match a.served_by {
            AccountRecord::NONE => {}
            AccountRecord::UNKNOWN => s.push_str("; served by a deployment that is not a provider"),
            i => s.push_str(&format!("; served by {}", self.name(usize::from(i)))),
        }
        s
    }

    fn describe_ledger(&self, l: &LedgerView) -> String {
        if l.attempts == 0 {
            return "no attempt reached a provider".into();
        }
        let at: Vec<&str> = (0..64)
            .filter(|b| l.providers & (1 << b) != 0)
            .map(|b| self.name(b))
            .collect();
        let mut s = format!(
            "{} at {}",
            plural(u32::from(l.attempts), "attempt"),
            at.join(", ")
        );
        if l.served_by != u16::MAX {
            s.push_str(&format!(
                "; served by {}",
                self.name(usize::from(l.served_by))
            ));
        }
        s
    }
}

/// Whether fewer than `EXAMPLES_PER_KIND` of `kind` are kept.
fn wants(examples: &[Example], kind: Disagreement) -> bool {
    examples.iter().filter(|k| k.kind == kind).count() < EXAMPLES_PER_KIND
}

/// Keeps `e` unless `EXAMPLES_PER_KIND` of its kind are kept already.
fn keep(examples: &mut Vec<Example>, e: Example) {
    if wants(examples, e.kind) {
        examples.push(e);
    }
}

fn plural(n: u32, word: &str) -> String {
    match (n, word) {
        (1, _) => format!("1 {word}"),
        (_, "retry") => format!("{n} retries"),
        _ => format!("{n} {word}s"),
    }
}

#[cfg(test)]
#[path = "account_tests.rs"]
mod tests;
