//! The noise tests behind the gate: a seeded bootstrap over per-second
//! values, and Newcombe's interval for a difference of two proportions.
//!
//! Why seconds: a noisy CI runner is slow for a while, not for one request
//! at a time, so requests within a second are not independent draws. Treating
//! each second's percentile as one observation and resampling seconds puts
//! that run-to-run wobble into the interval; a request-level bootstrap would
//! claim far more certainty than the machine warrants.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Resamples per bootstrap.
pub const RESAMPLES: usize = 2000;
/// Seconds with data each run needs before the bootstrap can judge noise.
pub const MIN_SECONDS: usize = 5;

/// A two-sided interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

impl Interval {
    pub fn excludes_zero(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// Percentile-bootstrap interval at confidence 1 − `alpha` for
/// mean(candidate) − mean(baseline), resampling each series' values
/// (seconds) with replacement. `None` when either series has fewer than
/// [`MIN_SECONDS`] values. Deterministic in `seed`.
pub fn bootstrap_mean_diff(
    baseline: &[f64],
    candidate: &[f64],
    seed: u64,
    alpha: f64,
) -> Option<Interval> {
    if baseline.len() < MIN_SECONDS || candidate.len() < MIN_SECONDS {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let resampled_mean = |xs: &[f64], rng: &mut ChaCha8Rng| {
        (0..xs.len())
            .map(|_| xs[rng.random_range(0..xs.len())])
            .sum::<f64>()
            / xs.len() as f64
    };
    let mut diffs: Vec<f64> = (0..RESAMPLES)
        .map(|_| resampled_mean(candidate, &mut rng) - resampled_mean(baseline, &mut rng))
        .collect();
    diffs.sort_by(f64::total_cmp);
    Some(Interval {
        low: nearest_rank(&diffs, alpha / 2.0),
        high: nearest_rank(&diffs, 1.0 - alpha / 2.0),
    })
}

fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// 95% interval for p₂ − p₁ (k successes of n), Newcombe's hybrid score
/// method from the two Wilson intervals: well-behaved near 0 and 1, where
/// uptimes live.
pub fn proportion_diff(k1: u64, n1: u64, k2: u64, n2: u64) -> Interval {
    use crate::analysis::uptime::Uptime;
    let (a, b) = (Uptime::new(k1, n1), Uptime::new(k2, n2));
    let d = b.ratio - a.ratio;
    Interval {
        low: d - ((b.ratio - b.ci95[0]).powi(2) + (a.ci95[1] - a.ratio).powi(2)).sqrt(),
        high: d + ((b.ci95[1] - b.ratio).powi(2) + (a.ratio - a.ci95[0]).powi(2)).sqrt(),
    }
}

/// A stable per-metric seed, so that adding a class does not move the
/// intervals of the others.
pub fn seed_for(metric: &str) -> u64 {
    metric.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_separates_a_shift_from_noise() {
        // Ten seconds alternating 100/110 ms; the candidate the same, or +20%.
        let base: Vec<f64> = (0..10).map(|i| 100.0 + 10.0 * (i % 2) as f64).collect();
        let same = bootstrap_mean_diff(&base, &base, 1, 0.05).unwrap();
        assert!(!same.excludes_zero(), "{same:?}");
        assert!(same.low >= -10.0 && same.high <= 10.0, "{same:?}");
        let slower: Vec<f64> = base.iter().map(|v| v * 1.2).collect();
        let shift = bootstrap_mean_diff(&base, &slower, 1, 0.05).unwrap();
        assert!(
            shift.low > 0.0 && shift.low <= 21.0 && shift.high >= 21.0,
            "{shift:?}"
        );
        let faster: Vec<f64> = base.iter().map(|v| v * 0.8).collect();
        assert!(bootstrap_mean_diff(&base, &faster, 1, 0.05).unwrap().high < 0.0);
    }

    #[test]
    fn bootstrap_is_deterministic_and_needs_enough_seconds() {
        let a = [1.0, 5.0, 2.0, 8.0, 3.0, 4.0];
        let b = [2.0, 6.0, 1.0, 9.0, 3.0, 7.0];
        assert_eq!(
            bootstrap_mean_diff(&a, &b, 42, 0.05),
            bootstrap_mean_diff(&a, &b, 42, 0.05)
        );
        assert_eq!(bootstrap_mean_diff(&a[..4], &b, 42, 0.05), None);
    }

    #[test]
    fn one_slow_second_does_not_exclude_zero() {
        // A runner hiccup: one candidate second at 5x; the rest unchanged.
        let base = [100.0, 102.0, 98.0, 101.0, 99.0, 100.0, 103.0, 97.0];
        let mut cand = base;
        cand[3] = 500.0;
        let i = bootstrap_mean_diff(&base, &cand, 7, 0.05).unwrap();
        assert!(!i.excludes_zero(), "{i:?}");
    }

    #[test]
    fn proportion_difference_intervals() {
        // Equal proportions: the interval straddles zero.
        let same = proportion_diff(9990, 10000, 9990, 10000);
        assert!(same.low < 0.0 && same.high > 0.0);
        // 99.9% → 99.0% on 10k requests each: clearly worse.
        let worse = proportion_diff(9990, 10000, 9900, 10000);
        assert!(worse.high < 0.0, "{worse:?}");
        // 0 vs 2 failures in 15k: not distinguishable.
        assert!(!proportion_diff(15000, 15000, 14998, 15000).excludes_zero());
        assert_eq!(seed_for("chat p99"), seed_for("chat p99"));
        assert_ne!(seed_for("chat p99"), seed_for("chat p50"));
    }
}
