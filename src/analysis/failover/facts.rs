//! Per-request facts: each request that was sent, with what the ledger shows
//! for it and what the analysis attributes to it.
//!
//! The two differ in one case. An attempt that a provider refused never
//! reaches the ledger; when the gateway's own account says there was one
//! (`account::refused_first_attempts`), the request's first attempt is
//! attributed to the refusing provider, so that a `refuse` outage does not
//! read as an instant failover. The gateway-account comparison sees the
//! ledger as it is; everything else sees the attribution.

use super::join::Joined;
use crate::analysis::account::{LedgerView, Refusal};
use crate::metrics::recorder::ClientRecord;
use crate::metrics::Outcome;
use crate::scenario::{Fault, FaultKind};

/// What the analysis knows about one request that was sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Fact<'a> {
    /// The request number.
    pub seq: usize,
    pub rec: &'a ClientRecord,
    /// What the ledger shows, as it is.
    pub ledger: LedgerView,
    /// The join, with a refused first attempt attributed.
    pub joined: Joined,
    /// The provider that served it: the ledger's serving attempt, else the
    /// one the answer named.
    pub served: u16,
}

impl Fact<'_> {
    /// Whether any provider received an attempt (or one is attributed).
    pub fn attempted(&self) -> bool {
        self.joined.attempts > 0
    }

    /// A successful answer that named another provider than the ledger's
    /// serving attempt: a gateway that mislabels, or replays answers.
    pub fn served_by_disagrees(&self) -> bool {
        self.rec.outcome.is_ok()
            && self.rec.served_by != ClientRecord::NONE
            && self.rec.served_by != self.served
    }
}

/// The facts of every request that was sent (not missing, not dropped), in
/// request order. `refused` is `account::refused_first_attempts`, in
/// request order.
pub(super) fn facts<'a>(
    requests: &'a [ClientRecord],
    joined: &'a [Joined],
    refused: &'a [(usize, u16)],
) -> impl Iterator<Item = Fact<'a>> + 'a {
    let mut refused = refused.iter().peekable();
    requests
        .iter()
        .zip(joined)
        .enumerate()
        .filter(|(_, (rec, _))| !rec.is_missing() && rec.outcome != Outcome::Dropped)
        .map(move |(seq, (rec, j))| {
            let mut attributed = *j;
            if let Some(&(_, p)) = refused.next_if(|(s, _)| *s == seq) {
                // The first attempt went to `p`, which refused it: the ledger
                // cannot show it, the gateway's account does.
                attributed.first_provider = p;
                attributed.first_arrival_us = i64::from(rec.intended_ms) * 1000;
                attributed.first_ok = false;
            }
            let served = if j.served_by != u16::MAX {
                j.served_by
            } else {
                rec.served_by
            };
            Fact {
                seq,
                rec,
                ledger: j.view(),
                joined: attributed,
                served,
            }
        })
}

/// Every provider refusing connections, and when (a window without an end
/// lasts until the end of the run).
pub(super) fn refusals(faults: &[Fault], duration_s: u32) -> Vec<Refusal> {
    faults
        .iter()
        .filter(|f| matches!(f.kind, FaultKind::OutageRefuse))
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::recorder::AccountRecord;

    fn rec(intended_ms: u32, served_by: u16, outcome: Outcome) -> ClientRecord {
        ClientRecord {
            intended_ms,
            latency_us: 1000,
            served_by,
            class: 0,
            outcome,
            account: AccountRecord::EMPTY,
        }
    }

    /// Served by qwen (1), its only attempt at 2 s.
    const AT_QWEN: Joined = Joined {
        first_arrival_us: 2_000_000,
        first_provider: 1,
        first_ok: true,
        attempts: 1,
        providers: 0b10,
        served_by: 1,
        cost: 0.5,
        served_tokens: (10, 20),
    };

    #[test]
    fn sent_requests_only_with_a_refused_first_attempt_attributed() {
        let requests = [
            rec(1000, 1, Outcome::Ok),
            ClientRecord::MISSING,
            rec(1500, 1, Outcome::Dropped),
            rec(1900, 1, Outcome::Ok),
            rec(2500, 0, Outcome::Ok),
        ];
        let joined = [
            AT_QWEN,
            Joined::EMPTY,
            Joined::EMPTY,
            AT_QWEN,
            Joined::EMPTY,
        ];
        // flash (0) refused request 3's first attempt.
        let refused = [(3, 0)];
        let got: Vec<Fact> = facts(&requests, &joined, &refused).collect();
        assert_eq!(got.iter().map(|f| f.seq).collect::<Vec<_>>(), [0, 3, 4]);
        assert_eq!(got[0].joined, AT_QWEN);
        let attributed = got[1].joined;
        assert_eq!(
            (
                attributed.first_provider,
                attributed.first_arrival_us,
                attributed.first_ok
            ),
            (0, 1_900_000, false)
        );
        // The account comparison sees the ledger as it is.
        assert_eq!(got[1].ledger, AT_QWEN.view());
        assert_eq!(got[1].served, 1);
        // No serving attempt in the ledger: the provider the answer named.
        assert_eq!((got[2].served, got[2].attempted()), (0, false));
    }

    #[test]
    fn a_served_by_disagreement_needs_a_named_answer() {
        let mut f = Fact {
            seq: 0,
            rec: &rec(0, 0, Outcome::Ok),
            ledger: AT_QWEN.view(),
            joined: AT_QWEN,
            served: 1,
        };
        assert!(f.served_by_disagrees());
        let unnamed = rec(0, ClientRecord::NONE, Outcome::Ok);
        f.rec = &unnamed;
        assert!(!f.served_by_disagrees());
        let failed = rec(0, 0, Outcome::Http5xx);
        f.rec = &failed;
        assert!(!f.served_by_disagrees());
    }

    #[test]
    fn refusals_last_to_the_end_of_the_run_when_open_ended() {
        let fault = |kind, duration| Fault {
            providers: vec![0, 2],
            target_label: "providers flash, r1".into(),
            start: Duration::from_secs(10),
            duration,
            probability: 1.0,
            kind,
        };
        let faults = [
            fault(FaultKind::OutageRefuse, Some(Duration::from_secs(5))),
            fault(FaultKind::OutageReset, None),
            fault(FaultKind::OutageRefuse, None),
        ];
        let r = |provider, end_s| Refusal {
            provider,
            start_s: 10.0,
            end_s,
        };
        assert_eq!(
            refusals(&faults, 60),
            [r(0, 15.0), r(2, 15.0), r(0, 60.0), r(2, 60.0)]
        );
    }
}
