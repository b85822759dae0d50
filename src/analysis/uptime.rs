//! Uptime: successful requests over counted requests, with a 95% Wilson
//! score interval (well-behaved near 100%, where the normal approximation
//! gives intervals above 1).

use serde::Serialize;

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Uptime {
    pub ok: u64,
    pub counted: u64,
    /// ok / counted; 0 when nothing was counted.
    pub ratio: f64,
    pub ci95: [f64; 2],
}

impl Uptime {
    pub fn new(ok: u64, counted: u64) -> Self {
        let ratio = if counted == 0 {
            0.0
        } else {
            ok as f64 / counted as f64
        };
        Uptime {
            ok,
            counted,
            ratio,
            ci95: wilson(ok, counted, Z95),
        }
    }
}

/// Wilson score interval for `k` successes in `n` trials.
pub fn wilson(k: u64, n: u64, z: f64) -> [f64; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    let (n, p) = (n as f64, k as f64 / n as f64);
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // At k = 0 or k = n one bound is exactly 0 or 1; rounding would leave
    // 0.9999999999999999, which prints as a failure to reach 100%.
    let lo = if k == 0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let hi = if k as f64 == n {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    [lo, hi]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_published_values() {
        // Reference values (Newcombe 1998, and R's prop.test without correction).
        let [lo, hi] = wilson(81, 263, Z95);
        assert!(
            (lo - 0.2553).abs() < 1e-4 && (hi - 0.3662).abs() < 1e-4,
            "{lo} {hi}"
        );
        let [lo, hi] = wilson(10, 10, Z95);
        assert!((lo - 0.7225).abs() < 1e-4 && hi == 1.0, "{lo} {hi}");
        let [lo, hi] = wilson(0, 10, Z95);
        assert!(lo == 0.0 && (hi - 0.2775).abs() < 1e-4);
    }

    #[test]
    fn uptime_ratio_and_empty_case() {
        let u = Uptime::new(999, 1000);
        assert_eq!(u.ratio, 0.999);
        assert!(u.ci95[0] < 0.999 && u.ci95[1] > 0.999);
        assert_eq!(Uptime::new(0, 0).ci95, [0.0, 1.0]);
    }
}
