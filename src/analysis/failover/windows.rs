//! Fault windows: for each fault and affected provider, how the gateway
//! reacted (`reactions`: when it met the fault, how many requests it sent
//! into it, when it left the provider for good), the window's `state`
//! when there was nothing to measure, how long until first attempts came
//! back after the window (time to recover), and how the requests meant to
//! leave inside the window fared.
//!
//! Every loop is bounded by the timeline and the scenario, whatever the
//! scenario's windows say.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::reactions::{syn_reaction, Reactions, Target};
use super::window_requests::WindowRequests;
use super::{Connections, Input};
use crate::metrics::Outcome;
use crate::scenario::{Fault, FaultKind};

/// A provider's share of first attempts counts as back after a window once
/// it returns to this fraction of its share before the fault ...
pub const BACK_SHARE: f64 = 0.50;
/// ... and (kept for readers of older files) as gone below this fraction.
pub const GONE_SHARE: f64 = 0.10;

/// Per fault window and affected provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub provider: String,
    pub fault: String,
    pub start_s: f64,
    pub end_s: Option<f64>,
    /// The provider's usual share of first attempts (before the window, or
    /// after it for a fault from t=0); `None`/0: it had no traffic to move.
    #[serde(default)]
    pub usual_first_share: Option<f64>,
    /// Whether there was a reaction to time; absent in older files.
    #[serde(default)]
    pub state: WindowState,
    /// Why, for every state but `measured`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// When the gateway first met the fault: its first failed attempt at the
    /// provider inside the window (for `refuse`: the first second with a
    /// refused connection attempt).
    #[serde(default)]
    pub met_fault_s: Option<f64>,
    /// Requests the gateway sent to the provider after it met the fault and
    /// before it left it (until the window's end when it never did).
    #[serde(default)]
    pub sent_into_fault: Option<u64>,
    /// From `met_fault_s` until the provider's first attempts stopped for
    /// good; `None` unless `state` is `measured`.
    pub time_to_failover_s: Option<f64>,
    /// From the window's end until the provider's share of first attempts
    /// came back; `None` when traffic never left or never came back.
    pub time_to_recover_s: Option<f64>,
    /// Requests meant to leave inside the window, and how many of them failed
    /// after at least one provider attempt.
    pub requests: u64,
    pub errors: u64,
    /// Failed with no provider attempt at all: the gateway's own errors.
    #[serde(default)]
    pub gateway_errors: u64,
    /// Failed after attempts at other providers only: not the fault's doing
    /// (e.g. another provider's cut streams at the same time).
    #[serde(default)]
    pub errors_elsewhere: u64,
    /// `errors` by outcome name (`5xx`, `timeout`, ...).
    #[serde(default)]
    pub errors_by_outcome: BTreeMap<String, u64>,
    pub p99_ms: f64,
    /// p99 over every counted request in the window, failed ones included
    /// (an error answer at its latency, a timeout at its full wait): how
    /// fast the client heard back, good news or bad. `None` when no request
    /// was counted; absent in older files.
    #[serde(default)]
    pub all_p99_ms: Option<f64>,
    /// Whether the run's sends covered the window; absent in older files.
    #[serde(default)]
    pub reach: Reach,
}

impl Window {
    /// What the gateway did, in words: `met the fault at t=40.0 s, left
    /// flash 4.9 s later after 49 more request(s)`, or the state and why.
    pub fn reaction_text(&self) -> String {
        match (self.state, self.met_fault_s, self.time_to_failover_s) {
            (WindowState::Measured, Some(met), Some(ttf)) => format!(
                "met the fault at t={met:.1} s, left {} {ttf:.1} s later after {} more request(s)",
                self.provider,
                self.sent_into_fault.unwrap_or(0)
            ),
            // Files written before reactions were timed.
            (WindowState::Measured, _, Some(ttf)) => {
                format!("first attempts left {} after {ttf:.1} s", self.provider)
            }
            (state, _, _) => format!(
                "{}: {}",
                state.label(),
                self.why.as_deref().unwrap_or("no reason recorded")
            ),
        }
    }

    /// `errors` by outcome, most first: `12 truncated_answer, 3 5xx`.
    pub fn errors_by_outcome_text(&self) -> String {
        let mut v: Vec<(&String, &u64)> = self.errors_by_outcome.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        v.iter()
            .map(|(o, n)| format!("{n} {o}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl WindowState {
    /// `measured`, `never`, `not exercised`, `not observable`, `not reached`.
    pub fn label(self) -> &'static str {
        match self {
            WindowState::Measured => "measured",
            WindowState::Never => "never",
            WindowState::NotExercised => "not exercised",
            WindowState::NotObservable => "not observable",
            WindowState::NotReached => "not reached",
        }
    }
}

/// Whether a window had a reaction to time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowState {
    /// The gateway met the fault and left the provider: time given.
    #[default]
    Measured,
    /// It met the fault and kept sending to the provider to the window's
    /// end: a measured failure.
    Never,
    /// Nothing to react to: the provider had no traffic when the window
    /// began, or no attempt at it failed inside it.
    NotExercised,
    /// What the gateway did could not be seen (refused connections without
    /// the means to watch them).
    NotObservable,
    /// The run stopped before the window began, or inside it before the
    /// gateway left the provider.
    NotReached,
}

/// How much of a fault window the run's sends covered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    /// The sends went on past the window's end (or the run's end, for a
    /// window without one).
    #[default]
    Complete,
    /// The run stopped inside the window.
    CutShort,
    /// The run stopped before the window began: nothing in it was measured.
    NotReached,
}

/// The reaction part of a `Window`.
#[derive(Debug, Clone, PartialEq)]
struct Reaction {
    state: WindowState,
    why: Option<String>,
    met_fault_s: Option<f64>,
    sent_into_fault: Option<u64>,
    time_to_failover_s: Option<f64>,
}

impl Reaction {
    fn unmeasured(state: WindowState, why: String) -> Self {
        Reaction {
            state,
            why: Some(why),
            met_fault_s: None,
            sent_into_fault: None,
            time_to_failover_s: None,
        }
    }
}

/// One `Window` per fault and affected provider, in the scenario's order
/// (`reactions.targets`' order). `first` is first attempts per second and
/// provider (`Flows::first_attempts`).
pub(super) fn windows(
    input: &Input,
    first: &[Vec<u32>],
    reactions: &Reactions,
    seen: &WindowRequests,
) -> Vec<Window> {
    let seconds = first.len();
    let mut out = Vec::new();
    for t in &reactions.targets {
        let fault = &input.faults[t.fault];
        let start = fault.start.as_secs_f64();
        let end = fault.end().map(|e| e.as_secs_f64());
        let reach = reach(start, end, input.sent_until_s, input.duration_s);
        // The window in whole seconds, clamped to the timeline.
        let (s0, s1) = (
            (start.floor() as usize).min(seconds),
            end.map_or(seconds, |e| (e.ceil() as usize).min(seconds)),
        );
        let (requests, p99_ms, all_p99_ms) = seen.of(t.fault);
        let failed = &reactions.failed[t.fault];
        let r = reaction(input, t, reach);
        let p = t.provider as usize;
        let moved = traffic_moved(first, (s0, s1), end, p, r.state == WindowState::Measured);
        out.push(Window {
            provider: input.providers.get(p).cloned().unwrap_or_default(),
            fault: fault_label(fault),
            start_s: start,
            end_s: end,
            usual_first_share: moved.usual,
            state: r.state,
            why: r.why,
            met_fault_s: r.met_fault_s,
            sent_into_fault: r.sent_into_fault,
            time_to_failover_s: r.time_to_failover_s,
            time_to_recover_s: moved.ttr,
            requests,
            errors: failed.errors,
            gateway_errors: failed.gateway_errors,
            errors_elsewhere: failed.elsewhere,
            errors_by_outcome: Outcome::ALL
                .iter()
                .zip(&failed.by_outcome)
                .filter(|(_, n)| **n > 0)
                .map(|(o, n)| (o.name().to_string(), *n))
                .collect(),
            p99_ms,
            all_p99_ms,
            reach,
        });
    }
    out
}

/// The gateway's reaction to one window on one provider.
fn reaction(input: &Input, t: &Target, reach: Reach) -> Reaction {
    let fault = &input.faults[t.fault];
    let name = provider_name(input, t.provider);
    if reach == Reach::NotReached {
        return Reaction::unmeasured(
            WindowState::NotReached,
            format!(
                "the run stopped before the window began at {:.1} s",
                fault.start.as_secs_f64()
            ),
        );
    }
    if matches!(fault.kind, FaultKind::OutageRefuse) {
        return refusal_reaction(input, t, reach);
    }
    if fault.refuses() {
        // A flapping port: refused connections leave nothing in the
        // ledger, and up phases come between them.
        return Reaction::unmeasured(
            WindowState::NotObservable,
            "a provider flapping as refused connections leaves nothing in the ledger while down; \
             its connection attempts are counted, its reaction is not timed"
                .into(),
        );
    }
    let Some(met_any) = t.met_us else {
        return Reaction::unmeasured(WindowState::NotExercised, idle_why(input, t));
    };
    // Failures only on retries or fallbacks: first attempts, whose leaving
    // is what is timed, never met the fault.
    let Some(met) = t.met_first_us else {
        return Reaction::unmeasured(
            WindowState::NotExercised,
            format!(
                "attempts at {name} failed inside the window from t={:.1} s, but only retries or fallbacks: no request's first attempt went to it and failed, so there was no routing of first attempts to leave",
                met_any as f64 / 1e6
            ),
        );
    };
    let met_s = met as f64 / 1e6;
    let sent = t.sent_into_fault;
    match t.moved_us {
        Some(moved) => Reaction {
            state: WindowState::Measured,
            why: None,
            met_fault_s: Some(met_s),
            sent_into_fault: Some(sent),
            time_to_failover_s: Some((moved - met).max(0) as f64 / 1e6),
        },
        None => left_never(
            reach,
            format!(
                "the gateway met the fault on {name} at t={met_s:.1} s and sent it {sent} more first attempt(s) without leaving it before the window ended"
            ),
            met_s,
            sent,
        ),
    }
}

/// Never left: a measured failure, unless the run stopped inside the window.
fn left_never(reach: Reach, why: String, met_s: f64, sent: u64) -> Reaction {
    let (state, why) = if reach == Reach::CutShort {
        (
            WindowState::NotReached,
            "the run stopped inside the window before the gateway left the provider".to_string(),
        )
    } else {
        (WindowState::Never, why)
    };
    Reaction {
        state,
        why: Some(why),
        met_fault_s: Some(met_s),
        sent_into_fault: Some(sent),
        time_to_failover_s: None,
    }
}

/// A `refuse` window: refused connections never reach the ledger, so the
/// connection attempts seen on the provider's port are the only witness.
fn refusal_reaction(input: &Input, t: &Target, reach: Reach) -> Reaction {
    let counts = match input.connections {
        Connections::NotObservable(reason) => {
            return Reaction::unmeasured(
                WindowState::NotObservable,
                format!(
                    "refused connections never reach the providers' ledger, and the run could not watch connection attempts: {reason}"
                ),
            )
        }
        Connections::Seen(counts) => counts,
    };
    let name = provider_name(input, t.provider);
    let fault = &input.faults[t.fault];
    let start = fault.start.as_secs_f64();
    let end = fault
        .end()
        .map_or(f64::INFINITY, |e| e.as_secs_f64())
        .min(input.sent_until_s);
    match syn_reaction(counts, t.provider as usize, start, end) {
        None => Reaction::unmeasured(
            WindowState::NotExercised,
            format!(
                "no connection attempt reached {name}'s port inside the window; {}",
                idle_why(input, t)
            ),
        ),
        Some((met_s, Some(moved_s), sent)) => Reaction {
            state: WindowState::Measured,
            why: None,
            met_fault_s: Some(met_s),
            sent_into_fault: Some(sent),
            time_to_failover_s: Some((moved_s - met_s).max(0.0)),
        },
        Some((met_s, None, sent)) => left_never(
            reach,
            format!(
                "connection attempts kept reaching {name}'s refusing port from t={met_s:.1} s to the window's end ({sent} after the first)"
            ),
            met_s,
            sent,
        ),
    }
}

/// Why a window had nothing to react to: since when the provider got no
/// traffic, and the earlier window that explains it, if one does.
fn idle_why(input: &Input, t: &Target) -> String {
    let name = provider_name(input, t.provider);
    if t.attempts_inside > 0 {
        return format!(
            "{} attempt(s) reached {name} inside the window and none failed: nothing to react to",
            t.attempts_inside
        );
    }
    let Some(last) = t.last_first_before_us else {
        return format!(
            "{name} had no traffic when the window began: no first attempt went to it before the window, nor any attempt inside it"
        );
    };
    let last_s = last as f64 / 1e6;
    let mut why = format!("{name} had no traffic when the window began: benched since t={last_s:.1} s (its last first attempt)");
    let covering = input.faults.iter().enumerate().find(|(i, f)| {
        *i != t.fault
            && f.start < input.faults[t.fault].start
            && f.providers.contains(&(t.provider as usize))
            && f.start.as_secs_f64() <= last_s
            && f.end().is_none_or(|e| last_s < e.as_secs_f64())
    });
    if let Some((_, f)) = covering {
        let end = f
            .end()
            .map_or("the end".into(), |e| format!("{:.0}", e.as_secs_f64()));
        why.push_str(&format!(
            ", during {} {:.0}–{end} s",
            fault_label(f),
            f.start.as_secs_f64()
        ));
    }
    why
}

fn provider_name(input: &Input, p: u16) -> String {
    input
        .providers
        .get(p as usize)
        .cloned()
        .unwrap_or_else(|| format!("provider {p}"))
}

/// How much of the window `[start, end)` the sends, which stopped at
/// `sent_until_s` of a `duration_s` run, covered.
fn reach(start: f64, end: Option<f64>, sent_until_s: f64, duration_s: u32) -> Reach {
    if start >= sent_until_s {
        Reach::NotReached
    } else if end.map_or(sent_until_s < f64::from(duration_s), |e| e > sent_until_s) {
        Reach::CutShort
    } else {
        Reach::Complete
    }
}

/// How one provider's first attempts came back after a window.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Moved {
    usual: Option<f64>,
    ttr: Option<f64>,
}

/// Usual share and time to recover of provider `p` for a window spanning
/// seconds `[s0, s1)` of the timeline and ending at `end`; `left` says
/// whether the gateway left the provider (recovery means nothing otherwise).
fn traffic_moved(
    first: &[Vec<u32>],
    (s0, s1): (usize, usize),
    end: Option<f64>,
    p: usize,
    left: bool,
) -> Moved {
    // The provider's usual share: before the fault, or, for a fault
    // from t=0, after it.
    let usual = mean_share(first, s0.saturating_sub(30), s0, p)
        .or_else(|| mean_share(first, s1, s1.saturating_add(30), p));
    let ttr = match (usual, end) {
        (Some(u), Some(e)) if u > 0.0 && left => (s1..first.len())
            .find(|&s| share(first, s, p).is_some_and(|x| x >= u * BACK_SHARE))
            .map(|s| (s as f64 - e).max(0.0)),
        _ => None,
    };
    Moved { usual, ttr }
}

/// Share of first attempts that went to provider `p` in second `s`.
fn share(first: &[Vec<u32>], s: usize, p: usize) -> Option<f64> {
    let row = first.get(s)?;
    let total: u32 = row.iter().sum();
    (total > 0).then(|| f64::from(row[p]) / f64::from(total))
}

/// Mean share of first attempts for `p` over seconds [a, b).
fn mean_share(first: &[Vec<u32>], a: usize, b: usize, p: usize) -> Option<f64> {
    let (mut to_p, mut total) = (0u64, 0u64);
    for row in first.get(a..b.min(first.len()))? {
        to_p += u64::from(row[p]);
        total += row.iter().map(|&c| u64::from(c)).sum::<u64>();
    }
    (total > 0).then(|| to_p as f64 / total as f64)
}

/// `outage (5xx 503) on flash`.
pub fn fault_label(f: &Fault) -> String {
    use crate::scenario::FaultKind::*;
    let kind = match &f.kind {
        OutageHttp { status } => format!("outage ({status})"),
        OutageRefuse => "outage (refused connections)".into(),
        OutageReset => "outage (connection resets)".into(),
        OutageHang => "outage (hangs)".into(),
        ErrorBurst { status } => format!("error burst ({status})"),
        LatencySpike { multiplier, add } => format!(
            "latency spike (×{multiplier}, +{})",
            humantime::format_duration(*add)
        ),
        RateLimitSqueeze { rpm } => format!("rate-limit squeeze ({rpm} rpm)"),
        Malformed(m) => format!("malformed answers ({m:?})"),
        StreamStall { .. } => "stream stall".into(),
        StreamCut => "stream cut".into(),
        StreamErrorEvent => "stream error event".into(),
        SlowFirstToken { delay } => {
            format!("slow first token ({})", humantime::format_duration(*delay))
        }
        Flapping { period, duty, down } => {
            let down = match down {
                crate::scenario::FlapAs::Http { status } => status.to_string(),
                crate::scenario::FlapAs::Refuse => "refused".into(),
                crate::scenario::FlapAs::Reset => "resets".into(),
                crate::scenario::FlapAs::Hang => "hangs".into(),
            };
            format!(
                "flapping ({down}, {}% of every {})",
                (duty * 100.0).round(),
                humantime::format_duration(*period)
            )
        }
        FakeStream => "fake streaming".into(),
    };
    format!("{kind} on {}", f.target_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reach_says_how_much_of_the_window_the_sends_covered() {
        assert_eq!(reach(10.0, Some(20.0), 60.0, 60), Reach::Complete);
        assert_eq!(reach(10.0, Some(20.0), 15.0, 60), Reach::CutShort);
        assert_eq!(reach(10.0, Some(20.0), 10.0, 60), Reach::NotReached);
        // Without an end the window lasts the run: cut short if the run was.
        assert_eq!(reach(10.0, None, 60.0, 60), Reach::Complete);
        assert_eq!(reach(10.0, None, 59.0, 60), Reach::CutShort);
    }

    /// Seconds of first attempts (flash, qwen): 4 s at (3, 1), 2 s at (0, 4),
    /// 1 s at (1, 3), 1 s at (2, 2).
    fn first() -> Vec<Vec<u32>> {
        let mut f = vec![vec![3, 1]; 4];
        f.extend([vec![0, 4], vec![0, 4], vec![1, 3], vec![2, 2]]);
        f
    }

    #[test]
    fn shares_of_first_attempts() {
        let f = first();
        assert_eq!(share(&f, 0, 0), Some(0.75));
        assert_eq!(share(&[vec![0, 0]], 0, 0), None);
        assert_eq!(share(&f, 99, 0), None);
        assert_eq!(mean_share(&f, 2, 6, 0), Some(6.0 / 16.0));
        assert_eq!(mean_share(&f, 6, 99, 1), Some(5.0 / 8.0));
        assert_eq!(mean_share(&f, 4, 4, 0), None);
    }

    #[test]
    fn traffic_is_back_at_the_back_share_only_after_it_left() {
        let f = first();
        // flash is out from 3.5 s to 6 s; it usually has 75%: back at 37.5%
        // (second 7: 50%; second 6 has 25%).
        let m = traffic_moved(&f, (3, 6), Some(6.0), 0, true);
        assert_eq!(
            m,
            Moved {
                usual: Some(0.75),
                ttr: Some(1.0)
            }
        );
        // Never left: nothing to come back.
        assert_eq!(traffic_moved(&f, (3, 6), Some(6.0), 0, false).ttr, None);
        // From t=0, the usual share comes from the 30 s after the window.
        let m = traffic_moved(&f, (0, 2), Some(2.0), 1, true);
        assert_eq!(m.usual, Some(0.625));
    }
}
