//! Where the join reads the client's rows and sorts the ledger's attempts
//! by request: in memory for slices (tests, `analyze`), or outside it
//! (files next to the run, given by `run/`), so that the analysis keeps
//! no per-request state for the whole run. Both sides come in request
//! order, and the join walks them together.

use crate::metrics::recorder::{AnswerRecord, ClientRecord, ClientTiming, RequestRow};
use crate::providers::ledger::Attempt;

/// The client's rows for the join.
pub trait Records {
    /// Every row that is not missing, with its request number, in request
    /// order; each call starts over.
    fn rows(&self) -> Box<dyn Iterator<Item = (u64, RequestRow)> + '_>;
    /// Whether the client's timings were kept (the gateway's overhead is
    /// measured only then).
    fn timings_kept(&self) -> bool;
}

/// Sorts the joined attempts by request, keeping the ledger's order within
/// one request.
pub trait AttemptSort {
    /// One joined attempt of request `seq`, in ledger order.
    fn push(&mut self, seq: u64, a: &Attempt);
    /// Every attempt pushed, by request number and then ledger order; each
    /// call starts over.
    fn sorted(&mut self) -> Box<dyn Iterator<Item = (u64, Attempt)> + '_>;
}

/// Rows from slices indexed by request number (empty `answers` or
/// `timings`: not kept).
pub(super) struct Slices<'a> {
    pub requests: &'a [ClientRecord],
    pub answers: &'a [AnswerRecord],
    pub timings: &'a [ClientTiming],
}

impl Records for Slices<'_> {
    fn rows(&self) -> Box<dyn Iterator<Item = (u64, RequestRow)> + '_> {
        Box::new(
            self.requests
                .iter()
                .enumerate()
                .filter(|(_, r)| !r.is_missing())
                .map(|(i, r)| {
                    let row = RequestRow {
                        rec: *r,
                        answer: self.answers.get(i).copied().unwrap_or(AnswerRecord::NONE),
                        timing: self
                            .timings
                            .get(i)
                            .copied()
                            .unwrap_or(ClientTiming::MISSING),
                    };
                    (i as u64, row)
                }),
        )
    }

    fn timings_kept(&self) -> bool {
        !self.timings.is_empty()
    }
}

/// Sorts in memory (a stable sort: the ledger's order within a request).
#[derive(Debug, Default)]
pub struct InMemory {
    attempts: Vec<(u64, Attempt)>,
    sorted: bool,
}

impl AttemptSort for InMemory {
    fn push(&mut self, seq: u64, a: &Attempt) {
        self.attempts.push((seq, *a));
        self.sorted = false;
    }

    fn sorted(&mut self) -> Box<dyn Iterator<Item = (u64, Attempt)> + '_> {
        if !self.sorted {
            self.attempts.sort_by_key(|(seq, _)| *seq);
            self.sorted = true;
        }
        Box::new(self.attempts.iter().copied())
    }
}

/// The request numbers that have a row, as ranges `[from, to)`: one range
/// in a run where every scheduled request reported.
#[derive(Debug, Default)]
pub(super) struct Present(Vec<(u64, u64)>);

impl Present {
    pub fn of(records: &dyn Records) -> Present {
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for (seq, _) in records.rows() {
            match ranges.last_mut() {
                Some(last) if last.1 == seq => last.1 = seq + 1,
                _ => ranges.push((seq, seq + 1)),
            }
        }
        Present(ranges)
    }

    pub fn contains(&self, seq: u64) -> bool {
        let i = self.0.partition_point(|r| r.1 <= seq);
        self.0.get(i).is_some_and(|r| r.0 <= seq)
    }
}

/// Walks the rows and the sorted attempts together: `f` gets each row with
/// its attempts (ledger order), in request order.
pub(super) fn each_request(
    rows: impl Iterator<Item = (u64, RequestRow)>,
    attempts: impl Iterator<Item = (u64, Attempt)>,
    mut f: impl FnMut(u64, &RequestRow, &[Attempt]),
) {
    let mut attempts = attempts.peekable();
    let mut group = Vec::new();
    for (seq, row) in rows {
        group.clear();
        // Attempts of a request without a row are never pushed.
        while attempts.next_if(|(s, _)| *s < seq).is_some() {}
        while let Some((_, a)) = attempts.next_if(|(s, _)| *s == seq) {
            group.push(a);
        }
        f(seq, &row, &group);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_ranges_answer_membership() {
        let requests = [
            ClientRecord::MISSING,
            ClientRecord {
                class: 0,
                ..ClientRecord::MISSING
            },
            ClientRecord {
                class: 0,
                ..ClientRecord::MISSING
            },
            ClientRecord::MISSING,
            ClientRecord {
                class: 1,
                ..ClientRecord::MISSING
            },
        ];
        let s = Slices {
            requests: &requests,
            answers: &[],
            timings: &[],
        };
        let p = Present::of(&s);
        assert_eq!(p.0, [(1, 3), (4, 5)]);
        let got: Vec<bool> = (0..7).map(|i| p.contains(i)).collect();
        assert_eq!(got, [false, true, true, false, true, false, false]);
    }
}
