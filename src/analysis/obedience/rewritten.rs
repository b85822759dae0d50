//! Rewritten errors: for each request the client saw fail with an HTTP
//! status >= 400 whose last provider attempt (the latest to arrive) was an
//! HTTP error, the client's status and error type against the provider's
//! (`ErrorText` of the fault's spec, or the rate limit's and base errors'
//! defaults, in the provider's dialect). A client body without a type is
//! compared by status only.
//!
//! Not compared (counted as not comparable): a request in flight while a
//! provider refused connections (its last recorded attempt may not have
//! been its last: a refused one leaves no ledger entry), and a client
//! error that is the message table's shared overflow entry (its status and
//! type are nobody's). Pairs are counted all, then the 16 most frequent
//! kept (ties by text), so the same ledger always lists the same pairs.
//!
//! Only requests the client saw fail with an HTTP error are kept (a sparse
//! map by tag), with their latest attempt.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::refusing::Refusing;
use super::Scope;
use crate::metrics::recorder::ClientRecord;
use crate::providers::errors::ErrorText;
use crate::providers::ledger::{Attempt, AttemptOutcome};
use crate::scenario::ErrorSpec;

/// Distinct (provider error → client error) pairs listed.
const PAIRS: usize = 16;

/// Why requests in flight while a provider refused were not compared.
pub const REFUSING: &str = "not comparable: in flight while a provider refused connections";

/// Provider errors the client saw, kept or rewritten.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RewrittenOut {
    /// `measured`, or why there was nothing to judge.
    pub state: crate::analysis::CheckState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// Client errors whose last attempt was a provider's HTTP error.
    pub compared: u64,
    pub kept: u64,
    pub rewritten: u64,
    pub status_changed: u64,
    pub type_changed: u64,
    /// Compared by status only: the client's error body had no type.
    pub status_only: u64,
    /// Not compared: in flight while a provider refused connections.
    #[serde(default)]
    pub not_comparable_refusing: u64,
    /// Not compared: the client's error was the message table's shared
    /// overflow entry (status and type unknown).
    #[serde(default)]
    pub not_comparable_unknown: u64,
    /// What became what, most frequent first (at most 16 distinct).
    pub pairs: Vec<RewritePair>,
    /// Per provider and window (the fault that sent the error).
    pub rows: Vec<RewrittenRow>,
}

/// One kind of rewrite: `529 overloaded_error → 500 server_error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RewritePair {
    pub from: String,
    pub to: String,
    pub count: u64,
}

impl RewritePair {
    pub fn text(&self) -> String {
        format!("{} → {} ({}×)", self.from, self.to, self.count)
    }
}

/// One provider and window of [`RewrittenOut`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RewrittenRow {
    pub provider: String,
    pub window: String,
    pub compared: u64,
    pub kept: u64,
    pub rewritten: u64,
}

#[derive(Debug, Clone, Copy)]
struct Last {
    arrived: i64,
    provider: u16,
    status: u16,
    outcome: AttemptOutcome,
    fault: Option<u16>,
    /// The client's record of the request.
    rec: ClientRecord,
}

#[derive(Debug, Default)]
pub(super) struct Tally {
    last: HashMap<u64, Last>,
}

impl Tally {
    /// One attempt of a request of this run (`rec`: the client's record);
    /// a request's attempts in ledger order.
    pub fn attempt(&mut self, scope: &Scope, a: &Attempt, rec: &ClientRecord) {
        let error = scope.client_error(rec);
        if rec.outcome.is_ok() || error.is_none_or(|e| e.status < 400 && !e.is_overflow()) {
            return;
        }
        let last = Last {
            arrived: a.arrived_us,
            provider: a.provider,
            status: a.status,
            outcome: a.outcome,
            fault: a.fault,
            rec: *rec,
        };
        let tag = a.tag.unwrap_or_default();
        let e = self.last.entry(tag).or_insert(last);
        if a.arrived_us >= e.arrived {
            *e = last;
        }
    }

    pub fn finish(self, scope: &Scope, refusing: &Refusing) -> RewrittenOut {
        let mut out = RewrittenOut::default();
        let mut rows: BTreeMap<(u16, Option<u16>), RewrittenRow> = BTreeMap::new();
        // Every distinct pair (bounded: the client's side by the message
        // table, the provider's by the faults and statuses).
        let mut pairs: BTreeMap<(String, String), u64> = BTreeMap::new();
        for last in self.last.into_values() {
            let Some(sent) = provider_error(scope, &last) else {
                continue;
            };
            let rec = &last.rec;
            let Some(got) = scope.client_error(rec) else {
                continue;
            };
            if refusing.during(rec) {
                out.not_comparable_refusing += 1;
                continue;
            }
            if got.is_overflow() {
                out.not_comparable_unknown += 1;
                continue;
            }
            let status_changed = got.status != last.status;
            let typed = !got.error_type.is_empty();
            let type_changed = typed && got.error_type != sent;
            let row = rows
                .entry((last.provider, last.fault))
                .or_insert_with(|| RewrittenRow {
                    provider: scope.provider(last.provider),
                    window: scope
                        .error_window(last.fault, last.outcome == AttemptOutcome::RateLimited),
                    compared: 0,
                    kept: 0,
                    rewritten: 0,
                });
            row.compared += 1;
            out.compared += 1;
            out.status_only += u64::from(!typed);
            if !(status_changed || type_changed) {
                row.kept += 1;
                out.kept += 1;
                continue;
            }
            row.rewritten += 1;
            out.rewritten += 1;
            out.status_changed += u64::from(status_changed);
            out.type_changed += u64::from(type_changed);
            let from = format!("{} {sent}", last.status);
            let to = format!("{} {}", got.status, got.error_type)
                .trim_end()
                .to_string();
            *pairs.entry((from, to)).or_default() += 1;
        }
        let mut pairs: Vec<RewritePair> = pairs
            .into_iter()
            .map(|((from, to), count)| RewritePair { from, to, count })
            .collect();
        // Most frequent first, then by text: the same ledger, the same list.
        pairs.sort_by(|a, b| {
            (b.count.cmp(&a.count))
                .then_with(|| a.from.cmp(&b.from))
                .then_with(|| a.to.cmp(&b.to))
        });
        pairs.truncate(PAIRS);
        out.pairs = pairs;
        out.rows = rows.into_values().collect();
        out
    }
}

/// The error type the provider sent with its last attempt, when that was
/// an HTTP error.
fn provider_error(scope: &Scope, last: &Last) -> Option<String> {
    match last.outcome {
        AttemptOutcome::BadRequest => return Some("invalid_request_error".into()),
        AttemptOutcome::HttpError | AttemptOutcome::RateLimited if last.status >= 400 => {}
        _ => return None,
    }
    let default = ErrorSpec::default();
    let spec = last
        .fault
        .and_then(|f| scope.faults.get(usize::from(f)))
        .map_or(&default, |f| &f.error);
    let dialect = spec.dialect.unwrap_or(scope.dialect(last.provider));
    Some(ErrorText::new(dialect, last.status, spec).error_type)
}
