//! Fault windows: for each fault and affected provider, how long until the
//! gateway stopped sending it first attempts (time to failover), how long
//! until they came back after the window (time to recover), and how the
//! requests meant to leave inside the window fared.
//!
//! Reads only the per-second first attempts (`flows`) and the client records;
//! every loop is bounded by the timeline, whatever the scenario's windows say.

use serde::{Deserialize, Serialize};

use super::Input;
use crate::metrics::histogram;
use crate::metrics::recorder::ClientRecord;
use crate::scenario::Fault;

/// A provider's share of first attempts counts as gone once it falls below
/// this fraction of its share before the fault.
pub const GONE_SHARE: f64 = 0.10;
/// ... and as back once it returns to this fraction of it.
pub const BACK_SHARE: f64 = 0.50;

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
    /// From the window's start until first attempts stopped going to the provider.
    pub time_to_failover_s: Option<f64>,
    /// From the window's end until the provider's share of first attempts
    /// came back; `None` when traffic never left or never came back.
    pub time_to_recover_s: Option<f64>,
    /// Requests meant to leave inside the window, and how many of them failed.
    pub requests: u64,
    pub errors: u64,
    pub p99_ms: f64,
    /// Whether the run's sends covered the window; absent in older files.
    #[serde(default)]
    pub reach: Reach,
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

/// One `Window` per fault and affected provider, in the scenario's order.
/// `first` is first attempts per second and provider (`Flows::first_attempts`).
pub(super) fn windows(input: &Input, first: &[Vec<u32>]) -> Vec<Window> {
    let mut out = Vec::new();
    let seconds = first.len();
    for fault in input.faults {
        let start = fault.start.as_secs_f64();
        let end = fault.end().map(|e| e.as_secs_f64());
        let reach = reach(start, end, input.sent_until_s, input.duration_s);
        // The window in whole seconds, clamped to the timeline.
        let (s0, s1) = (
            (start.floor() as usize).min(seconds),
            end.map_or(seconds, |e| (e.ceil() as usize).min(seconds)),
        );
        let (requests, errors, p99_ms) = window_requests(input.requests, start, end);
        for &p in &fault.providers {
            let moved = traffic_moved(first, (s0, s1), (start, end), p);
            out.push(Window {
                provider: input.providers.get(p).cloned().unwrap_or_default(),
                fault: fault_label(fault),
                start_s: start,
                end_s: end,
                usual_first_share: moved.usual,
                time_to_failover_s: moved.ttf,
                time_to_recover_s: moved.ttr,
                requests,
                errors,
                p99_ms,
                reach,
            });
        }
    }
    out
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

/// How one provider's first attempts moved around a window.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Moved {
    usual: Option<f64>,
    ttf: Option<f64>,
    ttr: Option<f64>,
}

/// Usual share, time to failover and time to recover of provider `p` for a
/// window spanning seconds `[s0, s1)` of the timeline, `[start, end)` in time.
fn traffic_moved(
    first: &[Vec<u32>],
    (s0, s1): (usize, usize),
    (start, end): (f64, Option<f64>),
    p: usize,
) -> Moved {
    // The provider's usual share: before the fault, or, for a fault
    // from t=0, after it.
    let usual = mean_share(first, s0.saturating_sub(30), s0, p)
        .or_else(|| mean_share(first, s1, s1.saturating_add(30), p));
    let ttf = usual.filter(|u| *u > 0.0).and_then(|u| {
        (s0..s1)
            .find(|&s| share(first, s, p).is_some_and(|x| x < u * GONE_SHARE))
            .map(|s| (s as f64 - start).max(0.0))
    });
    // Recovery is only meaningful after traffic left.
    let ttr = match (usual, end, ttf) {
        (Some(u), Some(e), Some(_)) if u > 0.0 => (s1..first.len())
            .find(|&s| share(first, s, p).is_some_and(|x| x >= u * BACK_SHARE))
            .map(|s| (s as f64 - e).max(0.0)),
        _ => None,
    };
    Moved { usual, ttf, ttr }
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

/// Requests (counted ones) meant to leave in `[start, end)`: how many, how
/// many failed, and the p99 latency of the rest.
fn window_requests(requests: &[ClientRecord], start: f64, end: Option<f64>) -> (u64, u64, f64) {
    let mut h = histogram::new();
    let (mut n, mut errors) = (0, 0);
    for r in requests
        .iter()
        .filter(|r| !r.is_missing() && r.outcome.counted())
    {
        let t = f64::from(r.intended_ms) / 1000.0;
        if t >= start && end.is_none_or(|e| t < e) {
            n += 1;
            if r.outcome.is_ok() {
                histogram::record_us(&mut h, u64::from(r.latency_us));
            } else {
                errors += 1;
            }
        }
    }
    (n, errors, histogram::quantile_ms(&h, 0.99))
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
    fn traffic_leaves_under_the_gone_share_and_is_back_at_the_back_share() {
        let f = first();
        // flash is out from 3.5 s to 6 s; it usually has 75%: gone below
        // 7.5% (second 4), back at 37.5% (second 7: 50%; second 6 has 25%).
        let m = traffic_moved(&f, (3, 6), (3.5, Some(6.0)), 0);
        assert_eq!(
            m,
            Moved {
                usual: Some(0.75),
                ttf: Some(0.5),
                ttr: Some(1.0)
            }
        );
        // From t=0, the usual share comes from the 30 s after the window
        // (15 of 24 first attempts): qwen's 25% inside it is not under 10%
        // of that, so traffic never left and there is nothing to come back.
        let m = traffic_moved(&f, (0, 2), (0.0, Some(2.0)), 1);
        assert_eq!(
            m,
            Moved {
                usual: Some(0.625),
                ttf: None,
                ttr: None
            }
        );
    }
}
