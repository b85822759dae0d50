//! Retry-After: attempts that reached a provider before a Retry-After it
//! had sent was over.
//!
//! An answer from provider P at `a` with Retry-After R holds P's door shut
//! until `a + R`: an attempt arriving at `t` with `a + GRACE < t < a + R` did
//! not wait (whichever request it was for: the gateway is one client of the
//! provider). The grace is for other requests' attempts that were already
//! under way; the same request's own retry (`a < t < a + R`) came after the
//! answer and gets none. Per provider, the answers still in force are kept in arrival
//! order; an attempt looks back only as far as the longest Retry-After seen.
//! Answers leave once their wait ended a minute before the latest answer
//! (an attempt that lasted longer than that is judged against the answers
//! kept), and at most [`KEPT`] per provider stay.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{tag_name, Scope, GRACE_US};
use crate::providers::ledger::Attempt;

/// Answers kept in force per provider, at most.
pub(super) const KEPT: usize = 4096;
/// How long after its wait ended an answer is kept for attempts still
/// being answered (recorded late, but arrived early).
const SLACK_US: i64 = 60_000_000;

/// Retry-After answers and the attempts that did not wait for them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetryAfterOut {
    /// `measured`, or why there was nothing to judge.
    pub state: crate::analysis::CheckState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// Answers that carried a Retry-After.
    pub answers: u64,
    /// Of those, answers before whose end at least one attempt arrived.
    pub not_waited: u64,
    /// Attempts that arrived while a Retry-After was in force.
    pub violations: u64,
    /// ... the same request's own retry,
    pub same_request: u64,
    /// ... or another request's attempt.
    pub other_requests: u64,
    /// The attempt that came earliest before the end of a wait.
    pub worst: Option<Violation>,
    /// Per provider and window (the fault that sent it, or `rate limit`).
    pub rows: Vec<RetryAfterRow>,
}

/// One provider and window of [`RetryAfterOut`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryAfterRow {
    pub provider: String,
    pub window: String,
    pub answers: u64,
    pub not_waited: u64,
    pub violations: u64,
    pub same_request: u64,
    pub other_requests: u64,
    pub worst: Option<Violation>,
}

/// One attempt that did not wait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// `slb-<n>`, or `untagged`.
    pub request: String,
    pub provider: String,
    /// When it arrived, s since t=0.
    pub at_s: f64,
    /// How long before the end of the wait it arrived.
    pub early_ms: f64,
    /// The Retry-After the answer asked for.
    pub retry_after_ms: u32,
}

impl Violation {
    /// `slb-12 at flash 1.9 s early (Retry-After 2 s)`.
    pub fn text(&self) -> String {
        format!(
            "{} at {} {:.1} s early (Retry-After {})",
            self.request,
            self.provider,
            self.early_ms / 1000.0,
            wait_text(self.retry_after_ms)
        )
    }
}

/// `2 s`, or `1.73 s` when the wait is not whole seconds.
fn wait_text(ms: u32) -> String {
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        crate::fmt::fmt_ms(f64::from(ms))
    }
}

impl RetryAfterOut {
    /// `45 of 46`.
    pub fn share_text(&self) -> String {
        format!("{} of {}", self.not_waited, self.answers)
    }
}

#[derive(Debug, Clone, Copy)]
struct Answer {
    at: i64,
    end: i64,
    tag: Option<u64>,
    group: usize,
    ms: u32,
    violated: bool,
}

#[derive(Debug, Default)]
struct Provider {
    /// Sorted by `at`.
    answers: VecDeque<Answer>,
    longest_us: i64,
}

#[derive(Debug, Default, Clone)]
struct Group {
    answers: u64,
    not_waited: u64,
    violations: u64,
    same: u64,
    other: u64,
    /// (how early, µs; the example).
    worst: Option<(i64, Violation)>,
}

pub(super) struct Tally {
    providers: Vec<Provider>,
    /// Per provider × (rate limit, fault 0, fault 1, ...).
    groups: Vec<Group>,
    windows: usize,
    now: i64,
}

impl Tally {
    pub fn new(scope: &Scope) -> Self {
        let windows = scope.faults.len() + 1;
        Tally {
            providers: Vec::new(),
            groups: vec![Group::default(); scope.providers.len() * windows],
            windows,
            now: i64::MIN,
        }
    }

    fn group(&mut self, provider: u16, fault: Option<u16>) -> usize {
        let w = fault
            .map_or(0, |f| usize::from(f) + 1)
            .min(self.windows - 1);
        let i = usize::from(provider) * self.windows + w;
        if i >= self.groups.len() {
            self.groups.resize(i + 1, Group::default());
        }
        i
    }

    pub fn attempt(&mut self, a: &Attempt) {
        let p = usize::from(a.provider);
        if p >= self.providers.len() {
            self.providers.resize_with(p + 1, Provider::default);
        }
        self.now = self.now.max(a.answered_us);
        self.judge(a);
        if let Some(ms) = a.retry_after_ms {
            let group = self.group(a.provider, a.fault);
            self.groups[group].answers += 1;
            let answer = Answer {
                at: a.answered_us,
                end: a.answered_us.saturating_add(i64::from(ms) * 1000),
                tag: a.tag,
                group,
                ms,
                violated: false,
            };
            let state = &mut self.providers[p];
            state.longest_us = state.longest_us.max(i64::from(ms) * 1000);
            let at = state.answers.iter().rposition(|x| x.at <= answer.at);
            state.answers.insert(at.map_or(0, |i| i + 1), answer);
        }
        self.prune(p);
    }

    /// Whether `a` arrived while an answer's Retry-After was in force.
    fn judge(&mut self, a: &Attempt) {
        let t = a.arrived_us;
        let state = &mut self.providers[usize::from(a.provider)];
        let mut worst: Option<Answer> = None;
        let mut same = false;
        // Answers sent before the attempt arrived, latest first, back to
        // the longest wait: earlier ones ended before it.
        let before = state.answers.partition_point(|x| x.at < t);
        for i in (0..before).rev() {
            let x = &mut state.answers[i];
            if x.at < t.saturating_sub(state.longest_us) {
                break;
            }
            // The request's own retry was sent after the answer came back;
            // another request's attempt may have been under way already.
            let own = a.tag.is_some() && x.tag == a.tag;
            let after = if own {
                x.at
            } else {
                x.at.saturating_add(GRACE_US)
            };
            if after < t && t < x.end {
                x.violated = true;
                same |= own;
                if worst.is_none_or(|w| x.end > w.end) {
                    worst = Some(*x);
                }
            }
        }
        let Some(w) = worst else { return };
        let example = Violation {
            request: tag_name(a.tag),
            provider: String::new(),
            at_s: t as f64 / 1e6,
            early_ms: (w.end - t) as f64 / 1000.0,
            retry_after_ms: w.ms,
        };
        let g = &mut self.groups[w.group];
        g.violations += 1;
        if same {
            g.same += 1;
        } else {
            g.other += 1;
        }
        if g.worst.as_ref().is_none_or(|(e, _)| w.end - t > *e) {
            g.worst = Some((w.end - t, example));
        }
    }

    fn prune(&mut self, p: usize) {
        let now = self.now;
        let state = &mut self.providers[p];
        while let Some(x) = state.answers.front().copied() {
            if state.answers.len() <= KEPT && x.end >= now.saturating_sub(SLACK_US) {
                break;
            }
            state.answers.pop_front();
            self.groups[x.group].not_waited += u64::from(x.violated);
        }
    }

    /// The most answers any provider keeps.
    #[cfg(test)]
    pub fn kept(&self) -> usize {
        self.providers
            .iter()
            .map(|p| p.answers.len())
            .max()
            .unwrap_or(0)
    }

    pub fn finish(mut self, scope: &Scope) -> RetryAfterOut {
        for state in &mut self.providers {
            for x in state.answers.drain(..) {
                self.groups[x.group].not_waited += u64::from(x.violated);
            }
        }
        let mut out = RetryAfterOut::default();
        let mut worst: Option<(i64, Violation)> = None;
        for (i, g) in self.groups.into_iter().enumerate() {
            if g.answers == 0 && g.violations == 0 {
                continue;
            }
            let provider = scope.provider((i / self.windows) as u16);
            let w = i % self.windows;
            let fault = w.checked_sub(1).map(|f| f as u16);
            let example = g.worst.map(|(e, mut v)| {
                v.provider = provider.clone();
                (e, v)
            });
            if let Some((e, v)) = &example {
                if worst.as_ref().is_none_or(|(we, _)| e > we) {
                    worst = Some((*e, v.clone()));
                }
            }
            out.answers += g.answers;
            out.not_waited += g.not_waited;
            out.violations += g.violations;
            out.same_request += g.same;
            out.other_requests += g.other;
            out.rows.push(RetryAfterRow {
                provider,
                window: scope.window(fault),
                answers: g.answers,
                not_waited: g.not_waited,
                violations: g.violations,
                same_request: g.same,
                other_requests: g.other,
                worst: example.map(|(_, v)| v),
            });
        }
        out.worst = worst.map(|(_, v)| v);
        out
    }
}
