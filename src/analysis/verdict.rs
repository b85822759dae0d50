//! SLA checks and the verdict, and the one place verdicts become exit codes.
//!
//! A check is data with a reason: what was measured, against what, and, when
//! it could not be measured, why (`state`). Only a measured check can pass;
//! a check that was not measured, a run that was cut short and a crash
//! inside slabench each have a verdict of their own, and none of them exits 0.

use serde::{Deserialize, Serialize};

use crate::fmt::fmt_ms;

/// The run's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    /// Worse than the stored baseline.
    Regression,
    /// A check could not be measured (e.g. a traffic class that got no
    /// request): nothing failed, but nothing proves the SLA either.
    Unmeasured,
    /// An SLA check failed.
    Fail,
    /// The run was stopped (Ctrl-C, SIGTERM) before its schedule ended: what
    /// it measured is written, but it covers only part of the scenario.
    Interrupted,
    /// The numbers cannot be trusted: the generator could not hold the
    /// schedule, or slabench itself failed (an internal error).
    Invalid,
}

impl Verdict {
    /// The process exit code of this verdict (the codes and their meaning
    /// are listed in `crate::exit`).
    pub fn exit_code(self) -> i32 {
        use crate::exit;
        match self {
            Verdict::Pass => exit::PASS,
            Verdict::Fail => exit::FAIL,
            Verdict::Invalid => exit::INVALID,
            Verdict::Regression => exit::REGRESSION,
            Verdict::Interrupted => exit::INTERRUPTED,
            Verdict::Unmeasured => exit::UNMEASURED,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Invalid => "INVALID",
            Verdict::Regression => "REGRESSION",
            Verdict::Interrupted => "INTERRUPTED",
            Verdict::Unmeasured => "UNMEASURED",
        }
    }
}

/// What a failing check does to the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// An SLA check: failing it makes the run FAIL.
    Sla,
    /// Generator health: failing it makes the run INVALID.
    Generator,
    /// Baseline comparison: failing it makes the run a REGRESSION.
    Baseline,
    /// The run itself: it ran its whole schedule (failing: INTERRUPTED) and
    /// slabench met no internal error (failing: INVALID).
    Run,
}

/// Whether a check could be measured at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    /// Measured: `pass` says whether the target was met.
    #[default]
    Measured,
    /// Nothing to measure: e.g. a traffic class that got no request. Never
    /// a pass; the run is UNMEASURED unless something worse happened.
    NotMeasured,
    /// The run ended (interrupted, or the generator gave up) before the
    /// part of the schedule this check is about. Never a pass.
    NotReached,
    /// The run reached it, but there was nothing to react to: e.g. the
    /// gateway had already stopped sending to the provider before its fault
    /// window began, or no attempt at it failed inside the window. Never a
    /// pass.
    NotExercised,
    /// What happened could not be seen: e.g. refused connections, which
    /// never reach the ledger, when the run could not watch for them.
    /// Never a pass.
    NotObservable,
}

impl CheckState {
    /// `NOT MEASURED`, `NOT REACHED`, `NOT EXERCISED`, `NOT OBSERVABLE`;
    /// `None` when measured.
    pub fn label(self) -> Option<&'static str> {
        match self {
            CheckState::Measured => None,
            CheckState::NotMeasured => Some("NOT MEASURED"),
            CheckState::NotReached => Some("NOT REACHED"),
            CheckState::NotExercised => Some("NOT EXERCISED"),
            CheckState::NotObservable => Some("NOT OBSERVABLE"),
        }
    }
}

/// One row of the verdict table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub kind: CheckKind,
    /// Human-readable target, e.g. `>= 99.900%` or `<= 2500 ms`.
    pub target: String,
    /// Human-readable measured value.
    pub measured: String,
    /// True only for a measured check that met its target.
    pub pass: bool,
    /// Whether it could be measured; absent in files written before it existed.
    #[serde(default)]
    pub state: CheckState,
    /// Why it failed or could not be measured, in words a CI user can act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// Named in the scenario's `[sla] optional`: when it could not be
    /// measured it is shown with its state, but does not make the run
    /// UNMEASURED. A measured optional check that fails still fails.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

impl Check {
    /// `measured <= limit`, both in ms.
    pub fn at_most_ms(name: impl Into<String>, kind: CheckKind, measured: f64, limit: f64) -> Self {
        Check {
            name: name.into(),
            kind,
            target: format!("<= {}", fmt_ms(limit)),
            measured: fmt_ms(measured),
            pass: measured <= limit,
            state: CheckState::Measured,
            why: None,
            optional: false,
        }
    }

    /// A measured check.
    pub fn measured(
        name: impl Into<String>,
        kind: CheckKind,
        target: impl Into<String>,
        measured: impl Into<String>,
        pass: bool,
    ) -> Self {
        Check {
            name: name.into(),
            kind,
            target: target.into(),
            measured: measured.into(),
            pass,
            state: CheckState::Measured,
            why: None,
            optional: false,
        }
    }

    /// A check that could not be measured (`state` other than measured).
    pub fn unmeasured(
        name: impl Into<String>,
        kind: CheckKind,
        target: impl Into<String>,
        state: CheckState,
        why: impl Into<String>,
    ) -> Self {
        debug_assert_ne!(state, CheckState::Measured);
        Check {
            name: name.into(),
            kind,
            target: target.into(),
            measured: "-".into(),
            pass: false,
            state,
            why: Some(why.into()),
            optional: false,
        }
    }

    /// With a reason attached.
    pub fn because(mut self, why: impl Into<String>) -> Self {
        self.why = Some(why.into());
        self
    }

    /// `PASS`, `FAIL`, or the state's label (`NOT MEASURED`, `NOT REACHED`,
    /// `NOT EXERCISED`, `NOT OBSERVABLE`).
    pub fn result_label(&self) -> &'static str {
        match self.state.label() {
            Some(l) => l,
            None if self.pass => "PASS",
            None => "FAIL",
        }
    }

    /// What this check does to the verdict; `None` when it passed, or when
    /// it is optional and could not be measured.
    pub fn verdict(&self) -> Option<Verdict> {
        if self.state != CheckState::Measured {
            return (!self.optional).then_some(Verdict::Unmeasured);
        }
        if self.pass {
            return None;
        }
        Some(match self.kind {
            CheckKind::Generator => Verdict::Invalid,
            CheckKind::Sla => Verdict::Fail,
            CheckKind::Baseline => Verdict::Regression,
            // The run-completion check fails when the run was interrupted;
            // an internal error is a `Run` check too, named as such.
            CheckKind::Run if self.name == INTERNAL_ERROR_CHECK => Verdict::Invalid,
            CheckKind::Run => Verdict::Interrupted,
        })
    }
}

/// The name of the check that fails when slabench met an internal error.
pub const INTERNAL_ERROR_CHECK: &str = "slabench internal errors";
/// The name of the check that fails when the run was interrupted.
pub const COMPLETED_CHECK: &str = "run completed its schedule";

/// The verdict of a set of checks, the worst one deciding: INVALID over
/// INTERRUPTED over FAIL over UNMEASURED over REGRESSION over PASS.
pub fn verdict(checks: &[Check]) -> Verdict {
    checks
        .iter()
        .filter_map(Check::verdict)
        .max()
        .unwrap_or(Verdict::Pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: CheckKind, pass: bool) -> Check {
        Check::measured("c", kind, "", "", pass)
    }

    #[test]
    fn precedence_and_exit_codes() {
        use CheckKind::*;
        assert_eq!(verdict(&[]), Verdict::Pass);
        assert_eq!(
            verdict(&[check(Sla, true), check(Generator, true)]),
            Verdict::Pass
        );
        assert_eq!(
            verdict(&[check(Baseline, false), check(Sla, true)]),
            Verdict::Regression
        );
        assert_eq!(
            verdict(&[check(Baseline, false), check(Sla, false)]),
            Verdict::Fail
        );
        assert_eq!(
            verdict(&[check(Generator, false), check(Sla, false)]),
            Verdict::Invalid
        );
        let codes: Vec<i32> = [
            Verdict::Pass,
            Verdict::Fail,
            Verdict::Invalid,
            Verdict::Regression,
            Verdict::Interrupted,
            Verdict::Unmeasured,
        ]
        .iter()
        .map(|v| v.exit_code())
        .collect();
        assert_eq!(codes, [0, 1, 3, 4, 5, 6]);
    }

    #[test]
    fn nothing_unmeasured_or_cut_short_passes() {
        use CheckKind::*;
        let not_reached =
            Check::unmeasured("ttf", Sla, "<= 1 s", CheckState::NotReached, "interrupted");
        assert!(!not_reached.pass);
        assert_eq!(not_reached.result_label(), "NOT REACHED");
        assert_eq!(
            verdict(&[check(Sla, true), not_reached.clone()]),
            Verdict::Unmeasured
        );
        // A failure outranks a check that could not be measured.
        assert_eq!(
            verdict(&[check(Sla, false), not_reached.clone()]),
            Verdict::Fail
        );
        let interrupted =
            Check::measured(COMPLETED_CHECK, Run, "all stages", "stopped at 3 s", false);
        assert_eq!(
            verdict(&[check(Sla, false), not_reached, interrupted.clone()]),
            Verdict::Interrupted
        );
        let crashed = Check::measured(INTERNAL_ERROR_CHECK, Run, "none", "1 panic", false);
        assert_eq!(verdict(&[interrupted, crashed]), Verdict::Invalid);
        // A state other than measured never counts as a pass, whatever `pass` says.
        let mut forged = Check::measured("x", Sla, "", "", true);
        forged.state = CheckState::NotMeasured;
        assert_eq!(verdict(&[forged]), Verdict::Unmeasured);
    }

    #[test]
    fn not_exercised_or_observable_never_passes_and_optional_only_spares_the_verdict() {
        use CheckKind::*;
        for (state, label) in [
            (CheckState::NotExercised, "NOT EXERCISED"),
            (CheckState::NotObservable, "NOT OBSERVABLE"),
        ] {
            let mut c = Check::unmeasured("ttf", Sla, "<= 1 s", state, "benched since t=13.0 s");
            assert_eq!((c.pass, c.result_label()), (false, label));
            assert_eq!(verdict(&[check(Sla, true), c.clone()]), Verdict::Unmeasured);
            c.optional = true;
            // Still not a pass: shown with its state, only the verdict spares it.
            assert_eq!((c.pass, c.result_label()), (false, label));
            assert_eq!(verdict(&[check(Sla, true), c.clone()]), Verdict::Pass);
            assert_eq!(verdict(&[check(Sla, false), c]), Verdict::Fail);
        }
        // A measured optional check that fails still fails the run.
        let mut failed = check(Sla, false);
        failed.optional = true;
        assert_eq!(verdict(&[failed]), Verdict::Fail);
        let json = serde_json::to_value(Check::unmeasured(
            "x",
            Sla,
            "",
            CheckState::NotExercised,
            "why",
        ))
        .unwrap();
        assert_eq!(json["state"], "not_exercised");
        assert!(json.get("optional").is_none(), "{json}");
    }

    #[test]
    fn a_limit_met_exactly_passes() {
        assert!(Check::at_most_ms("p99", CheckKind::Sla, 10.0, 10.0).pass);
    }
}
