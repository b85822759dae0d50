//! How the gateway reacted to each fault window, per affected provider:
//! when it first met the fault (the first failed attempt at the provider
//! inside the window), how many requests it sent into the fault after
//! that, and when its first attempts stopped going there for good. Plus,
//! per window, its failed requests split into those a provider attempt
//! took part in and the gateway's own errors (no provider attempt at all).
//!
//! Fed in three passes that the pipeline makes anyway: every joined
//! attempt (`attempt`, exact times), every request's facts (`request`),
//! and the facts again (`count`) once the moment each provider was left is
//! known. Memory is per second and provider (the first attempts' earliest
//! and latest arrival), per window and per provider: bounded by the
//! timeline and the scenario, not the run's length.

use super::facts::Fact;
use crate::metrics::Outcome;
use crate::providers::ledger::{Attempt, AttemptOutcome};
use crate::scenario::Fault;

/// First attempts count as gone from a provider once none arrives for this
/// long ...
pub const SUSTAIN_S: f64 = 3.0;
/// ... or for the rest of the window, when less is left; but never for
/// less than this: a pause of a few hundred milliseconds at a window's end
/// is not a failover.
pub const MIN_GONE_S: f64 = 1.0;

const US: f64 = 1e6;

/// One fault window and affected provider.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Target {
    /// Index of the fault in the scenario.
    pub fault: usize,
    pub provider: u16,
    pub start_us: i64,
    /// The window's end; `i64::MAX` for a window that lasts the run.
    pub end_us: i64,
    /// The first failed attempt at the provider inside the window (first
    /// attempt of its request or not).
    pub met_us: Option<i64>,
    /// The first failed *first* attempt at the provider inside the window:
    /// the moment the gateway's routing of first attempts met the fault,
    /// from which their leaving is timed.
    pub met_first_us: Option<i64>,
    /// Attempts (first or not) the provider received inside the window.
    pub attempts_inside: u64,
    /// The latest first attempt at the provider before the window began.
    pub last_first_before_us: Option<i64>,
    /// The last first attempt before they stopped for good (`settle`).
    pub moved_us: Option<i64>,
    /// First attempts at the provider after `met_us`, up to `moved_us` (or
    /// the window's end when it never moved).
    pub sent_into_fault: u64,
}

impl Target {
    fn inside(&self, us: i64) -> bool {
        us >= self.start_us && us < self.end_us
    }
}

/// A window's failed requests (counted ones meant to leave inside it).
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Failed {
    /// With at least one attempt at a provider of the fault (any attempt,
    /// for a `refuse` fault: its refused attempts are in no ledger).
    pub errors: u64,
    /// With attempts at other providers only: failures the fault did not
    /// touch (e.g. another provider's cut streams), not charged to it.
    pub elsewhere: u64,
    /// With none: the gateway's own errors.
    pub gateway_errors: u64,
    /// `errors` by outcome, indexed like `Outcome::ALL`.
    pub by_outcome: Vec<u64>,
}

/// The earliest and latest first-attempt arrival in one second.
type Span = (i64, i64);
const EMPTY: Span = (i64::MAX, i64::MIN);

pub(super) struct Reactions {
    pub targets: Vec<Target>,
    /// Per fault, with its window in µs.
    pub failed: Vec<Failed>,
    windows: Vec<(i64, i64)>,
    /// Per fault, the providers it touches as `LedgerView` bits (all bits
    /// for a `refuse` fault).
    touched: Vec<u64>,
    /// First attempts' span per second (rows) and provider (columns).
    spans: Vec<Vec<Span>>,
}

/// Seconds → µs, saturating (a window's end may lie far past the run).
fn us(s: f64) -> i64 {
    (s * US).clamp(i64::MIN as f64, i64::MAX as f64) as i64
}

impl Reactions {
    pub fn new(faults: &[Fault], providers: usize, duration_s: u32) -> Self {
        let windows: Vec<(i64, i64)> = faults
            .iter()
            .map(|f| {
                let end = f.end().map_or(i64::MAX, |e| us(e.as_secs_f64()));
                (us(f.start.as_secs_f64()), end)
            })
            .collect();
        let targets = faults
            .iter()
            .zip(&windows)
            .enumerate()
            .flat_map(|(fault, (f, &(start_us, end_us)))| {
                f.providers.iter().map(move |&p| Target {
                    fault,
                    provider: p as u16,
                    start_us,
                    end_us,
                    met_us: None,
                    met_first_us: None,
                    attempts_inside: 0,
                    last_first_before_us: None,
                    moved_us: None,
                    sent_into_fault: 0,
                })
            })
            .collect();
        let failed = Failed {
            by_outcome: vec![0; Outcome::ALL.len()],
            ..Failed::default()
        };
        let touched = faults
            .iter()
            .map(|f| match f.kind {
                crate::scenario::FaultKind::OutageRefuse => u64::MAX,
                _ => f.providers.iter().fold(0, |m, &p| {
                    m | crate::analysis::account::LedgerView::bit(p as u16)
                }),
            })
            .collect();
        Reactions {
            targets,
            failed: vec![failed; faults.len()],
            windows,
            touched,
            spans: vec![vec![EMPTY; providers]; duration_s as usize + 1],
        }
    }

    /// A joined attempt, from the join's callback: exact times.
    pub fn attempt(&mut self, a: &Attempt) {
        let failed = !matches!(a.outcome, AttemptOutcome::Ok | AttemptOutcome::BadRequest);
        for t in &mut self.targets {
            if t.provider != a.provider || !t.inside(a.arrived_us) {
                continue;
            }
            t.attempts_inside += 1;
            if failed && t.met_us.is_none_or(|m| a.arrived_us < m) {
                t.met_us = Some(a.arrived_us);
            }
        }
    }

    /// A sent request's facts.
    pub fn request(&mut self, f: &Fact) {
        let intended = i64::from(f.rec.intended_ms) * 1000;
        if f.rec.outcome.counted() && !f.rec.outcome.is_ok() {
            let windows = self.windows.iter().zip(&self.touched);
            for ((w, touched), failed) in windows.zip(&mut self.failed) {
                if intended < w.0 || intended >= w.1 {
                    continue;
                }
                if !f.attempted() {
                    failed.gateway_errors += 1;
                } else if f.joined.providers & touched != 0 {
                    failed.errors += 1;
                    failed.by_outcome[f.rec.outcome.index()] += 1;
                } else {
                    failed.elsewhere += 1;
                }
            }
        }
        if !f.attempted() {
            return;
        }
        let (p, at) = (f.joined.first_provider, f.joined.first_arrival_us);
        if let Some(span) = second_of(at)
            .and_then(|s| self.spans.get_mut(s))
            .and_then(|row| row.get_mut(p as usize))
        {
            *span = (span.0.min(at), span.1.max(at));
        }
        for t in self.targets.iter_mut().filter(|t| t.provider == p) {
            if at < t.start_us && t.last_first_before_us.is_none_or(|l| at > l) {
                t.last_first_before_us = Some(at);
            }
            if t.inside(at) && !f.joined.first_ok && t.met_first_us.is_none_or(|m| at < m) {
                t.met_first_us = Some(at);
            }
        }
    }

    /// Once every request passed: when each provider was left for good,
    /// judging first attempts up to `sent_until_s` (the run's sends).
    /// `first` is first attempts per second and provider: a gap counts
    /// only when it is long against the provider's usual rate, so that
    /// sparse traffic (a premium class at one request every few seconds)
    /// does not read as the gateway leaving.
    pub fn settle(&mut self, sent_until_s: f64, first: &[Vec<u32>]) {
        let sent_until = us(sent_until_s);
        for t in &mut self.targets {
            let column = |s: usize| {
                let span = self.spans.get(s)?.get(t.provider as usize)?;
                (span.0 <= span.1).then_some(*span)
            };
            let floor = usual_gap_floor(first, t.provider as usize, t.start_us);
            t.moved_us = t
                .met_first_us
                .and_then(|m| moved_at(column, m, t.end_us.min(sent_until), floor));
        }
    }

    /// The facts again, after `settle`: counts the requests sent into each fault.
    pub fn count(&mut self, f: &Fact) {
        if !f.attempted() {
            return;
        }
        let (p, at) = (f.joined.first_provider, f.joined.first_arrival_us);
        for t in self.targets.iter_mut().filter(|t| t.provider == p) {
            let Some(m) = t.met_first_us else { continue };
            if at > m && at <= t.moved_us.unwrap_or(t.end_us - 1) && at < t.end_us {
                t.sent_into_fault += 1;
            }
        }
    }
}

fn second_of(us: i64) -> Option<usize> {
    (us >= 0).then_some((us / 1_000_000) as usize)
}

/// Three mean intervals between first attempts at provider `p` over the 30
/// s before `start_us` (µs), or 0 when it had none: a shorter gap is what
/// its usual traffic has anyway.
fn usual_gap_floor(first: &[Vec<u32>], p: usize, start_us: i64) -> i64 {
    let s0 = second_of(start_us).unwrap_or(0).min(first.len());
    let rows = &first[s0.saturating_sub(30)..s0];
    let n: u64 = rows
        .iter()
        .map(|r| u64::from(r.get(p).copied().unwrap_or(0)))
        .sum();
    if n == 0 {
        return 0;
    }
    us(3.0 * rows.len() as f64 / n as f64)
}

/// How long first attempts must stay away from `last` on, in a window
/// ending at `end` (µs), and never less than `floor`.
fn needed_gap(last: i64, end: i64, floor: i64) -> i64 {
    let rest = end.saturating_sub(last);
    us(SUSTAIN_S).min(rest).max(us(MIN_GONE_S)).max(floor)
}

/// The last first attempt (µs) at a provider from `met` on, after which
/// none came for `needed_gap`, inside a window ending at `end`; `None`
/// when first attempts kept coming. `span(s)` is second `s`'s earliest and
/// latest first attempt. A gap inside one second is under a second, so the
/// spans find every gap that can count, exactly.
pub(super) fn moved_at(
    span: impl Fn(usize) -> Option<Span>,
    met: i64,
    end: i64,
    floor: i64,
) -> Option<i64> {
    let mut last = met;
    let (first_s, end_s) = (second_of(met)?, second_of(end.saturating_sub(1))?);
    for s in first_s..=end_s {
        let Some((lo, hi)) = span(s) else { continue };
        if lo >= end {
            break;
        }
        if hi <= last {
            continue;
        }
        if lo > last && lo - last >= needed_gap(last, end, floor) {
            return Some(last);
        }
        // Attempts past the window's end do not count; some came until it.
        last = hi.min(end - 1);
    }
    (end.saturating_sub(last) >= needed_gap(last, end, floor)).then_some(last)
}

/// Connection attempts (SYNs) at a refusing provider, per second: the
/// first second with any inside `[start_s, end_s)`, the end of the last one
/// before they stopped for good (whole seconds: `None` when they did not),
/// and how many came after the first one up to then.
pub(super) fn syn_reaction(
    counts: &[Vec<u32>],
    p: usize,
    start_s: f64,
    end_s: f64,
) -> Option<(f64, Option<f64>, u64)> {
    let at = |s: usize| counts.get(s).and_then(|r| r.get(p)).copied().unwrap_or(0);
    let (s0, s1) = (
        // From the first whole second inside the window, as the refused
        // connections are counted (`facts::refused_connections`).
        start_s.ceil() as usize,
        (end_s.ceil() as usize).min(counts.len()),
    );
    let met = (s0..s1).find(|&s| at(s) > 0)?;
    let mut last = met;
    let mut sent = u64::from(at(met)) - 1;
    let gone = |last: usize, next: usize| {
        let need = SUSTAIN_S.min(end_s - (last + 1) as f64).max(MIN_GONE_S);
        (next - last - 1) as f64 >= need
    };
    let mut moved = None;
    for s in met + 1..s1 {
        if at(s) == 0 {
            continue;
        }
        if gone(last, s) {
            moved = Some(last);
            break;
        }
        last = s;
        sent += u64::from(at(s));
    }
    if moved.is_none() && end_s - (last + 1) as f64 >= MIN_GONE_S.min(SUSTAIN_S) {
        moved = Some(last);
    }
    let met_s = (met as f64).max(start_s);
    Some((met_s, moved.map(|l| (l + 1) as f64), sent))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spans of first attempts every 100 ms over `[from, to)` seconds.
    fn steady(from: usize, to: usize) -> impl Fn(usize) -> Option<Span> {
        move |s| {
            (from..to)
                .contains(&s)
                .then(|| (s as i64 * 1_000_000, s as i64 * 1_000_000 + 900_000))
        }
    }

    #[test]
    fn a_provider_is_left_when_first_attempts_stay_away() {
        // Met at 40.0 s, first attempts until 44.9 s, the window 40–60 s.
        let moved = moved_at(steady(0, 45), 40_000_000, 60_000_000, 0);
        assert_eq!(moved, Some(44_900_000));
        // Still coming to the window's end: never.
        assert_eq!(moved_at(steady(0, 60), 40_000_000, 60_000_000, 0), None);
        // Stopped 0.5 s before the end: too short to say it moved.
        let span =
            |s: usize| (s < 60).then(|| (s as i64 * 1_000_000, s as i64 * 1_000_000 + 500_000));
        assert_eq!(moved_at(span, 40_000_000, 59_600_000, 0), None);
        // Gone for the last 2 s of the window (less than 3 s left): moved.
        assert_eq!(
            moved_at(steady(0, 58), 40_000_000, 60_000_000, 0),
            Some(57_900_000)
        );
    }

    #[test]
    fn a_one_second_dip_is_not_a_failover() {
        // First attempts 40–41.9 s, none in second 42, back from 43 s to the end.
        let span = |s: usize| {
            (s != 42 && s < 60).then(|| (s as i64 * 1_000_000, s as i64 * 1_000_000 + 900_000))
        };
        assert_eq!(moved_at(span, 40_000_000, 60_000_000, 0), None);
        // A dip of 3 s is.
        let span = |s: usize| {
            (!(42..45).contains(&s) && s < 60)
                .then(|| (s as i64 * 1_000_000, s as i64 * 1_000_000 + 900_000))
        };
        assert_eq!(moved_at(span, 40_000_000, 60_000_000, 0), Some(41_900_000));
    }

    #[test]
    fn syns_at_a_refusing_provider_time_the_reaction() {
        // flash (0) gets SYNs in 0–11 s, refused from 10 s to 20 s: the
        // gateway met it in second 10, sent 3 more in 10–11, then none.
        let mut counts = vec![vec![2, 5]; 10];
        counts.extend([vec![2, 5], vec![2, 5]]);
        counts.extend(vec![vec![0, 7]; 18]);
        let (met, moved, sent) = syn_reaction(&counts, 0, 10.0, 20.0).unwrap();
        assert_eq!((met, moved, sent), (10.0, Some(12.0), 3));
        // SYNs to the end of the window: never moved.
        let counts = vec![vec![1, 1]; 30];
        assert_eq!(syn_reaction(&counts, 0, 10.0, 20.0), Some((10.0, None, 9)));
        // None inside the window: nothing met.
        let counts = vec![vec![0, 1]; 30];
        assert_eq!(syn_reaction(&counts, 0, 10.0, 20.0), None);
    }

    #[test]
    fn sparse_traffic_is_not_leaving() {
        // One first attempt every 2 s (a premium class at 0.5 rps), on
        // even seconds, through a 40–60 s window: its gaps are its rate.
        let sparse = |s: usize| {
            let at = s as i64 * 1_000_000;
            s.is_multiple_of(2).then_some((at, at))
        };
        // Judged against the sustain rule alone, a 2 s gap near the
        // window's end reads as leaving...
        assert!(moved_at(sparse, 40_000_000, 60_000_000, 0).is_some());
        // ... but not against three of its usual intervals (6 s).
        assert_eq!(moved_at(sparse, 40_000_000, 60_000_000, 6_000_000), None);
        let first = vec![vec![0u32, 1]; 40];
        let floor = usual_gap_floor(&first, 1, 40_000_000);
        assert_eq!(floor, 3_000_000);
        assert_eq!(usual_gap_floor(&first, 0, 40_000_000), 0);
    }
}
