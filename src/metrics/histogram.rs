//! HdrHistogram conventions: microseconds, 3 significant digits, one set of
//! bounds everywhere, so that histograms from intervals, classes, runs and
//! machines merge exactly.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Lowest value tracked: 1 µs.
pub const LOWEST_US: u64 = 1;
/// Highest value tracked: 1 hour; larger values are clamped to it.
pub const HIGHEST_US: u64 = 3_600_000_000;
pub const SIGFIG: u8 = 3;

pub type Hist = Histogram<u64>;

/// An empty histogram with the project's bounds.
pub fn new() -> Hist {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIG).expect("static bounds are valid")
}

/// Records `d`, clamped into the tracked range.
pub fn record(h: &mut Hist, d: Duration) {
    record_us(h, d.as_micros().min(u128::from(HIGHEST_US)) as u64);
}

pub fn record_us(h: &mut Hist, us: u64) {
    h.saturating_record(us.clamp(LOWEST_US, HIGHEST_US));
}

/// The value at quantile `q` in milliseconds (0 for an empty histogram).
pub fn quantile_ms(h: &Hist, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64 / 1000.0
    }
}

/// The standard percentile set, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Percentiles {
    pub fn of(h: &Hist) -> Self {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: h.len(),
            p50: quantile_ms(h, 0.50),
            p90: quantile_ms(h, 0.90),
            p95: quantile_ms(h, 0.95),
            p99: quantile_ms(h, 0.99),
            p999: quantile_ms(h, 0.999),
            max: h.max() as f64 / 1000.0,
            mean: h.mean() / 1000.0,
        }
    }
}

/// A histogram as V2 + deflate, base64 (standard alphabet, padded): the
/// HdrHistogram interchange form every HdrHistogram library reads.
pub fn encode(h: &Hist) -> String {
    use base64::Engine;
    use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .expect("serialising into memory does not fail");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The inverse of [`encode`], brought to the project's bounds (so that it
/// merges and compares exactly); the error says what is wrong.
pub fn decode(s: &str) -> Result<Hist, String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| format!("a histogram is not base64: {e}"))?;
    let h: Hist = hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("a histogram does not decode: {e:?}"))?;
    let mut out = new();
    out.add(&h)
        .map_err(|e| format!("a histogram is out of bounds: {e:?}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_on_a_known_distribution() {
        let mut h = new();
        for ms in 1..=1000u64 {
            record(&mut h, Duration::from_millis(ms));
        }
        let p = Percentiles::of(&h);
        assert_eq!(p.count, 1000);
        // 3 significant digits: within 0.1% of the exact answer.
        for (got, want) in [
            (p.p50, 500.0),
            (p.p90, 900.0),
            (p.p99, 990.0),
            (p.max, 1000.0),
        ] {
            assert!((got - want).abs() <= want * 0.001, "{got} vs {want}");
        }
    }

    #[test]
    fn clamps_out_of_range_values_and_merges() {
        let mut a = new();
        record(&mut a, Duration::ZERO);
        record(&mut a, Duration::from_secs(10_000));
        assert_eq!(a.min(), LOWEST_US);
        assert!(a.max() >= HIGHEST_US);
        let mut b = new();
        b.add(&a).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(Percentiles::of(&new()), Percentiles::default());
    }
}
