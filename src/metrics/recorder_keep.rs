//! What the recorder keeps per request for the ledger join: one
//! [`RequestRow`] (a `ClientRecord`, an `AnswerRecord` and a `ClientTiming`),
//! either in three vectors by request number (tests, short runs) or handed
//! to a [`RequestStore`] that keeps it off the heap (a run's file, given by
//! `run/`), so memory does not grow with the run's length.

use super::{AnswerRecord, ClientRecord, ClientTiming, Recorder};
use crate::metrics::messages::ErrorMessages;
use crate::metrics::recorder::AccountRecord;
use crate::metrics::request::{Dialect, RequestResult};
use crate::metrics::Outcome;

/// Everything the ledger join needs of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestRow {
    pub rec: ClientRecord,
    pub answer: AnswerRecord,
    pub timing: ClientTiming,
}

impl RequestRow {
    /// A slot for a request that was never reported.
    pub const MISSING: RequestRow = RequestRow {
        rec: ClientRecord::MISSING,
        answer: AnswerRecord::NONE,
        timing: ClientTiming::MISSING,
    };
    /// Bytes in [`RequestRow::encode`]; all zeros is a missing row.
    pub const LEN: usize = 32;

    /// Fixed-size bytes, all zeros never (the first byte is 1).
    pub fn encode(&self) -> [u8; Self::LEN] {
        let r = &self.rec;
        let mut b = [0u8; Self::LEN];
        b[0] = 1;
        b[1] = r.outcome.index() as u8;
        b[2] = r.served_by;
        b[3] = r.message;
        b[4] = r.class;
        let a = &r.account;
        b[5..9].copy_from_slice(&[a.attempts, a.fallbacks, a.retries, a.served_by]);
        let words = [
            r.intended_ms,
            r.latency_us,
            self.answer.0,
            self.timing.service_us,
            self.timing.ttft_us,
        ];
        for (i, w) in words.iter().enumerate() {
            b[9 + 4 * i..13 + 4 * i].copy_from_slice(&w.to_le_bytes());
        }
        b
    }

    /// The row `encode` wrote; `None` for a missing one (all zeros, or
    /// bytes no row encodes to).
    pub fn decode(b: &[u8; Self::LEN]) -> Option<RequestRow> {
        if b[0] != 1 {
            return None;
        }
        let outcome = *Outcome::ALL.get(usize::from(b[1]))?;
        let word = |i: usize| u32::from_le_bytes(b[9 + 4 * i..13 + 4 * i].try_into().unwrap());
        Some(RequestRow {
            rec: ClientRecord {
                intended_ms: word(0),
                latency_us: word(1),
                served_by: b[2],
                message: b[3],
                class: b[4],
                outcome,
                account: AccountRecord {
                    attempts: b[5],
                    fallbacks: b[6],
                    retries: b[7],
                    served_by: b[8],
                },
            },
            answer: AnswerRecord(word(2)),
            timing: ClientTiming {
                service_us: word(3),
                ttft_us: word(4),
            },
        })
    }
}

/// Where the recorder hands each request's row when it does not keep them
/// itself. Rows come in completion order; a store keeps them by request
/// number (`seq`) and reports its own failures when read back.
pub trait RequestStore: Send + std::fmt::Debug {
    fn put(&mut self, seq: u64, row: RequestRow);
    /// The run's last result was put: keep everything.
    fn flush(&mut self);
    /// Lets the owner downcast to read the rows back.
    fn as_any(&self) -> &dyn std::any::Any;
}

impl Recorder {
    pub(super) fn keep(&mut self, r: &RequestResult) {
        if self.requests.is_none() && self.store.is_none() {
            return;
        }
        let row = self.row_of(r);
        if let Some(store) = self.store.as_mut() {
            store.put(r.seq, row);
            return;
        }
        let Some(records) = self.requests.as_mut() else {
            return;
        };
        let seq = r.seq as usize;
        if records.len() <= seq {
            records.resize(seq + 1, ClientRecord::MISSING);
            self.answers.resize(seq + 1, AnswerRecord::NONE);
        }
        self.answers[seq] = row.answer;
        if let Some(timings) = self.timings.as_mut() {
            if timings.len() <= seq {
                timings.resize(seq + 1, ClientTiming::MISSING);
            }
            timings[seq] = row.timing;
        }
        records[seq] = row.rec;
    }

    fn row_of(&mut self, r: &RequestResult) -> RequestRow {
        let answer =
            r.m.checked
                .as_ref()
                .map_or(AnswerRecord::NONE, AnswerRecord::new);
        let served_by =
            r.m.served_by
                .as_deref()
                .and_then(|name| self.request_providers.iter().position(|p| p == name))
                .filter(|&i| i < usize::from(ClientRecord::NONE))
                .map_or(ClientRecord::NONE, |i| i as u8);
        // A failure with an error status keeps it, with the message when
        // the body could be read; a failure without one (no HTTP answer, a
        // broken 200) is told by its outcome.
        let message = if !r.outcome.is_ok() && r.m.status >= 300 {
            let text = r.m.error_message.as_deref().unwrap_or("");
            let kind = r.m.error_type.as_deref().unwrap_or("");
            self.error_messages.intern_typed(r.m.status, kind, text)
        } else {
            ErrorMessages::NONE
        };
        let account = match &r.m.account {
            Some(a) => {
                self.account_dialects |= a.dialect.map_or(0, Dialect::bit);
                AccountRecord::new(a, &self.request_providers)
            }
            None => AccountRecord::EMPTY,
        };
        RequestRow {
            rec: ClientRecord {
                intended_ms: r.intended.as_millis().min(u128::from(u32::MAX)) as u32,
                latency_us: r.m.latency.as_micros().min(u128::from(u32::MAX)) as u32,
                served_by,
                message,
                class: r.class.min(254) as u8,
                outcome: r.outcome,
                account,
            },
            answer,
            timing: ClientTiming::new(r),
        }
    }
}
