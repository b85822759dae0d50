//! Did the gateway obey? What the providers asked of it, from the ledger
//! and the client's records, per provider and per fault window:
//!
//! - `retry_after`: attempts that reached a provider while a Retry-After it
//!   had sent was still in force (HTTP semantics: the gateway is one client
//!   of the provider, so any request counts, not only the one that got it);
//! - `non_retryable`: requests retried or failed over after an error that
//!   must not be retried (`ErrorSpec::retryable`);
//! - `rewritten`: client-visible provider errors whose status or error type
//!   the gateway changed;
//! - `flapping`: attempts sent into a flapping provider's down phases after
//!   the gateway had met the failure there (breaker probes), and when
//!   traffic came back in the up phases.
//!
//! Each is a streaming accumulator fed every ledger attempt in ledger order
//! (answer order: an attempt that arrived after an answer is recorded after
//! it). Memory is per provider and fault, per phase of the timeline, and a
//! sparse map for the few requests that met a non-retryable error or failed
//! with an HTTP error; never per attempt.
//!
//! [`GRACE_US`]: another request's attempt that arrives within 50 ms of an
//! answer was already under way when the answer left (sent before the
//! gateway could read it), so it is not held against the gateway; nor is
//! an attempt in a flapping provider's down phase within 50 ms of the first
//! failure there.

mod checks;
mod flapping;
mod non_retryable;
mod refusing;
mod retry_after;
mod rewritten;

pub use checks::{checks, key as check_key, FLAPPING, NON_RETRYABLE, RETRY_AFTER, REWRITTEN};
pub use flapping::FlappingOut;
pub use non_retryable::{NonRetryableOut, NonRetryableRow};
pub use retry_after::{RetryAfterOut, RetryAfterRow, Violation};
pub use rewritten::{RewritePair, RewrittenOut, RewrittenRow, REFUSING};

use serde::{Deserialize, Serialize};

use crate::analysis::CheckState;
use crate::metrics::messages::ErrorMessage;
use crate::metrics::recorder::ClientRecord;
use crate::providers::ledger::Attempt;
use crate::scenario::{Dialect, Fault, FaultKind, FlapAs};

/// Attempts that arrive within this long after an answer were already
/// under way: they do not count against what the answer asked.
pub const GRACE_US: i64 = 50_000;

/// What the gateway was asked to do and what it did (summary.json's
/// `obedience`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Obedience {
    /// [`GRACE_US`] in ms: the slack given to attempts already under way.
    pub grace_ms: f64,
    pub retry_after: RetryAfterOut,
    pub non_retryable: NonRetryableOut,
    pub rewritten: RewrittenOut,
    /// One per flapping fault and provider.
    pub flapping: Vec<FlappingOut>,
    /// Why none of it is measured, when the ledger was only partly read
    /// (every part is then `not_measured` with this why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete_why: Option<String>,
}

impl Obedience {
    /// What summary.json shows: the analysis's obedience, every part not
    /// measured when the ledger was only partly read (`ledger_error`).
    pub fn of_run(o: Option<&Obedience>, ledger_error: Option<&str>) -> Option<Obedience> {
        let o = o?.clone();
        Some(match ledger_error {
            Some(e) => o.incomplete(e),
            None => o,
        })
    }

    /// Every part `not_measured` because the ledger was only partly read
    /// (`ledger_error`): its counts cover the attempts read, not the run.
    pub fn incomplete(mut self, ledger_error: &str) -> Self {
        let why = format!("the providers' ledger was only partly read ({ledger_error})");
        let not = CheckState::NotMeasured;
        (self.retry_after.state, self.retry_after.why) = (not, Some(why.clone()));
        (self.non_retryable.state, self.non_retryable.why) = (not, Some(why.clone()));
        (self.rewritten.state, self.rewritten.why) = (not, Some(why.clone()));
        for f in &mut self.flapping {
            (f.state, f.why) = (not, Some(why.clone()));
        }
        self.incomplete_why = Some(why);
        self
    }
}

/// What the accumulators read besides the ledger.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    pub providers: &'a [String],
    /// Each provider's error dialect; providers beyond it: OpenAI.
    pub dialects: &'a [Dialect],
    pub faults: &'a [Fault],
    /// Client records by request number.
    pub requests: &'a [ClientRecord],
    /// The client's interned error answers (`ClientRecord::message`).
    pub messages: &'a [ErrorMessage],
    pub duration_s: u32,
    pub sent_until_s: f64,
}

impl Scope<'_> {
    fn provider(&self, p: u16) -> String {
        self.providers
            .get(usize::from(p))
            .cloned()
            .unwrap_or_else(|| format!("provider {p}"))
    }

    fn dialect(&self, p: u16) -> Dialect {
        self.dialects
            .get(usize::from(p))
            .copied()
            .unwrap_or_default()
    }

    /// The fault window an error came from, or the rate limit's.
    fn window(&self, fault: Option<u16>) -> String {
        self.error_window(fault, true)
    }

    /// The fault window an error came from; without a fault, the rate
    /// limit's (`rate_limited`) or the provider's base errors.
    fn error_window(&self, fault: Option<u16>, rate_limited: bool) -> String {
        match fault.and_then(|f| self.faults.get(usize::from(f))) {
            Some(f) => super::failover::fault_label(f),
            None if rate_limited => "rate limit".into(),
            None => "base errors".into(),
        }
    }

    /// The client's record of request `tag`, when it was one of this run's.
    #[cfg(test)]
    fn request(&self, tag: Option<u64>) -> Option<&ClientRecord> {
        let r = self.requests.get(usize::try_from(tag?).ok()?)?;
        (!r.is_missing()).then_some(r)
    }

    /// The HTTP error answer the client got for `rec`, if any.
    fn client_error(&self, rec: &ClientRecord) -> Option<&ErrorMessage> {
        self.messages
            .get(usize::from(rec.message))
            .filter(|_| rec.message != crate::metrics::messages::ErrorMessages::NONE)
    }
}

/// The four accumulators together.
pub struct Tally<'a> {
    scope: Scope<'a>,
    refusing: refusing::Refusing,
    retry_after: retry_after::Tally,
    non_retryable: non_retryable::Tally,
    rewritten: rewritten::Tally,
    flapping: flapping::Tally,
}

impl<'a> Tally<'a> {
    pub fn new(scope: Scope<'a>) -> Self {
        let refusals = super::failover::refusals(scope.faults, scope.duration_s);
        Tally {
            refusing: refusing::Refusing::new(&refusals),
            retry_after: retry_after::Tally::new(&scope),
            non_retryable: non_retryable::Tally::default(),
            rewritten: rewritten::Tally::default(),
            flapping: flapping::Tally::new(&scope),
            scope,
        }
    }

    /// One ledger attempt, in ledger order (every attempt, tagged or not),
    /// joined through `Scope::requests`.
    #[cfg(test)]
    pub fn attempt(&mut self, a: &Attempt) {
        self.ledger_attempt(a);
        if let Some(rec) = self.scope.request(a.tag).copied() {
            self.joined_attempt(a, &rec);
        }
    }

    /// One ledger attempt, in ledger order (every attempt, tagged or not):
    /// what needs no client record.
    pub fn ledger_attempt(&mut self, a: &Attempt) {
        self.retry_after.attempt(a);
        self.flapping.attempt(a);
    }

    /// One attempt of a request of this run, with the client's record of
    /// it; each request's attempts in ledger order (requests in any order).
    pub fn joined_attempt(&mut self, a: &Attempt, rec: &ClientRecord) {
        self.non_retryable
            .attempt(&self.scope, &self.refusing, a, rec);
        self.rewritten.attempt(&self.scope, a, rec);
    }

    pub fn finish(self) -> Obedience {
        let scope = &self.scope;
        let mut o = Obedience {
            grace_ms: GRACE_US as f64 / 1000.0,
            retry_after: self.retry_after.finish(scope),
            non_retryable: self.non_retryable.finish(scope),
            rewritten: self.rewritten.finish(scope, &self.refusing),
            flapping: self.flapping.finish(scope),
            incomplete_why: None,
        };
        let r = &mut o.retry_after;
        (r.state, r.why) = state(
            scope,
            r.answers,
            sends_retry_after,
            "no provider answer carried a Retry-After",
        );
        let n = &mut o.non_retryable;
        (n.state, n.why) = state(
            scope,
            n.requests,
            sends_non_retryable,
            "no request got an error that must not be retried",
        );
        if n.tried_again == 0 && n.unobservable > 0 {
            // A seen retry fails the check; none seen proves nothing here.
            n.state = CheckState::NotObservable;
            n.why = Some(format!(
                "{} of {} request(s) that got an error that must not be retried were in \
                 flight while a provider refused connections: a retry into a refusing \
                 provider leaves no ledger entry",
                n.unobservable, n.requests
            ));
        }
        let w = &mut o.rewritten;
        (w.state, w.why) = state(
            scope,
            w.compared,
            |f| status(f).is_some(),
            "no provider's HTTP error reached the client as the last word on a request",
        );
        if w.compared == 0 && w.not_comparable_refusing > 0 {
            w.state = CheckState::NotObservable;
            w.why = Some(format!(
                "{} request(s) {}",
                w.not_comparable_refusing,
                rewritten::REFUSING
            ));
        }
        o
    }
}

/// `measured` when there were `n` things to judge; else `not_reached` when
/// a fault that would have made some (`would`) starts after the sends
/// ended, else `not_exercised`, with `none` as the reason.
fn state(
    scope: &Scope,
    n: u64,
    would: impl Fn(&Fault) -> bool,
    none: &str,
) -> (CheckState, Option<String>) {
    if n > 0 {
        return (CheckState::Measured, None);
    }
    let late = scope
        .faults
        .iter()
        .find(|f| would(f) && f.start.as_secs_f64() >= scope.sent_until_s);
    match late {
        Some(f) => (
            CheckState::NotReached,
            Some(format!(
                "{none}: the sends ended at {:.1} s, before {} began",
                scope.sent_until_s,
                super::failover::fault_label(f)
            )),
        ),
        None => (CheckState::NotExercised, Some(none.to_string())),
    }
}

/// Whether a fault's error answers carry a Retry-After.
fn sends_retry_after(f: &Fault) -> bool {
    status(f).is_some_and(|s| f.error.retry_after.resolve(s).is_some())
}

/// Whether a fault's error answers must not be retried.
fn sends_non_retryable(f: &Fault) -> bool {
    status(f).is_some_and(|s| !f.error.retryable(s))
}

/// The status a fault answers with, when it answers with one.
fn status(f: &Fault) -> Option<u16> {
    match f.kind {
        FaultKind::OutageHttp { status }
        | FaultKind::ErrorBurst { status }
        | FaultKind::Flapping {
            down: FlapAs::Http { status },
            ..
        } => Some(status),
        _ => None,
    }
}

/// `slb-<n>`, or `untagged`.
fn tag_name(tag: Option<u64>) -> String {
    tag.map_or_else(|| "untagged".into(), crate::protocol::tag::format)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fixes;
#[cfg(test)]
mod tests_flapping;
