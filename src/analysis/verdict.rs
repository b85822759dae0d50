//! SLA checks and the verdict, and the one place verdicts become exit codes.

use serde::{Deserialize, Serialize};

/// The run's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    /// Worse than the stored baseline.
    Regression,
    /// An SLA check failed.
    Fail,
    /// The harness could not hold the schedule: the numbers cannot be trusted.
    Invalid,
}

impl Verdict {
    /// Exit codes: 0 PASS · 1 FAIL · 2 usage/scenario error · 3 INVALID · 4 REGRESSION.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Invalid => 3,
            Verdict::Regression => 4,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Invalid => "INVALID",
            Verdict::Regression => "REGRESSION",
        }
    }
}

/// Exit code for a usage or scenario error.
pub const EXIT_USAGE: i32 = 2;

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
    pub pass: bool,
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
        }
    }
}

/// `850 ms`, `2.50 s`.
pub fn fmt_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// `99.950%`.
pub fn fmt_pct(ratio: f64) -> String {
    format!("{:.3}%", ratio * 100.0)
}

/// The verdict of a set of checks: INVALID over FAIL over REGRESSION over PASS.
pub fn verdict(checks: &[Check]) -> Verdict {
    checks
        .iter()
        .filter(|c| !c.pass)
        .map(|c| match c.kind {
            CheckKind::Generator => Verdict::Invalid,
            CheckKind::Sla => Verdict::Fail,
            CheckKind::Baseline => Verdict::Regression,
        })
        .max()
        .unwrap_or(Verdict::Pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: CheckKind, pass: bool) -> Check {
        Check {
            name: "c".into(),
            kind,
            target: String::new(),
            measured: String::new(),
            pass,
        }
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
        ]
        .iter()
        .map(|v| v.exit_code())
        .collect();
        assert_eq!(codes, [0, 1, 3, 4]);
    }

    #[test]
    fn formatting() {
        assert_eq!(fmt_ms(2500.0), "2.50 s");
        assert_eq!(fmt_ms(850.4), "850 ms");
        assert_eq!(fmt_ms(1.234), "1.23 ms");
        assert_eq!(fmt_pct(0.9995), "99.950%");
        assert!(Check::at_most_ms("p99", CheckKind::Sla, 10.0, 10.0).pass);
    }
}
