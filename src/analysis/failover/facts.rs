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
