//! Sampling a provider profile's distributions from uniform and normal draws.
//!
//! Each function takes the random numbers it needs as arguments instead of a
//! generator, so the fault model can take a fixed set of draws per request and
//! tests can check every formula exactly on chosen inputs.

use std::time::Duration;

use crate::scenario::{CountDist, LatencyDist};

/// The 99th percentile of the standard normal distribution (to 3 decimals).
pub const Z99: f64 = 2.326;

/// A lognormal latency at standard-normal score `z`, parameterised by its
/// median and 99th percentile: `mu = ln(p50)`, `sigma = (ln(p99) - ln(p50)) / 2.326`,
/// clamped to `cap` (and to zero from below).
pub fn lognormal_at(p50: Duration, p99: Duration, cap: Duration, z: f64) -> Duration {
    if p50.is_zero() {
        return Duration::ZERO;
    }
    let mu = p50.as_secs_f64().ln();
    // p99 below p50 would give a negative sigma; treat it as no spread.
    let sigma = ((p99.as_secs_f64().max(p50.as_secs_f64())).ln() - mu) / Z99;
    let secs = (mu + sigma * z).exp();
    if !secs.is_finite() || secs >= cap.as_secs_f64() {
        return cap;
    }
    Duration::try_from_secs_f64(secs).unwrap_or(cap)
}

/// A latency from `dist`, given a standard-normal draw `z` (lognormal) and a
/// uniform draw `u` in `[0, 1)` (uniform).
pub fn latency(dist: &LatencyDist, z: f64, u: f64) -> Duration {
    match *dist {
        LatencyDist::Fixed(d) => d,
        LatencyDist::Uniform { min, max } => {
            let span = max.saturating_sub(min).as_secs_f64();
            min + Duration::from_secs_f64(span * u.clamp(0.0, 1.0))
        }
        LatencyDist::LogNormal { p50, p99, cap } => lognormal_at(p50, p99, cap, z),
    }
}

/// A count from `dist` given a uniform draw `u` in `[0, 1)`; uniform bounds are
/// inclusive, each value equally likely.
pub fn count(dist: &CountDist, u: f64) -> u32 {
    match *dist {
        CountDist::Fixed(n) => n,
        CountDist::Uniform { min, max } => {
            let (lo, hi) = (min.min(max), min.max(max));
            let values = f64::from(hi - lo) + 1.0;
            let offset = (u.clamp(0.0, 1.0) * values).floor() as u32;
            lo.saturating_add(offset).min(hi)
        }
    }
}

/// Output speed with uniform jitter: `tokens_per_s * (1 + jitter * (2u - 1))`,
/// kept positive so a token never takes forever.
pub fn speed(tokens_per_s: f64, jitter: f64, u: f64) -> f64 {
    let factor = 1.0 + jitter.clamp(0.0, 1.0) * (2.0 * u - 1.0);
    (tokens_per_s * factor).max(tokens_per_s * 0.01).max(1e-3)
}

/// Output tokens for a request: the profile's draw, never above `max_tokens`.
pub fn output_tokens(dist: &CountDist, u: f64, max_tokens: Option<u32>) -> u32 {
    let n = count(dist, u);
    max_tokens.map_or(n, |m| n.min(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn close(a: Duration, b: Duration) -> bool {
        a.abs_diff(b) < Duration::from_nanos(2)
    }

    #[test]
    fn lognormal_hits_its_median_and_p99() {
        let (p50, p99, cap) = (MS(200), MS(800), MS(5000));
        assert!(close(lognormal_at(p50, p99, cap, 0.0), p50));
        assert!(close(lognormal_at(p50, p99, cap, Z99), p99));
        // Symmetric in log space: z = -2.326 gives p50² / p99.
        assert!(close(lognormal_at(p50, p99, cap, -Z99), MS(50)));
    }

    #[test]
    fn lognormal_is_clamped_at_the_cap() {
        assert_eq!(lognormal_at(MS(200), MS(800), MS(1000), 5.0), MS(1000));
        assert_eq!(
            lognormal_at(MS(200), MS(800), MS(1000), f64::INFINITY),
            MS(1000)
        );
        assert_eq!(
            lognormal_at(Duration::ZERO, MS(800), MS(1000), 1.0),
            Duration::ZERO
        );
        assert_eq!(lognormal_at(MS(200), MS(100), MS(1000), 3.0), MS(200));
    }

    #[test]
    fn latency_variants() {
        assert_eq!(latency(&LatencyDist::Fixed(MS(7)), 3.0, 0.9), MS(7));
        let uniform = LatencyDist::Uniform {
            min: MS(100),
            max: MS(300),
        };
        assert_eq!(latency(&uniform, 0.0, 0.0), MS(100));
        assert_eq!(latency(&uniform, 0.0, 0.25), MS(150));
    }

    #[test]
    fn counts_are_inclusive_and_clamped_to_max_tokens() {
        let dist = CountDist::Uniform { min: 10, max: 13 };
        assert_eq!(count(&dist, 0.0), 10);
        assert_eq!(count(&dist, 0.2499), 10);
        assert_eq!(count(&dist, 0.25), 11);
        assert_eq!(count(&dist, 0.999_999), 13);
        assert_eq!(count(&CountDist::Fixed(5), 0.7), 5);
        assert_eq!(output_tokens(&dist, 0.999, Some(11)), 11);
        assert_eq!(output_tokens(&dist, 0.0, Some(0)), 0);
        assert_eq!(output_tokens(&dist, 0.0, None), 10);
    }

    #[test]
    fn speed_jitter_spans_plus_minus_the_share() {
        assert_eq!(speed(100.0, 0.2, 0.0), 80.0);
        assert_eq!(speed(100.0, 0.2, 0.5), 100.0);
        assert_eq!(speed(100.0, 0.2, 1.0), 120.0);
        assert_eq!(speed(100.0, 0.0, 0.9), 100.0);
        assert!(speed(100.0, 1.0, 0.0) > 0.0);
    }
}
