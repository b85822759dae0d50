//! "What the gateway did": the run's failover facts told in words, built
//! once from the Summary so that report.html and summary.md say the same
//! thing. Per fault window, one paragraph: when the gateway first met the
//! fault, how many requests it sent into it, when it moved and where, what
//! failed and whose error it was, and the state of the window's check. Then
//! the gateway's own account against the providers' ledger as a table.
//!
//! Only words and tables here: every number comes from the analysis, and a
//! window that was not measured says so and why, never a time.

use std::collections::BTreeMap;

use super::table::{Mark, Row, Table};
use crate::analysis::account::{AccountReport, FallbacksBetween};
use crate::analysis::failover::{Report, SecondFlow, Window, WindowState};
use crate::analysis::{Check, CheckState};
use crate::results::Summary;

/// One fault window, told.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowStory {
    /// `outage (503) on flash, 3–7 s`.
    pub title: String,
    /// `measured`, `never`, `not exercised`, ...
    pub state: &'static str,
    pub mark: Mark,
    /// The paragraph.
    pub text: String,
}

/// The whole section.
#[derive(Debug, Clone, PartialEq)]
pub struct Story {
    /// Run-wide facts, one sentence each.
    pub lead: Vec<String>,
    pub windows: Vec<WindowStory>,
    /// The gateway's account against the ledger, when its answers carried one.
    pub account: Option<Table>,
    /// What the account comparison could not compare, or how it counted.
    pub account_notes: Vec<String>,
}

/// The story of a run with a providers' ledger; `None` without one.
pub fn story(s: &Summary) -> Option<Story> {
    let f = s.failover.as_ref()?;
    Some(Story {
        lead: lead(s, f),
        windows: f
            .windows
            .iter()
            .map(|w| window(w, &f.per_second, &s.checks))
            .collect(),
        account: f.gateway_account.as_ref().map(account),
        account_notes: f
            .gateway_account
            .as_ref()
            .map(account_notes)
            .unwrap_or_default(),
    })
}

/// The run-wide facts: events, the gateway's own errors, answers, overhead.
fn lead(s: &Summary, f: &Report) -> Vec<String> {
    let mut out = vec![format!(
        "Requests with a failed first attempt: {}. Failed over to another provider: {}{}; retried on the same one: {}; failed everywhere: {}. Upstream amplification {:.3}× ({} attempts in the ledger{}).",
        f.events,
        f.failovers,
        if f.group_moves > 0 {
            format!("; moved to another deployment of the same group: {}", f.group_moves)
        } else {
            String::new()
        },
        f.retries,
        f.exhausted,
        f.amplification,
        f.attempts,
        f.refused_connections
            .filter(|n| *n > 0)
            .map(|n| format!(", plus {n} refused connections"))
            .unwrap_or_default(),
    )];
    match &s.requests.gateway_errors {
        Some(g) if g.count > 0 => out.push(format!(
            "The gateway answered {} failed requests itself, without trying any provider: {}. {} failed requests were provider errors it passed through.",
            g.count,
            g.lines().join("; "),
            f.provider_errors_passed_through
        )),
        Some(_) => out.push(format!(
            "The gateway made no error of its own (no failed request lacked a provider attempt); {} failed requests were provider errors it passed through.",
            f.provider_errors_passed_through
        )),
        None => {}
    }
    let bad_answers: Vec<String> = ["truncated_answer", "wrong_answer"]
        .iter()
        .filter_map(|o| {
            let n = s.requests.by_outcome.get(*o).copied().unwrap_or(0);
            (n > 0).then(|| format!("{n} {o}"))
        })
        .collect();
    if !bad_answers.is_empty() {
        out.push(format!(
            "Answers the gateway delivered as complete but that were not what the provider sent: {} (failed requests, counted against uptime).",
            bad_answers.join(", ")
        ));
    }
    out.push(format!("Answers: {}.", f.answers.describe()));
    if let Some(o) = &s.gateway_overhead_ms {
        out.push(format!("{}.", upper_first(&o.headline())));
    }
    out
}

fn window(w: &Window, per_second: &[SecondFlow], checks: &[Check]) -> WindowStory {
    let end = w
        .end_s
        .map_or("the end".to_string(), |e| format!("{e:.0} s"));
    let mut text = match w.state {
        WindowState::Measured => measured(w, per_second),
        WindowState::Never => format!(
            "The gateway met the fault at t={:.1} s (its first failed attempt at {}) and kept sending to it until the window ended: {} requests went into the fault.",
            w.met_fault_s.unwrap_or(w.start_s),
            w.provider,
            w.sent_into_fault.unwrap_or(0)
        ),
        _ => format!(
            "Nothing here is a reaction time: {}.",
            w.why.as_deref().unwrap_or("no reason recorded")
        ),
    };
    if w.state != WindowState::NotReached {
        text.push(' ');
        text.push_str(&failures(w));
    }
    let check = window_check(w, checks);
    if let Some(c) = check {
        text.push(' ');
        text.push_str(&check_sentence(c));
    }
    WindowStory {
        title: format!("{}, {:.0} s – {end}", w.fault, w.start_s),
        state: w.state.label(),
        mark: match (w.state, check) {
            (_, Some(c)) if c.state != CheckState::Measured => Mark::Unmeasured,
            (_, Some(c)) if c.pass => Mark::Pass,
            (_, Some(_)) => Mark::Fail,
            (WindowState::Never, None) => Mark::Fail,
            (WindowState::Measured, None) => Mark::Plain,
            _ => Mark::Unmeasured,
        },
        text,
    }
}

/// A measured reaction: met, sent into, moved where, came back.
fn measured(w: &Window, per_second: &[SecondFlow]) -> String {
    let (Some(met), Some(ttf)) = (w.met_fault_s, w.time_to_failover_s) else {
        // A file written before reactions were timed.
        return match w.time_to_failover_s {
            Some(t) => format!(
                "First attempts left {} {t:.1} s into the window (timed from its start: a file written before reactions were timed).",
                w.provider
            ),
            None => "No time to failover is recorded for this window (a file written before window states).".to_string(),
        };
    };
    let moved = met + ttf;
    let to = destinations(w, per_second, moved);
    let mut t = format!(
        "The gateway met the fault at t={met:.1} s (the first request whose first attempt at {} failed), sent {} more requests into it, and left {} {ttf:.1} s later (t={moved:.1} s){}.",
        w.provider,
        w.sent_into_fault.unwrap_or(0),
        w.provider,
        if to.is_empty() {
            String::new()
        } else {
            format!(", sending first attempts to {to} instead")
        }
    );
    match w.time_to_recover_s {
        Some(r) => t.push_str(&format!(
            " Traffic came back to {} {r:.1} s after the window.",
            w.provider
        )),
        None if w.end_s.is_some() => t.push_str(&format!(
            " Traffic did not come back to {} before the run ended.",
            w.provider
        )),
        None => {}
    }
    t
}

/// Where first attempts went from `from_s` to the window's end instead of
/// the window's provider: `qwen (61%), flash-b (39%)`.
fn destinations(w: &Window, per_second: &[SecondFlow], from_s: f64) -> String {
    let end = w.end_s.unwrap_or(f64::INFINITY);
    let mut to: BTreeMap<&str, u64> = BTreeMap::new();
    for sec in per_second
        .iter()
        .filter(|s| f64::from(s.t) + 1.0 > from_s && f64::from(s.t) < end)
    {
        for (p, n) in &sec.first_attempts {
            if *p != w.provider {
                *to.entry(p).or_default() += u64::from(*n);
            }
        }
    }
    let total: u64 = to.values().sum();
    let mut v: Vec<(&str, u64)> = to.into_iter().filter(|(_, n)| *n > 0).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(p, n)| format!("{p} ({:.0}%)", 100.0 * *n as f64 / total as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What failed inside the window, and whose error it was.
fn failures(w: &Window) -> String {
    let by = w.errors_by_outcome_text();
    format!(
        "Of {} requests meant to leave in the window, {} failed after an attempt at {}{}, {} were the gateway's own errors (no provider attempt){}.",
        w.requests,
        w.errors,
        if w.fault.starts_with("outage (refused") {
            "a provider".to_string()
        } else {
            w.provider.clone()
        },
        if by.is_empty() {
            String::new()
        } else {
            format!(" ({by})")
        },
        w.gateway_errors,
        if w.errors_elsewhere > 0 {
            format!(
                ", and {} failed at other providers only (not this fault's doing)",
                w.errors_elsewhere
            )
        } else {
            String::new()
        }
    )
}

/// The time-to-failover check of this window, if the SLA asks for one.
fn window_check<'a>(w: &Window, checks: &'a [Check]) -> Option<&'a Check> {
    let name = format!("time to failover: {}", w.fault);
    let mut same = checks.iter().filter(|c| c.name == name);
    // Several providers can share a fault label; then the check's text
    // names the provider only through the window order, so show none
    // rather than the wrong one.
    let first = same.next()?;
    same.next().is_none().then_some(first)
}

fn check_sentence(c: &Check) -> String {
    match c.state.label() {
        None => format!(
            "Check \u{201c}{}\u{201d}: {} ({} against {}).",
            c.name,
            if c.pass { "PASS" } else { "FAIL" },
            c.measured,
            c.target
        ),
        Some(label) => format!(
            "Check \u{201c}{}\u{201d}: {label}{}, not a pass.",
            c.name,
            if c.optional { " (optional)" } else { "" }
        ),
    }
}

/// The gateway's account against the ledger, one row per figure.
fn account(a: &AccountReport) -> Table {
    let row = |what: &str, gateway: String, ledger: String, agree: Option<bool>| Row {
        cells: vec![what.to_string(), gateway, ledger],
        mark: match agree {
            Some(true) => Mark::Pass,
            Some(false) => Mark::Fail,
            None => Mark::Plain,
        },
        note: None,
        detail: false,
    };
    let d = &a.disagreements;
    let attempts_agree = d.attempts_unreported + d.attempts_unseen == 0;
    let fallbacks_agree = d.fallbacks_unreported + d.fallbacks_unseen == 0;
    Table {
        columns: vec!["figure", "the gateway says", "the ledger shows"],
        rows: vec![
            row(
                "requests with an account",
                a.requests.to_string(),
                format!("{} agree", a.agreeing),
                Some(a.agreeing == a.requests),
            ),
            row(
                "attempts",
                format!(
                    "{}{}",
                    a.gateway_attempts,
                    if a.attempts_exact { "" } else { " (at least)" }
                ),
                a.ledger_attempts.to_string(),
                Some(attempts_agree),
            ),
            row(
                "fallbacks",
                a.gateway_fallbacks.to_string(),
                a.ledger_fallbacks.to_string(),
                Some(fallbacks_agree),
            ),
            row("retries", a.gateway_retries.to_string(), "—".into(), None),
            row(
                "served by another provider than the gateway named",
                "—".into(),
                d.served_by.to_string(),
                Some(d.served_by == 0),
            ),
            row(
                "attempts explained by refused connections",
                "—".into(),
                a.explained_by_refused_connections.to_string(),
                None,
            ),
        ],
    }
}

fn account_notes(a: &AccountReport) -> Vec<String> {
    let mut out = vec![format!(
        "Read from {} headers; {} requests that reached a provider had no account.",
        a.dialects.join(", "),
        a.requests_without_account
    )];
    if !a.attempts_exact {
        out.push(
            "This gateway reports retries of its last hop only, so its attempts are a lower bound."
                .into(),
        );
    }
    if a.fallbacks_between == FallbacksBetween::Groups {
        out.push(
            "Fallbacks are counted between deployment groups: a move between two deployments of one group is a retry, as this gateway counts it."
                .into(),
        );
    }
    if let Some(r) = &a.refusals {
        out.push(match (&r.why_not_observable, r.refused_connections) {
            (Some(why), _) => format!(
                "{} requests claim {} attempts no provider received while a provider refused connections; refused connections were not observable ({why}), so none is explained.",
                r.requests, r.attempts_claimed
            ),
            (None, n) => format!(
                "{} requests claim {} attempts no provider received while a provider refused connections; {} refused connections were seen, which {} them.",
                r.requests,
                r.attempts_claimed,
                n.unwrap_or(0),
                if r.explained { "cover" } else { "do not cover" }
            ),
        });
    }
    let d = &a.disagreements;
    for (n, what) in [
        (
            d.fallbacks_unreported,
            "fallbacks the gateway did not report",
        ),
        (
            d.fallbacks_unseen,
            "fallbacks it reported that no provider saw",
        ),
        (
            d.attempts_unreported,
            "requests with attempts it did not report",
        ),
        (
            d.attempts_unseen,
            "requests with attempts it reported that no provider saw",
        ),
    ] {
        if n > 0 {
            out.push(format!("{n} {what}."));
        }
    }
    out
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::gateway_errors::{GatewayErrorMessage, GatewayErrors};
    use crate::analysis::CheckKind;
    use crate::report::synthetic::{run_data, Shape};

    fn summary() -> Summary {
        run_data(&Shape {
            seconds: 20,
            classes: 1,
            providers: 3,
            rps: 10,
            name: "story".into(),
        })
        .summary
    }

    fn flows(t: u32, first: &[(&str, u32)]) -> SecondFlow {
        SecondFlow {
            t,
            sent: 10,
            amplification: 1.0,
            attempts: BTreeMap::new(),
            first_attempts: first.iter().map(|(p, n)| (p.to_string(), *n)).collect(),
            served: BTreeMap::new(),
        }
    }

    fn ttf_check(w: &Window, c: Check) -> Vec<Check> {
        vec![Check {
            name: format!("time to failover: {}", w.fault),
            ..c
        }]
    }

    #[test]
    fn a_measured_window_says_when_it_met_the_fault_how_much_went_in_and_where_it_went() {
        let mut w = summary().failover.unwrap().windows[0].clone();
        w.start_s = 3.0;
        w.end_s = Some(7.0);
        w.state = WindowState::Measured;
        w.met_fault_s = Some(3.2);
        w.sent_into_fault = Some(4);
        w.time_to_failover_s = Some(0.8);
        w.time_to_recover_s = Some(1.0);
        w.provider = "flash".into();
        let per_second = [
            flows(2, &[("flash", 10)]),
            flows(3, &[("flash", 5), ("qwen", 3), ("flash-b", 1)]),
            flows(4, &[("qwen", 6), ("flash-b", 2)]),
            flows(8, &[("r1", 100)]),
        ];
        let checks = ttf_check(
            &w,
            Check::measured("", CheckKind::Sla, "<= 5.0 s", "0.8 s", true),
        );
        let st = window(&w, &per_second, &checks);
        assert_eq!(st.mark, Mark::Pass);
        for part in [
            "met the fault at t=3.2 s",
            "sent 4 more requests into it",
            "left flash 0.8 s later (t=4.0 s)",
            "to qwen (75%), flash-b (25%) instead",
            "came back to flash 1.0 s after the window",
            ": PASS (0.8 s against <= 5.0 s)",
        ] {
            assert!(st.text.contains(part), "{part:?} not in {:?}", st.text);
        }
        // After the window, traffic elsewhere is not where it moved.
        assert!(!st.text.contains("r1"), "{}", st.text);
    }

    #[test]
    fn a_window_with_nothing_to_react_to_gives_no_time_and_no_pass() {
        let mut w = summary().failover.unwrap().windows[0].clone();
        w.state = WindowState::NotExercised;
        w.time_to_failover_s = None;
        w.why = Some("flash had no traffic when the window began: benched since t=13.0 s".into());
        let mut c = Check::unmeasured(
            "",
            CheckKind::Sla,
            "<= 5.0 s",
            CheckState::NotExercised,
            "benched",
        );
        c.optional = true;
        let st = window(&w, &[], &ttf_check(&w, c));
        assert_eq!((st.mark, st.state), (Mark::Unmeasured, "not exercised"));
        assert!(st.text.contains("benched since t=13.0 s"), "{}", st.text);
        assert!(
            st.text.contains("NOT EXERCISED (optional), not a pass"),
            "{}",
            st.text
        );
        assert!(!st.text.contains("PASS ("), "{}", st.text);
        assert!(!st.text.contains("left flash"), "{}", st.text);
    }

    #[test]
    fn a_gateway_that_never_left_is_a_failure_even_without_a_check() {
        let mut w = summary().failover.unwrap().windows[0].clone();
        w.state = WindowState::Never;
        w.met_fault_s = Some(40.5);
        w.sent_into_fault = Some(87);
        w.time_to_failover_s = None;
        let st = window(&w, &[], &[]);
        assert_eq!(st.mark, Mark::Fail);
        assert!(st
            .text
            .contains("kept sending to it until the window ended: 87 requests"));
    }

    #[test]
    fn the_lead_names_the_gateways_own_errors_and_bad_answers() {
        let mut s = summary();
        s.requests.gateway_errors = Some(GatewayErrors {
            count: 12,
            by_message: vec![GatewayErrorMessage {
                status: Some(429),
                message: "No deployments available for selected model".into(),
                count: 12,
            }],
        });
        s.requests.by_outcome.insert("truncated_answer".into(), 16);
        let st = story(&s).unwrap();
        let lead = st.lead.join("\n");
        assert!(
            lead.contains("answered 12 failed requests itself, without trying any provider: 429 \"No deployments available for selected model\" ×12"),
            "{lead}"
        );
        assert!(lead.contains("16 truncated_answer"), "{lead}");
        assert_eq!(st.windows.len(), 1);
    }

    #[test]
    fn no_ledger_no_story() {
        let mut s = summary();
        s.failover = None;
        assert!(story(&s).is_none());
    }
}
