//! The arrival schedule: when each request is meant to leave.
//!
//! Both arrival processes are the same construction. The stages define a rate
//! r(t) (piecewise linear) and its integral Λ(t), the expected number of
//! arrivals by t. Request k leaves at Λ⁻¹(x_k):
//!
//! - constant: x_k = k + ½ (evenly spaced at the instantaneous rate; a hold of
//!   60 RPM for 10 s sends exactly 10 requests, at 0.5 s, 1.5 s, …);
//! - poisson: x_k = E_1 + … + E_k with E_i ~ Exp(1), which by the
//!   time-rescaling theorem is a non-homogeneous Poisson process of rate r(t).
//!
//! The schedule is computed lazily (memory does not grow with the run) and is
//! a pure function of the stages and the seed.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::scenario::{Arrival, Stage};

/// One segment of the rate function, in seconds and requests per second.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    start: f64,
    len: f64,
    /// Rate at the start and end of the segment (requests per second).
    from: f64,
    to: f64,
    /// Λ at the start of the segment.
    cum: f64,
}

impl Segment {
    fn count(&self) -> f64 {
        (self.from + self.to) / 2.0 * self.len
    }

    /// Time into the segment at which Λ has grown by `dl` (0 <= dl <= count).
    fn invert(&self, dl: f64) -> f64 {
        // Λ(τ) = a τ + (b - a) τ² / (2 len); solved in the form that stays
        // exact for a == b and for a == 0.
        let (a, b) = (self.from, self.to);
        let slope = (b - a) / self.len;
        let disc = (a * a + 2.0 * slope * dl).max(0.0);
        let denom = a + disc.sqrt();
        if denom <= 0.0 {
            0.0
        } else {
            (2.0 * dl / denom).min(self.len)
        }
    }
}

/// The rate function of a list of stages.
#[derive(Debug, Clone, PartialEq)]
pub struct RateCurve {
    segments: Vec<Segment>,
    total: f64,
}

impl RateCurve {
    pub fn new(stages: &[Stage]) -> Self {
        let mut segments = Vec::with_capacity(stages.len());
        let (mut t, mut cum, mut prev) = (0.0, 0.0, 0.0);
        for stage in stages {
            let (from, to, len) = match *stage {
                Stage::Hold { rpm, duration } => (rpm, rpm, duration.as_secs_f64()),
                Stage::Ramp { from, to, duration } => {
                    (from.unwrap_or(prev), to, duration.as_secs_f64())
                }
            };
            let seg = Segment {
                start: t,
                len,
                from: from / 60.0,
                to: to / 60.0,
                cum,
            };
            if len > 0.0 {
                cum += seg.count();
                segments.push(seg);
            }
            t += len;
            prev = to;
        }
        RateCurve {
            segments,
            total: cum,
        }
    }

    /// Planned duration in seconds.
    pub fn duration(&self) -> f64 {
        self.segments.last().map_or(0.0, |s| s.start + s.len)
    }

    /// Expected number of arrivals over the whole curve.
    pub fn expected_total(&self) -> f64 {
        self.total
    }

    /// Target rate (RPM) at `t` seconds.
    pub fn rpm_at(&self, t: f64) -> f64 {
        self.segment_at(t).map_or(0.0, |s| {
            let frac = ((t - s.start) / s.len).clamp(0.0, 1.0);
            (s.from + (s.to - s.from) * frac) * 60.0
        })
    }

    /// Expected arrivals in [0, t].
    pub fn cumulative(&self, t: f64) -> f64 {
        match self.segment_at(t) {
            None if t <= 0.0 => 0.0,
            None => self.total,
            Some(s) => {
                let tau = (t - s.start).clamp(0.0, s.len);
                s.cum + s.from * tau + (s.to - s.from) * tau * tau / (2.0 * s.len)
            }
        }
    }

    /// Mean target RPM over [a, b] seconds.
    pub fn mean_rpm(&self, a: f64, b: f64) -> f64 {
        if b <= a {
            return 0.0;
        }
        (self.cumulative(b) - self.cumulative(a)) / (b - a) * 60.0
    }

    fn segment_at(&self, t: f64) -> Option<&Segment> {
        self.segments
            .iter()
            .find(|s| t >= s.start && t < s.start + s.len)
            .or_else(|| {
                self.segments
                    .last()
                    .filter(|s| (t - (s.start + s.len)).abs() < 1e-12)
            })
    }

    /// Λ⁻¹(x): the instant (seconds) by which `x` arrivals are expected, or
    /// `None` past the end of the curve.
    pub fn invert(&self, x: f64) -> Option<f64> {
        if x >= self.total || x < 0.0 {
            return None;
        }
        // Segments are few (one per stage): a linear scan from the hint is fine.
        let seg = self
            .segments
            .iter()
            .rev()
            .find(|s| s.cum <= x && s.count() > 0.0)?;
        Some(seg.start + seg.invert(x - seg.cum))
    }
}

/// One scheduled request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scheduled {
    /// Request number; also its tag.
    pub seq: u64,
    /// Intended send instant, from t=0.
    pub at: Duration,
    /// Index of the traffic class.
    pub class: usize,
}

/// Lazily yields the arrivals of a scenario in time order. A clone goes on
/// from the same place with the same draws (each lane runs its own).
#[derive(Clone)]
pub struct Schedule {
    curve: RateCurve,
    process: Arrival,
    /// Cumulative weights of the traffic classes, normalised to end at 1.
    class_cdf: Vec<f64>,
    gaps: ChaCha8Rng,
    classes: ChaCha8Rng,
    next_x: f64,
    seq: u64,
}

/// Independent random streams derived from the scenario seed.
pub const STREAM_ARRIVALS: u64 = 1;
pub const STREAM_CLASSES: u64 = 2;

/// A seeded generator for stream `stream` of the run seeded with `seed`.
pub fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

impl Schedule {
    pub fn new(stages: &[Stage], process: Arrival, weights: &[f64], seed: u64) -> Self {
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let class_cdf = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        let mut s = Schedule {
            curve: RateCurve::new(stages),
            process,
            class_cdf,
            gaps: rng(seed, STREAM_ARRIVALS),
            classes: rng(seed, STREAM_CLASSES),
            next_x: 0.0,
            seq: 0,
        };
        s.next_x = match process {
            Arrival::Constant => 0.5,
            Arrival::Poisson => s.exp_draw(),
        };
        s
    }

    pub fn curve(&self) -> &RateCurve {
        &self.curve
    }

    fn exp_draw(&mut self) -> f64 {
        // 1 - u is in (0, 1], so the log is finite.
        let u: f64 = self.gaps.random();
        -(1.0 - u).ln()
    }

    fn pick_class(&mut self) -> usize {
        if self.class_cdf.len() == 1 {
            return 0;
        }
        let u: f64 = self.classes.random();
        self.class_cdf
            .iter()
            .position(|c| u < *c)
            .unwrap_or(self.class_cdf.len() - 1)
    }
}

impl Iterator for Schedule {
    type Item = Scheduled;

    fn next(&mut self) -> Option<Scheduled> {
        let t = self.curve.invert(self.next_x)?;
        let class = self.pick_class();
        let arrival = Scheduled {
            seq: self.seq,
            at: Duration::from_secs_f64(t),
            class,
        };
        self.seq += 1;
        self.next_x += match self.process {
            Arrival::Constant => 1.0,
            Arrival::Poisson => self.exp_draw(),
        };
        Some(arrival)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn hold(rpm: f64, s: u64) -> Stage {
        Stage::Hold {
            rpm,
            duration: secs(s),
        }
    }

    fn ramp(to: f64, s: u64) -> Stage {
        Stage::Ramp {
            from: None,
            to,
            duration: secs(s),
        }
    }

    fn times(stages: &[Stage], process: Arrival) -> Vec<f64> {
        Schedule::new(stages, process, &[1.0], 7)
            .map(|a| a.at.as_secs_f64())
            .collect()
    }

    #[test]
    fn constant_hold_is_evenly_spaced_at_midpoints() {
        let t = times(&[hold(60.0, 10)], Arrival::Constant);
        assert_eq!(t.len(), 10);
        for (k, t) in t.iter().enumerate() {
            assert!((t - (k as f64 + 0.5)).abs() < 1e-9, "{k}: {t}");
        }
    }

    #[test]
    fn constant_ramp_follows_the_integral() {
        // 0 → 120 RPM over 10 s: r(t) = 0.2 t req/s, Λ(t) = 0.1 t², 10 requests.
        let t = times(&[ramp(120.0, 10)], Arrival::Constant);
        assert_eq!(t.len(), 10);
        for (k, t) in t.iter().enumerate() {
            let expected = ((k as f64 + 0.5) / 0.1).sqrt();
            assert!((t - expected).abs() < 1e-9, "{k}: {t} vs {expected}");
        }
    }

    #[test]
    fn ramp_starts_from_the_previous_rate_and_zero_holds_send_nothing() {
        let stages = [hold(60.0, 2), hold(0.0, 5), ramp(0.0, 2)];
        let curve = RateCurve::new(&stages);
        // The ramp after a zero hold starts at 0, so nothing after t=2.
        assert_eq!(curve.expected_total(), 2.0);
        assert_eq!(curve.duration(), 9.0);
        assert_eq!(times(&stages, Arrival::Constant), vec![0.5, 1.5]);
        let stages = [hold(60.0, 2), ramp(0.0, 2)];
        assert_eq!(RateCurve::new(&stages).expected_total(), 3.0);
        assert_eq!(RateCurve::new(&stages).rpm_at(3.0), 30.0);
    }

    #[test]
    fn mean_rpm_and_rate_lookup() {
        let curve = RateCurve::new(&[ramp(600.0, 60), hold(600.0, 60)]);
        assert_eq!(curve.mean_rpm(0.0, 60.0), 300.0);
        assert_eq!(curve.mean_rpm(60.0, 120.0), 600.0);
        assert_eq!(curve.mean_rpm(0.0, 120.0), 450.0);
        assert_eq!(curve.rpm_at(30.0), 300.0);
        assert_eq!(curve.rpm_at(1000.0), 0.0);
    }

    #[test]
    fn poisson_count_and_gaps_match_the_rate() {
        // 6000 RPM for 100 s: 10,000 expected, sd 100.
        let t = times(&[hold(6000.0, 100)], Arrival::Poisson);
        let n = t.len() as f64;
        assert!((n - 10_000.0).abs() < 400.0, "{n}");
        let gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        // Exponential gaps: mean 0.01 s and coefficient of variation 1.
        assert!((mean - 0.01).abs() < 0.0005, "{mean}");
        assert!((var.sqrt() / mean - 1.0).abs() < 0.05);
        assert!(t.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn same_seed_same_schedule_other_seed_other_schedule() {
        let stages = [hold(600.0, 10)];
        let a: Vec<_> = Schedule::new(&stages, Arrival::Poisson, &[80.0, 15.0, 5.0], 1).collect();
        let b: Vec<_> = Schedule::new(&stages, Arrival::Poisson, &[80.0, 15.0, 5.0], 1).collect();
        let c: Vec<_> = Schedule::new(&stages, Arrival::Poisson, &[80.0, 15.0, 5.0], 2).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().enumerate().all(|(i, s)| s.seq == i as u64));
    }

    #[test]
    fn classes_follow_their_weights() {
        let n = 100_000;
        let mut counts = [0usize; 3];
        for a in Schedule::new(
            &[hold(60.0 * n as f64, 60)],
            Arrival::Constant,
            &[80.0, 15.0, 5.0],
            3,
        )
        .take(n)
        {
            counts[a.class] += 1;
        }
        let share = |i: usize| counts[i] as f64 / n as f64;
        assert!((share(0) - 0.80).abs() < 0.01);
        assert!((share(1) - 0.15).abs() < 0.01);
        assert!((share(2) - 0.05).abs() < 0.005);
    }
}
