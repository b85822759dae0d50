//! `--start-at`: whether the load began on the common clock. Several
//! processes (shards, providers) share one t=0; a shard whose load began
//! later than the generator's lag limit did not keep the schedule the
//! others kept, so its numbers are INVALID, like a generator that lagged.

use super::verdict::{Check, CheckKind};
use crate::fmt::fmt_ms;

/// The check's name in every report.
pub const START_CHECK: &str = "generator started at --start-at";

/// How the load began against `--start-at`.
#[derive(Debug, Clone, PartialEq)]
pub struct StartFact {
    /// `--start-at` in RFC 3339 (UTC).
    pub start_at: String,
    /// How late the load was ready to begin, ms (0 when on time).
    pub late_ms: f64,
    /// False when it was too late and nothing was sent.
    pub sent: bool,
}

/// Passes when the load began within `limit_ms` of `--start-at`; otherwise
/// fails (INVALID) with a plain sentence.
pub fn check(f: &StartFact, limit_ms: f64) -> Check {
    let mut c = Check::at_most_ms(START_CHECK, CheckKind::Generator, f.late_ms, limit_ms);
    c.measured = format!("{} late", fmt_ms(f.late_ms));
    if !c.pass {
        c.why = Some(format!(
            "{} {} after --start-at {}; the lag limit is {}: this shard's schedule is not the \
             one the other shards and providers kept{}",
            if f.sent { "started" } else { "was ready" },
            fmt_ms(f.late_ms),
            f.start_at,
            fmt_ms(limit_ms),
            if f.sent {
                ""
            } else {
                ", so its load was not sent (give a --start-at far enough ahead for the \
                 slowest process to get ready)"
            }
        ));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::verdict::{verdict, Verdict};

    fn fact(late_ms: f64, sent: bool) -> StartFact {
        StartFact {
            start_at: "2026-12-03T18:00:00Z".into(),
            late_ms,
            sent,
        }
    }

    #[test]
    fn a_load_that_began_within_the_lag_limit_passes() {
        let c = check(&fact(0.4, true), 5.0);
        assert!(c.pass && c.why.is_none(), "{c:?}");
        assert_eq!(verdict(&[c]), Verdict::Pass);
    }

    #[test]
    fn a_late_start_is_invalid_and_says_why_in_a_sentence() {
        let c = check(&fact(830.0, true), 5.0);
        assert_eq!(verdict(std::slice::from_ref(&c)), Verdict::Invalid);
        let why = c.why.unwrap();
        assert!(
            why.starts_with("started 830")
                && why.contains("after --start-at 2026-12-03T18:00:00Z; the lag limit is 5")
                && why.contains(
                    "this shard's schedule is not the one the other shards and providers kept"
                ),
            "{why}"
        );
        let c = check(&fact(3200.0, false), 5.0);
        assert_eq!(verdict(std::slice::from_ref(&c)), Verdict::Invalid);
        let why = c.why.unwrap();
        assert!(
            why.starts_with("was ready 3") && why.contains("not sent"),
            "{why}"
        );
    }
}
