//! Errors that must not be retried: a request whose attempt got one (its
//! fault's `ErrorSpec::retryable(status)` is false; a base error's status
//! is judged by `scenario::is_retryable`; rate-limit 429s are retryable)
//! and that reached a provider again afterwards (an attempt arriving after
//! that answer): retried at the same provider, or failed over to another.
//! And what the client got in the end.
//!
//! A request in flight while a provider refused connections may have been
//! tried again into the refusing port, which leaves no ledger entry: when
//! the ledger shows no later attempt, it is `unobservable`, not left alone.
//!
//! Only requests that met such an error are kept (a sparse map by tag).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::refusing::Refusing;
use super::{tag_name, Scope};
use crate::metrics::recorder::ClientRecord;
use crate::providers::ledger::{Attempt, AttemptOutcome};

/// Requests that met a non-retryable error, and what the gateway did next.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NonRetryableOut {
    /// `measured`, or why there was nothing to judge.
    pub state: crate::analysis::CheckState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// Requests that got an error that must not be retried.
    pub requests: u64,
    /// ... that reached a provider again after it (retried or failed over).
    pub tried_again: u64,
    /// ... at the same provider,
    pub retried: u64,
    /// ... at another provider.
    pub failed_over: u64,
    /// What the client got: the provider's status passed through,
    pub client_got_provider_error: u64,
    /// ... a success,
    pub client_got_success: u64,
    /// ... another error (or none recorded),
    pub client_got_other: u64,
    /// ... an error answer the client's message table could not keep (its
    /// status unknown): not comparable.
    #[serde(default)]
    pub client_got_unknown: u64,
    /// Requests with no later attempt in the ledger that were in flight
    /// while a provider refused connections: a retry into the refusing port
    /// leaves no ledger entry, so whether they were left alone is unknown.
    #[serde(default)]
    pub unobservable: u64,
    /// The first request tried again, in words.
    pub example: Option<String>,
    /// Per provider and window (the fault that sent the error).
    pub rows: Vec<NonRetryableRow>,
}

/// One provider and window of [`NonRetryableOut`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NonRetryableRow {
    pub provider: String,
    pub window: String,
    pub requests: u64,
    pub retried: u64,
    pub failed_over: u64,
}

#[derive(Debug, Clone, Copy)]
struct Met {
    answered: i64,
    provider: u16,
    status: u16,
    /// `None`: the provider's base error.
    fault: Option<u16>,
    /// In flight while a provider refused connections.
    refusing: bool,
    retried: bool,
    failed_over: bool,
    later: u32,
    /// The client's record of the request.
    rec: ClientRecord,
}

#[derive(Debug, Default)]
pub(super) struct Tally {
    met: HashMap<u64, Met>,
}

impl Tally {
    /// One attempt of a request of this run (`rec`: the client's record);
    /// a request's attempts in ledger order.
    pub fn attempt(&mut self, scope: &Scope, refusing: &Refusing, a: &Attempt, rec: &ClientRecord) {
        let tag = a.tag.unwrap_or_default();
        if let Some(m) = self.met.get_mut(&tag) {
            if a.arrived_us > m.answered {
                m.later += 1;
                if a.provider == m.provider {
                    m.retried = true;
                } else {
                    m.failed_over = true;
                }
            }
            return;
        }
        if a.status < 400 || !non_retryable(scope, a) {
            return;
        }
        self.met.insert(
            tag,
            Met {
                answered: a.answered_us,
                provider: a.provider,
                status: a.status,
                fault: a.fault,
                refusing: refusing.during(rec),
                retried: false,
                failed_over: false,
                later: 0,
                rec: *rec,
            },
        );
    }

    pub fn finish(self, scope: &Scope) -> NonRetryableOut {
        let mut out = NonRetryableOut::default();
        let mut rows: BTreeMap<(u16, Option<u16>), NonRetryableRow> = BTreeMap::new();
        let mut met: Vec<(u64, Met)> = self.met.into_iter().collect();
        met.sort_unstable_by_key(|(tag, _)| *tag);
        for (tag, m) in met {
            let row = rows
                .entry((m.provider, m.fault))
                .or_insert_with(|| NonRetryableRow {
                    provider: scope.provider(m.provider),
                    window: scope.error_window(m.fault, false),
                    requests: 0,
                    retried: 0,
                    failed_over: 0,
                });
            let again = m.retried || m.failed_over;
            out.unobservable += u64::from(m.refusing && !again);
            row.requests += 1;
            row.retried += u64::from(m.retried);
            row.failed_over += u64::from(m.failed_over);
            out.requests += 1;
            out.retried += u64::from(m.retried);
            out.failed_over += u64::from(m.failed_over);
            out.tried_again += u64::from(again);
            let got = client_got(scope, &m.rec, m.status);
            match got {
                Got::ProviderError => out.client_got_provider_error += 1,
                Got::Success => out.client_got_success += 1,
                Got::Other => out.client_got_other += 1,
                Got::Unknown => out.client_got_unknown += 1,
            }
            if out.example.is_none() && again {
                out.example = Some(example(scope, tag, &m, got));
            }
        }
        out.rows = rows.into_values().collect();
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Got {
    ProviderError,
    Success,
    Other,
    /// The shared overflow entry of the message table: status unknown.
    Unknown,
}

/// Whether `a`'s error must not be retried: its fault's spec says so, or,
/// for a base error (no fault, not the rate limit's 429), its status.
fn non_retryable(scope: &Scope, a: &Attempt) -> bool {
    match a.fault {
        Some(fault) => scope
            .faults
            .get(usize::from(fault))
            .is_some_and(|f| !f.error.retryable(a.status)),
        None => {
            a.outcome == AttemptOutcome::HttpError && !crate::scenario::is_retryable(a.status, None)
        }
    }
}

fn client_got(scope: &Scope, rec: &ClientRecord, status: u16) -> Got {
    if rec.outcome.is_ok() {
        return Got::Success;
    }
    match scope.client_error(rec) {
        Some(e) if e.is_overflow() => Got::Unknown,
        Some(e) if e.status == status => Got::ProviderError,
        _ => Got::Other,
    }
}

/// `slb-7: 400 from flash (error burst (400) on provider flash), then 2
/// more attempt(s), retried at flash; the client got a success`.
fn example(scope: &Scope, tag: u64, m: &Met, got: Got) -> String {
    let provider = scope.provider(m.provider);
    let how = match (m.retried, m.failed_over) {
        (true, true) => format!("retried at {provider} and failed over"),
        (true, false) => format!("retried at {provider}"),
        _ => "failed over".into(),
    };
    let got = match got {
        Got::ProviderError => "the provider's error",
        Got::Success => "a success",
        Got::Other => "another error",
        Got::Unknown => "an error whose status the client's table could not keep",
    };
    format!(
        "{}: {} from {provider} ({}), then {} more attempt(s), {how}; the client got {got}",
        tag_name(Some(tag)),
        m.status,
        scope.error_window(m.fault, false),
        m.later
    )
}
