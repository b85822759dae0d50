//! Per-request facts: each request that was sent, with what the ledger
//! shows for it.
//!
//! Nothing is attributed to a request that the ledger does not show: an
//! attempt a provider refused never reaches the ledger, and which request it
//! belonged to cannot be known (a gateway's "fallbacks" also count hops past
//! deployments it never tried). Refused connections are counted per provider
//! and second where the run could watch them (`Input::connections`), and
//! used in total, never per request.

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
    /// What the ledger shows, for the account comparison.
    pub ledger: LedgerView,
    /// The join of its attempts.
    pub joined: Joined,
    /// The provider that served it: the ledger's serving attempt, else the
    /// one the answer named.
    pub served: u16,
}

impl Fact<'_> {
    /// Whether any provider received an attempt.
    pub fn attempted(&self) -> bool {
        self.joined.attempts > 0
    }

    /// An error the gateway made itself (`gateway_error`): the request
    /// failed and no provider received an attempt for it. Such a request
    /// says nothing about a provider's fault.
    pub fn gateway_error(&self) -> bool {
        !self.attempted() && self.rec.outcome.counted() && !self.rec.outcome.is_ok()
    }

    /// A successful answer that named another provider than the ledger's
    /// serving attempt: a gateway that mislabels, or replays answers.
    pub fn served_by_disagrees(&self) -> bool {
        self.rec.outcome.is_ok()
            && self.rec.served_by != ClientRecord::NONE
            && u16::from(self.rec.served_by) != self.served
    }
}

/// The facts of every request that was sent (not missing, not dropped), in
/// request order.
#[cfg(test)]
pub(super) fn facts<'a>(
    requests: &'a [ClientRecord],
    joined: &'a [Joined],
) -> impl Iterator<Item = Fact<'a>> + 'a {
    requests
        .iter()
        .zip(joined)
        .enumerate()
        .filter_map(|(seq, (rec, j))| fact(seq as u64, rec, *j))
}

/// The facts of request `seq` with its joined attempts, when it was sent
/// (not missing, not dropped).
pub(super) fn fact(seq: u64, rec: &ClientRecord, j: Joined) -> Option<Fact<'_>> {
    if rec.is_missing() || rec.outcome == Outcome::Dropped {
        return None;
    }
    let served = if j.served_by != u16::MAX {
        j.served_by
    } else if rec.served_by != ClientRecord::NONE {
        u16::from(rec.served_by)
    } else {
        u16::MAX
    };
    Some(Fact {
        seq: seq as usize,
        rec,
        ledger: j.view(),
        joined: j,
        served,
    })
}

/// Every provider refusing connections, and when (a window without an end
/// lasts until the end of the run; a flapping provider as `"refuse"` refuses
/// in each down part, as its listener did: `Fault::refuse_spans`, bounded
/// by the run).
pub(crate) fn refusals(faults: &[Fault], duration_s: u32) -> Vec<Refusal> {
    let run = std::time::Duration::from_secs(u64::from(duration_s));
    faults
        .iter()
        .flat_map(|f| {
            let spans: Box<dyn Iterator<Item = (f64, f64)>> = match f.kind {
                FaultKind::OutageRefuse => {
                    let end_s = f.end().map_or(f64::from(duration_s), |e| e.as_secs_f64());
                    Box::new(std::iter::once((f.start.as_secs_f64(), end_s)))
                }
                _ => Box::new(
                    f.refuse_spans(run)
                        .map(|(s, e)| (s.as_secs_f64(), e.as_secs_f64())),
                ),
            };
            spans.flat_map(move |(start_s, end_s)| {
                f.providers.iter().map(move |&p| Refusal {
                    provider: p as u16,
                    start_s,
                    end_s,
                })
            })
        })
        .collect()
}

/// Connection attempts each provider refused, from what the run watched
/// (`counts[second][provider]`, SYNs to the provider's port): the seconds
/// that begin inside one of the provider's `refuse` windows, each second
/// once however many windows overlap it (windows on whole seconds, as
/// scenarios write them, are counted exactly). Bounded by the timeline.
pub(super) fn refused_connections(
    counts: &[Vec<u32>],
    refusals: &[Refusal],
    providers: usize,
    duration_s: u32,
) -> Vec<u64> {
    let seconds = counts.len().min(duration_s as usize);
    let mut refusing = vec![vec![false; seconds]; providers];
    for r in refusals {
        let Some(row) = refusing.get_mut(usize::from(r.provider)) else {
            continue;
        };
        let first = r.start_s.max(0.0).ceil() as usize;
        let end = (r.end_s.max(0.0).ceil() as usize).min(seconds);
        if first < end {
            row[first..end].fill(true);
        }
    }
    refusing
        .iter()
        .enumerate()
        .map(|(p, row)| {
            row.iter()
                .zip(counts)
                .filter(|(on, _)| **on)
                .map(|(_, c)| u64::from(c.get(p).copied().unwrap_or(0)))
                .sum()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::recorder::AccountRecord;

    fn rec(intended_ms: u32, served_by: u8, outcome: Outcome) -> ClientRecord {
        ClientRecord {
            intended_ms,
            latency_us: 1000,
            served_by,
            message: crate::metrics::messages::ErrorMessages::NONE,
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
    fn sent_requests_only_and_nothing_attributed() {
        let requests = [
            rec(1000, 1, Outcome::Ok),
            ClientRecord::MISSING,
            rec(1500, 1, Outcome::Dropped),
            rec(1900, 1, Outcome::Ok),
            rec(2500, 0, Outcome::Ok),
            rec(2600, ClientRecord::NONE, Outcome::Http5xx),
        ];
        let joined = [
            AT_QWEN,
            Joined::EMPTY,
            Joined::EMPTY,
            AT_QWEN,
            Joined::EMPTY,
            Joined::EMPTY,
        ];
        let got: Vec<Fact> = facts(&requests, &joined).collect();
        assert_eq!(got.iter().map(|f| f.seq).collect::<Vec<_>>(), [0, 3, 4, 5]);
        assert_eq!((got[0].joined, got[1].joined), (AT_QWEN, AT_QWEN));
        assert_eq!(got[1].ledger, AT_QWEN.view());
        assert_eq!(got[1].served, 1);
        // No serving attempt in the ledger: the provider the answer named.
        assert_eq!((got[2].served, got[2].attempted()), (0, false));
        // Nor a named one: none. Failed with no provider attempt: an error
        // the gateway made itself.
        assert_eq!(got[3].served, u16::MAX);
        assert!(got[3].gateway_error());
        assert!(!got[0].gateway_error() && !got[2].gateway_error());
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
    fn refused_connections_are_the_syns_inside_refuse_windows() {
        // SYNs per [second][provider] for 6 s, 3 providers.
        let counts: Vec<Vec<u32>> = (0..6).map(|s| vec![10 + s, 1, 7]).collect();
        let r = |provider, start_s, end_s| Refusal {
            provider,
            start_s,
            end_s,
        };
        // flash refuses 2–4 s, and again 3–5 s (overlapping: each second
        // once); r1 (2) from 5 s to beyond the timeline; provider 9 is none.
        let windows = [
            r(0, 2.0, 4.0),
            r(0, 3.0, 5.0),
            r(2, 5.0, 60.0),
            r(9, 0.0, 6.0),
        ];
        let got = refused_connections(&counts, &windows, 3, 6);
        assert_eq!(got, [12 + 13 + 14, 0, 7]);
        // A timeline shorter than the counts bounds them.
        assert_eq!(refused_connections(&counts, &windows, 3, 3), [12, 0, 0]);
        assert_eq!(refused_connections(&[], &windows, 3, 6), [0, 0, 0]);
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
            error: Default::default(),
            after_tokens: None,
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

    #[test]
    fn a_flapping_provider_refuses_in_each_down_part_until_the_run_ends() {
        let flapping = |down| Fault {
            providers: vec![1],
            target_label: "provider qwen".into(),
            start: Duration::from_secs(10),
            duration: None,
            probability: 1.0,
            kind: FaultKind::Flapping {
                period: Duration::from_secs(4),
                duty: 0.25,
                down,
            },
            error: Default::default(),
            after_tokens: None,
        };
        let r = |start_s, end_s| Refusal {
            provider: 1,
            start_s,
            end_s,
        };
        assert_eq!(
            refusals(&[flapping(crate::scenario::FlapAs::Refuse)], 21),
            [r(10.0, 11.0), r(14.0, 15.0), r(18.0, 19.0)]
        );
        let as_5xx = crate::scenario::FlapAs::Http { status: 503 };
        assert!(refusals(&[flapping(as_5xx)], 21).is_empty());
    }
}
