//! Scoring one case from its run's summary: each criterion from the
//! checks and counts the run measured, never a pass from what it could
//! not measure.

use serde::{Deserialize, Serialize};

use super::battery::Case;
use crate::analysis::obedience::{FLAPPING, NON_RETRYABLE, RETRY_AFTER, REWRITTEN};
use crate::analysis::verdict::{Check, CheckState, Verdict};
use crate::results::Summary;

/// What a case is judged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// Requests survived: the uptime check against the case's target.
    Survived,
    /// No truncated or wrong answer passed as a success.
    NoBadSuccess,
    /// Obeyed Retry-After, non-retryable errors, errors relayed unchanged.
    Obeyed,
    /// Reacted within the time limit (time to failover; for all-down, p99).
    Reacted,
    /// Attempts per request bounded.
    Amplification,
    /// Traffic came back after the outage.
    Recovered,
}

impl Criterion {
    pub const ALL: [Criterion; 6] = [
        Criterion::Survived,
        Criterion::NoBadSuccess,
        Criterion::Obeyed,
        Criterion::Reacted,
        Criterion::Amplification,
        Criterion::Recovered,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Criterion::Survived => "survived",
            Criterion::NoBadSuccess => "no_bad_success",
            Criterion::Obeyed => "obeyed",
            Criterion::Reacted => "reacted",
            Criterion::Amplification => "amplification",
            Criterion::Recovered => "recovered",
        }
    }
}

/// A criterion's mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pass,
    Fail,
    NotMeasured,
}

/// A case's score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Score {
    Pass,
    Partial,
    Fail,
}

impl Score {
    pub fn as_str(self) -> &'static str {
        match self {
            Score::Pass => "pass",
            Score::Partial => "partial",
            Score::Fail => "fail",
        }
    }
}

/// One criterion of one case, with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    pub name: Criterion,
    pub state: State,
    /// Whether it decides pass or fail for this case.
    pub primary: bool,
    /// The measured numbers, in words.
    pub measured: String,
    /// Why this mark, in one line.
    pub reason: String,
}

/// A case's score, why, and its marks.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub score: Score,
    pub reason: String,
    pub marks: Vec<Mark>,
}

/// Scores a case from its run.
pub fn score(case: &Case, s: &Summary) -> Scored {
    let marks: Vec<Mark> = case
        .criteria()
        .into_iter()
        .map(|c| {
            let (state, measured, reason) = judge(c, s);
            Mark {
                name: c,
                state,
                primary: case.primary.contains(&c),
                measured,
                reason,
            }
        })
        .collect();
    let (score, reason) = match s.verdict {
        Verdict::Invalid => (
            Score::Fail,
            "the run came out INVALID: its numbers cannot be trusted, so nothing is scored as passed".into(),
        ),
        Verdict::Interrupted => (
            Score::Fail,
            "the run was INTERRUPTED before its schedule ended, so the case is not proven".into(),
        ),
        _ => combine(&marks),
    };
    Scored {
        score,
        reason,
        marks,
    }
}

/// Fail on a failed primary criterion; partial on a failed secondary one
/// or an unmeasured primary one; pass only when every primary one passed.
pub fn combine(marks: &[Mark]) -> (Score, String) {
    let names = |f: &dyn Fn(&Mark) -> bool| {
        marks
            .iter()
            .filter(|m| f(m))
            .map(|m| m.name.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let failed_primary = names(&|m| m.primary && m.state == State::Fail);
    if !failed_primary.is_empty() {
        return (Score::Fail, format!("failed: {failed_primary}"));
    }
    let unmeasured = names(&|m| m.primary && m.state == State::NotMeasured);
    let failed = names(&|m| m.state == State::Fail);
    match (unmeasured.is_empty(), failed.is_empty()) {
        (true, true) => (
            Score::Pass,
            "every primary criterion measured and passed".into(),
        ),
        (false, true) => (Score::Partial, format!("not measured: {unmeasured}")),
        (true, false) => (Score::Partial, format!("secondary failed: {failed}")),
        (false, false) => (
            Score::Partial,
            format!("not measured: {unmeasured}; secondary failed: {failed}"),
        ),
    }
}

type Judged = (State, String, String);

fn judge(c: Criterion, s: &Summary) -> Judged {
    match c {
        Criterion::Survived => checks(s, &|n| n == "uptime"),
        Criterion::NoBadSuccess => bad_success(s),
        Criterion::Obeyed => checks(s, &|n| {
            [RETRY_AFTER, NON_RETRYABLE, REWRITTEN, FLAPPING]
                .iter()
                .any(|p| n.starts_with(p))
        }),
        Criterion::Reacted => checks(s, &|n| {
            n.starts_with("time to failover") || n.ends_with("latency p99")
        }),
        Criterion::Amplification => checks(s, &|n| n == "upstream amplification"),
        Criterion::Recovered => recovered(s),
    }
}

fn bad_success(s: &Summary) -> Judged {
    let n = |k: &str| s.requests.by_outcome.get(k).copied().unwrap_or(0);
    let (t, w) = (n("truncated_answer"), n("wrong_answer"));
    let measured = format!("{t} truncated, {w} wrong of {} counted", s.requests.counted);
    if s.requests.counted == 0 {
        return (
            State::NotMeasured,
            measured,
            "no request was counted".into(),
        );
    }
    if t + w == 0 {
        (
            State::Pass,
            measured,
            "no broken answer passed as a success".into(),
        )
    } else {
        (
            State::Fail,
            measured,
            format!("{} broken answer(s) reached the client as 200s", t + w),
        )
    }
}

/// The mark of the checks `pick` names: fail if a measured one failed;
/// not measured if none was measured, or a required one was not; else pass.
fn checks(s: &Summary, pick: &dyn Fn(&str) -> bool) -> Judged {
    let found: Vec<&Check> = s.checks.iter().filter(|c| pick(&c.name)).collect();
    let measured = found
        .iter()
        .map(|c| format!("{} {} ({})", c.name, c.measured, c.target))
        .collect::<Vec<_>>()
        .join("; ");
    let state_word = |c: &Check| c.state.label().unwrap_or("measured").to_lowercase();
    if let Some(c) = found
        .iter()
        .find(|c| c.state == CheckState::Measured && !c.pass)
    {
        let why = c.why.clone().unwrap_or_default();
        return (
            State::Fail,
            measured,
            format!("{}: {} against {} {why}", c.name, c.measured, c.target)
                .trim()
                .to_string(),
        );
    }
    let missing = found
        .iter()
        .find(|c| c.state != CheckState::Measured && !c.optional)
        .or_else(|| {
            found
                .iter()
                .all(|c| c.state != CheckState::Measured)
                .then(|| found.first())
                .flatten()
        });
    if let Some(c) = missing {
        let why = c.why.clone().unwrap_or_default();
        return (
            State::NotMeasured,
            measured,
            format!("{}: {} {why}", c.name, state_word(c))
                .trim()
                .to_string(),
        );
    }
    if found.is_empty() {
        return (
            State::NotMeasured,
            measured,
            "the run has no such check".into(),
        );
    }
    (
        State::Pass,
        measured,
        "every measured check met its target".into(),
    )
}

fn recovered(s: &Summary) -> Judged {
    let Some(f) = &s.failover else {
        return (
            State::NotMeasured,
            String::new(),
            "no failover analysis in this run".into(),
        );
    };
    let windows: Vec<_> = f
        .windows
        .iter()
        .filter(|w| w.fault.starts_with("outage"))
        .collect();
    if windows.is_empty() {
        return (State::NotMeasured, String::new(), "no outage window".into());
    }
    let measured = windows
        .iter()
        .map(|w| match w.time_to_recover_s {
            Some(t) => format!("{} back after {t:.1} s", w.provider),
            None => format!("{} never back", w.provider),
        })
        .collect::<Vec<_>>()
        .join("; ");
    if windows.iter().all(|w| w.time_to_recover_s.is_some()) {
        (
            State::Pass,
            measured,
            "traffic returned after every outage".into(),
        )
    } else if windows.iter().any(|w| w.time_to_failover_s.is_some()) {
        (
            State::Fail,
            measured,
            "traffic left the provider and never came back".into(),
        )
    } else {
        let why = windows[0]
            .why
            .clone()
            .unwrap_or_else(|| "traffic never left".into());
        (
            State::NotMeasured,
            measured,
            format!("nothing to recover from: {why}"),
        )
    }
}
