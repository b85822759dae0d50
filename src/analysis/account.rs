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
//! the first. An attempt that no provider received (a refused connection)
//! is not in the ledger, so a gateway can rightly report *more* than the
//! ledger shows while a provider refuses connections: such requests are
//! counted as `explained`, not as disagreements. A gateway can never rightly
//! report less than the ledger shows.

use serde::{Deserialize, Serialize};

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

    fn fallbacks(&self) -> u32 {
        self.providers.count_ones().saturating_sub(1)
    }
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
    /// Requests whose account claims attempts that no provider received,
    /// while a provider refused connections: expected, so not disagreements.
    pub explained_by_refused_connections: u64,
    /// Of those, the requests whose first attempt the failover analysis
    /// attributes to the refusing provider (0 when the gateway's fallbacks
    /// are not attempts; see `refused_first_attempts`).
    pub refused_first_attempts: u64,
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

/// Accumulates the comparison request by request.
pub struct Tally<'a> {
    providers: &'a [String],
    refusals: &'a [Refusal],
    report: AccountReport,
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

/// The provider a request's first attempt went to when the ledger cannot
/// show it: the gateway counts more fallbacks than the ledger has providers
/// for, while a provider that never saw the request refused connections.
fn refused_first(rec: &ClientRecord, ledger: &LedgerView, refusals: &[Refusal]) -> Option<u16> {
    let reported = AccountRecord::get(rec.account.fallbacks)?;
    if reported <= ledger.fallbacks() {
        return None;
    }
    let (start, end) = life(rec);
    refusals
        .iter()
        .find(|r| {
            start < r.end_s
                && end >= r.start_s
                && ledger.providers & LedgerView::bit(r.provider) == 0
        })
        .map(|r| r.provider)
}

/// Requests (by number) whose first attempt went to a provider that refused
/// the connection, as only the gateway's account can tell: the failover
/// analysis counts those first attempts (and failovers), so that
/// time-to-failover in a `refuse` outage is not read as zero just because
/// refused attempts leave no trace at the provider.
///
/// Only when the account is a witness of attempts: a gateway that also
/// reports fallbacks no provider saw while nothing refused connections
/// counts hops without an attempt (LiteLLM: past a deployment in cooldown),
/// so its extra fallbacks say nothing about refused attempts. Then: none.
pub fn refused_first_attempts(
    requests: &[ClientRecord],
    ledger: impl Iterator<Item = LedgerView>,
    refusals: &[Refusal],
) -> Vec<(usize, u16)> {
    let mut found = Vec::new();
    if refusals.is_empty() {
        return found;
    }
    for (seq, (rec, l)) in requests.iter().zip(ledger).enumerate() {
        if rec.is_missing() || l.attempts == 0 {
            continue;
        }
        match refused_first(rec, &l, refusals) {
            Some(p) => found.push((seq, p)),
            None => {
                let extra =
                    AccountRecord::get(rec.account.fallbacks).is_some_and(|f| f > l.fallbacks());
                if extra {
                    return Vec::new();
                }
            }
        }
    }
    found
}

impl<'a> Tally<'a> {
    pub fn new(providers: &'a [String], dialects: u8, refusals: &'a [Refusal]) -> Self {
        let dialects: Vec<Dialect> = Dialect::ALL
            .into_iter()
            .filter(|d| dialects & d.bit() != 0)
            .collect();
        Tally {
            providers,
            refusals,
            report: AccountReport {
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
        r.ledger_fallbacks += u64::from(ledger.fallbacks());
        r.ledger_attempts += u64::from(ledger.attempts);

        let mut found = Vec::new();
        if let Some(f) = fallbacks {
            match f.cmp(&ledger.fallbacks()) {
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
        } else if unseen_only && self.during_refusals(rec) {
            self.report.explained_by_refused_connections += 1;
            return;
        }
        for kind in found {
            self.report.disagreements.bump(kind);
            self.example(seq, rec, ledger, kind);
        }
    }

    /// Whether the request was in flight while a provider refused connections.
    fn during_refusals(&self, rec: &ClientRecord) -> bool {
        let (start, end) = life(rec);
        self.refusals
            .iter()
            .any(|r| start < r.end_s && end >= r.start_s)
    }

    fn example(&mut self, seq: u64, rec: &ClientRecord, ledger: &LedgerView, kind: Disagreement) {
        let kept = self
            .report
            .examples
            .iter()
            .filter(|e| e.kind == kind)
            .count();
        if kept >= EXAMPLES_PER_KIND {
            return;
        }
        let example = Example {
            seq,
            at_s: f64::from(rec.intended_ms) / 1000.0,
            kind,
            gateway: self.describe_account(&rec.account),
            ledger: self.describe_ledger(ledger),
        };
        self.report.examples.push(example);
    }

    /// The report, or `None` when no answer carried an account;
    /// `refused_first` is how many first attempts were attributed to a
    /// refusing provider.
    pub fn finish(mut self, refused_first: usize) -> Option<AccountReport> {
        self.report.refused_first_attempts = refused_first as u64;
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

fn plural(n: u32, word: &str) -> String {
    match (n, word) {
        (1, _) => format!("1 {word}"),
        (_, "retry") => format!("{n} retries"),
        _ => format!("{n} {word}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Outcome;

    fn rec(fallbacks: u8, retries: u8, attempts: u8, served_by: u8) -> ClientRecord {
        ClientRecord {
            intended_ms: 1500,
            latency_us: 1000,
            served_by: ClientRecord::NONE,
            class: 0,
            outcome: Outcome::Ok,
            account: AccountRecord {
                attempts,
                fallbacks,
                retries,
                served_by,
            },
        }
    }

    fn ledger(attempts: u16, providers: &[u16], served_by: u16) -> LedgerView {
        LedgerView {
            attempts,
            providers: providers.iter().map(|&p| LedgerView::bit(p)).sum(),
            served_by,
        }
    }

    const NONE: u8 = AccountRecord::NONE;
    /// flash (0) refuses connections from 30 s to 40 s.
    const REFUSING: [Refusal; 1] = [Refusal {
        provider: 0,
        start_s: 30.0,
        end_s: 40.0,
    }];

    #[test]
    fn refused_first_attempts_only_from_a_gateway_whose_hops_are_attempts() {
        let mut in_window = rec(1, 0, NONE, 1);
        in_window.intended_ms = 35_000;
        let agrees = rec(0, 0, NONE, 0);
        let requests = [agrees, in_window];
        let views = [ledger(1, &[0], 0), ledger(1, &[1], 1)];
        let found = refused_first_attempts(&requests, views.into_iter(), &REFUSING);
        assert_eq!(found, [(1, 0)]);
        // The same gateway also reports a fallback no provider saw at 5 s,
        // when nothing refused: its hops are not attempts; nothing is inferred.
        let mut skipped = rec(1, 0, NONE, 1);
        skipped.intended_ms = 5_000;
        let requests = [agrees, in_window, skipped];
        let views = [ledger(1, &[0], 0), ledger(1, &[1], 1), ledger(1, &[1], 1)];
        assert!(refused_first_attempts(&requests, views.into_iter(), &REFUSING).is_empty());
    }

    #[test]
    fn a_refused_first_attempt_is_found_through_the_account() {
        // 1 fallback reported, only qwen in the ledger, at 35 s: flash refused it.
        let mut r = rec(1, 0, NONE, 1);
        r.intended_ms = 35_000;
        assert_eq!(refused_first(&r, &ledger(1, &[1], 1), &REFUSING), Some(0));
        // Before the refusal: no.
        r.intended_ms = 20_000;
        assert_eq!(refused_first(&r, &ledger(1, &[1], 1), &REFUSING), None);
        // The ledger accounts for the fallback: no.
        r.intended_ms = 35_000;
        assert_eq!(refused_first(&r, &ledger(2, &[0, 1], 1), &REFUSING), None);
        // No account: no.
        let r = ClientRecord {
            account: AccountRecord::EMPTY,
            ..r
        };
        assert_eq!(refused_first(&r, &ledger(1, &[1], 1), &REFUSING), None);
    }

    #[test]
    fn finds_what_a_gateway_leaves_out_or_adds() {
        let names = ["flash".to_string(), "qwen".into(), "r1".into()];
        let mut t = Tally::new(&names, Dialect::LiteLlm.bit(), &REFUSING);
        // Agrees: first call served by flash.
        t.add(0, &rec(0, 0, NONE, 0), &ledger(1, &[0], 0));
        // Says 0 fallbacks; the ledger shows 2 attempts at 2 providers.
        t.add(1, &rec(0, 0, NONE, 1), &ledger(2, &[0, 1], 1));
        // 1 fallback, 0 retries; the ledger shows 3 attempts (a retry on flash
        // before the fallback, which LiteLLM's headers do not count): a lower
        // bound, so no disagreement about attempts.
        t.add(2, &rec(1, 0, NONE, 1), &ledger(3, &[0, 1], 1));
        // Says 1 fallback to qwen, which never received anything (refused).
        t.add(3, &rec(1, 0, NONE, 1), &ledger(1, &[1], 1));
        // Names r1, the ledger says qwen answered.
        t.add(4, &rec(0, 0, NONE, 2), &ledger(1, &[1], 1));
        // No account, but reached a provider.
        t.add(5, &rec(NONE, NONE, NONE, NONE), &ledger(1, &[0], 0));
        // 0 fallbacks, 0 retries: exactly one attempt; flash got two.
        t.add(7, &rec(0, 0, NONE, 0), &ledger(2, &[0], 0));
        // Like request 3, but at 35 s, while flash refused connections.
        let mut refused = rec(1, 0, NONE, 1);
        refused.intended_ms = 35_000;
        t.add(6, &refused, &ledger(1, &[1], 1));
        let r = t.finish(0).unwrap();
        assert_eq!(r.dialects, ["litellm"]);
        assert!(!r.attempts_exact);
        assert_eq!(
            (r.requests, r.requests_without_account, r.agreeing),
            (7, 1, 2)
        );
        assert_eq!(r.explained_by_refused_connections, 1);
        assert_eq!(
            r.disagreements,
            Disagreements {
                fallbacks_unreported: 1,
                fallbacks_unseen: 1,
                attempts_unreported: 1,
                attempts_unseen: 0,
                served_by: 1,
            }
        );
        assert_eq!((r.gateway_fallbacks, r.ledger_fallbacks), (3, 2));
        assert_eq!(
            (r.gateway_attempts, r.ledger_attempts),
            (1 + 1 + 2 + 2 + 1 + 1 + 2, 11)
        );
        let e = &r.examples[0];
        assert_eq!((e.seq, e.kind), (1, Disagreement::FallbacksUnreported));
        assert_eq!(e.gateway, "0 fallbacks, 0 retries; served by qwen");
        assert_eq!(e.ledger, "2 attempts at flash, qwen; served by qwen");
        // In kind order: request 1, 3, 7, 4.
        let seqs: Vec<u64> = r.examples.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 3, 7, 4]);
    }

    #[test]
    fn an_exact_list_is_held_to_the_count() {
        let names = ["flash".to_string(), "qwen".into()];
        let mut t = Tally::new(&names, Dialect::Builtin.bit(), &[]);
        t.add(0, &rec(1, 0, 2, 1), &ledger(2, &[0, 1], 1));
        t.add(1, &rec(1, 0, 2, 1), &ledger(3, &[0, 1], 1));
        t.add(2, &rec(1, 1, 3, 1), &ledger(2, &[0, 1], 1));
        let r = t.finish(0).unwrap();
        assert!(r.attempts_exact);
        assert_eq!(r.agreeing, 1);
        assert_eq!(r.disagreements.attempts_unreported, 1);
        assert_eq!(r.disagreements.attempts_unseen, 1);
        assert_eq!(
            r.examples[0].gateway,
            "2 attempts, 1 fallback, 0 retries; served by qwen"
        );
    }

    #[test]
    fn no_account_no_report() {
        let names = ["flash".to_string()];
        let mut t = Tally::new(&names, 0, &[]);
        t.add(0, &rec(NONE, NONE, NONE, NONE), &ledger(1, &[0], 0));
        assert_eq!(t.finish(0), None);
    }
}
