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
    /// No truncated, wrong or malformed answer passed as a success.
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
    /// Nothing to score: the run could not be made, was INVALID or
    /// interrupted, the fault never fired, or a primary criterion (or a
    /// check the run required) could not be measured. Never a pass.
    NotMeasured,
}

impl Score {
    pub fn as_str(self) -> &'static str {
        match self {
            Score::Pass => "pass",
            Score::Partial => "partial",
            Score::Fail => "fail",
            Score::NotMeasured => "not measured",
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
            let (state, measured, reason) = judge(case, c, s);
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
            Score::NotMeasured,
            "the run came out INVALID: its numbers cannot be trusted, so nothing is scored".into(),
        ),
        Verdict::Interrupted => (
            Score::NotMeasured,
            "the run was INTERRUPTED before its schedule ended, so the case is not proven".into(),
        ),
        _ => with_verdict(combine(&marks), s),
    };
    Scored {
        score,
        reason,
        marks,
    }
}

/// A pass stands only on a run whose own verdict is PASS: a failed check
/// no criterion reads fails the case, a required check the run could not
/// measure makes it not measured. The scorecard never says more than the
/// case's run directory does.
fn with_verdict(scored: (Score, String), s: &Summary) -> (Score, String) {
    let line = |c: &Check| {
        let why = c.why.as_deref().unwrap_or("");
        format!("{}: {} against {} {why}", c.name, c.measured, c.target)
            .trim()
            .to_string()
    };
    // A gateway that died mid-run fails every case, whatever came before.
    if let Some(c) = s
        .checks
        .iter()
        .find(|c| c.name == GATEWAY_UP && c.state == CheckState::Measured && !c.pass)
    {
        return (Score::Fail, format!("the gateway died: {}", line(c)));
    }
    if scored.0 == Score::Fail || scored.0 == Score::Partial {
        return scored;
    }
    match s.verdict {
        // A measured failure is never hidden behind "not measured".
        Verdict::Fail => match s
            .checks
            .iter()
            .find(|c| c.state == CheckState::Measured && !c.pass)
        {
            Some(c) => (Score::Fail, format!("failed: {}", line(c))),
            None => (Score::Fail, "the run's verdict is FAIL".into()),
        },
        Verdict::Unmeasured if scored.0 == Score::Pass => {
            let names = s
                .checks
                .iter()
                .filter(|c| c.state != CheckState::Measured && !c.optional)
                .map(|c| {
                    let state = c.state.label().unwrap_or("not measured").to_lowercase();
                    format!("{} ({state})", c.name)
                })
                .collect::<Vec<_>>()
                .join(", ");
            (
                Score::NotMeasured,
                format!("the run's verdict is UNMEASURED: {names}"),
            )
        }
        _ => scored,
    }
}

/// Fail on a failed primary criterion; partial on a failed secondary one;
/// not measured when a primary one could not be measured; pass only when
/// every primary one passed.
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
        (false, true) => (Score::NotMeasured, format!("not measured: {unmeasured}")),
        (true, false) => (Score::Partial, format!("secondary failed: {failed}")),
        (false, false) => (
            Score::Partial,
            format!("not measured: {unmeasured}; secondary failed: {failed}"),
        ),
    }
}

type Judged = (State, String, String);

fn judge(case: &Case, c: Criterion, s: &Summary) -> Judged {
    match c {
        // With nowhere to fail over to, reacting means answering the
        // error fast: judged over every request in the fault's window.
        Criterion::Reacted if case.required.contains(&"p99") => answered_fast(s),
        Criterion::Survived => checks(s, &|n| n == "uptime" || n == GATEWAY_UP),
        Criterion::NoBadSuccess => bad_success(s),
        Criterion::Obeyed => checks(s, &|n| {
            [RETRY_AFTER, NON_RETRYABLE, REWRITTEN, FLAPPING]
                .iter()
                .any(|p| n.starts_with(p))
        }),
        Criterion::Reacted => checks(s, &|n| n.starts_with("time to failover")),
        Criterion::Amplification => checks(s, &|n| n == "upstream amplification"),
        Criterion::Recovered => recovered(s),
    }
}

/// The check that the gateway under test did not die mid-run.
const GATEWAY_UP: &str = "gateway process stayed up";

/// A 200 the client could not use is a bad success as much as a truncated
/// or wrong answer: a stream that ended cleanly but short, an answer that
/// is not the provider's, a body that is not a chat completion.
fn bad_success(s: &Summary) -> Judged {
    let n = |k: &str| s.requests.by_outcome.get(k).copied().unwrap_or(0);
    let (t, w, m) = (n("truncated_answer"), n("wrong_answer"), n("malformed"));
    let measured = format!(
        "{t} truncated, {w} wrong, {m} malformed of {} counted",
        s.requests.counted
    );
    if s.requests.counted == 0 {
        return (
            State::NotMeasured,
            measured,
            "no request was counted".into(),
        );
    }
    if t + w + m == 0 {
        (
            State::Pass,
            measured,
            "no broken answer passed as a success".into(),
        )
    } else {
        (
            State::Fail,
            measured,
            format!("{} broken answer(s) reached the client as 200s", t + w + m),
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

/// How fast the client heard back, errors included, inside the fault
/// windows: the p99 of every counted request must be within the case's
/// 3 s. The run's own p99 check covers only successful requests, which
/// with every provider down are the ones outside the window.
fn answered_fast(s: &Summary) -> Judged {
    const LIMIT_MS: f64 = 3000.0;
    let worst = s
        .failover
        .iter()
        .flat_map(|f| &f.windows)
        .filter_map(|w| w.all_p99_ms.map(|p| (p, w.requests)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let Some((p99, n)) = worst else {
        return (
            State::NotMeasured,
            String::new(),
            "no request was counted inside the fault windows".into(),
        );
    };
    let measured =
        format!("p99 {p99:.0} ms over {n} requests in the window, errors included (<= 3 s)");
    if p99 <= LIMIT_MS {
        (State::Pass, measured, "errors came back within 3 s".into())
    } else {
        (
            State::Fail,
            measured,
            format!(
                "the client waited {:.1} s at p99 for its answer or error",
                p99 / 1000.0
            ),
        )
    }
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
