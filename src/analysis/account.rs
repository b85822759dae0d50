//! The gateway's own account held against the providers' ledger.
//!
//! A gateway reports what it did in its response headers (`load::account`):
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
//! ledger shows during a `refuse` outage; it can never rightly report less.

use serde::Serialize;

use crate::load::account::Dialect;
use crate::metrics::recorder::{AccountRecord, ClientRecord};

/// Examples kept per kind of disagreement.
pub const EXAMPLES_PER_KIND: usize = 3;

/// How one request's account disagrees with the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountReport {
    /// Whose headers were read: `litellm`, `portkey`, `builtin`.
    pub dialects: Vec<&'static str>,
    /// Whether the gateway lists every attempt (else its figures are a lower
    /// bound: LiteLLM and Portkey report retries of the last hop only).
    pub attempts_exact: bool,
    /// Requests whose answer carried the gateway's account.
    pub requests: u64,
    /// Requests that reached a provider but whose answer had no account.
    pub requests_without_account: u64,
    /// Requests (with an account) where it agrees with the ledger.
    pub agreeing: u64,
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
    report: AccountReport,
}

impl<'a> Tally<'a> {
    pub fn new(providers: &'a [String], dialects: u8) -> Self {
        let dialects: Vec<Dialect> = Dialect::ALL
            .into_iter()
            .filter(|d| dialects & d.bit() != 0)
            .collect();
        Tally {
            providers,
            report: AccountReport {
                attempts_exact: !dialects.is_empty() && dialects == [Dialect::Builtin],
                dialects: dialects.iter().map(|d| d.name()).collect(),
                requests: 0,
                requests_without_account: 0,
                agreeing: 0,
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
        if let Some(n) = attempts {
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
        if found.is_empty() {
            r.agreeing += 1;
        }
        for kind in found {
            self.report.disagreements.bump(kind);
            self.example(seq, rec, ledger, kind);
        }
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

    /// The report, or `None` when no answer carried an account.
    pub fn finish(mut self) -> Option<AccountReport> {
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

    #[test]
    fn finds_what_a_gateway_leaves_out_or_adds() {
        let names = ["flash".to_string(), "qwen".into(), "r1".into()];
        let mut t = Tally::new(&names, Dialect::LiteLlm.bit());
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
        let r = t.finish().unwrap();
        assert_eq!(r.dialects, ["litellm"]);
        assert!(!r.attempts_exact);
        assert_eq!(
            (r.requests, r.requests_without_account, r.agreeing),
            (5, 1, 2)
        );
        assert_eq!(
            r.disagreements,
            Disagreements {
                fallbacks_unreported: 1,
                fallbacks_unseen: 1,
                attempts_unreported: 1,
                attempts_unseen: 1,
                served_by: 1,
            }
        );
        assert_eq!((r.gateway_fallbacks, r.ledger_fallbacks), (2, 2));
        assert_eq!(
            (r.gateway_attempts, r.ledger_attempts),
            (1 + 1 + 2 + 2 + 1, 8)
        );
        let e = &r.examples[0];
        assert_eq!((e.seq, e.kind), (1, Disagreement::FallbacksUnreported));
        assert_eq!(e.gateway, "0 fallbacks, 0 retries; served by qwen");
        assert_eq!(e.ledger, "2 attempts at flash, qwen; served by qwen");
        assert_eq!(r.examples.len(), 5);
    }

    #[test]
    fn an_exact_list_is_held_to_the_count() {
        let names = ["flash".to_string(), "qwen".into()];
        let mut t = Tally::new(&names, Dialect::Builtin.bit());
        t.add(0, &rec(1, 0, 2, 1), &ledger(2, &[0, 1], 1));
        t.add(1, &rec(1, 0, 2, 1), &ledger(3, &[0, 1], 1));
        t.add(2, &rec(1, 1, 3, 1), &ledger(2, &[0, 1], 1));
        let r = t.finish().unwrap();
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
        let mut t = Tally::new(&names, 0);
        t.add(0, &rec(NONE, NONE, NONE, NONE), &ledger(1, &[0], 0));
        assert_eq!(t.finish(), None);
    }
}
