//! Writing metric families from plain values through prometheus-client's
//! encoder: what every collector here needs, in one place. A family with
//! no sample is not written at all (not measured is absent, not zero).

use std::fmt::Error;

use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use crate::metrics::histogram::Hist;

/// A sample's labels.
pub type Labels = Vec<(&'static str, String)>;

/// A gauge family: `name` as given.
pub fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels, f64)>,
) -> Result<(), Error> {
    let samples: Vec<_> = samples.into_iter().collect();
    if samples.is_empty() {
        return Ok(());
    }
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in &samples {
        family.encode_family(labels)?.encode_gauge(v)?;
    }
    Ok(())
}

/// A counter family: exposed as `name` + `_total`.
pub fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels, u64)>,
) -> Result<(), Error> {
    let samples: Vec<_> = samples.into_iter().collect();
    if samples.is_empty() {
        return Ok(());
    }
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in &samples {
        family
            .encode_family(labels)?
            .encode_counter::<NoLabelSet, _, u64>(v, None)?;
    }
    Ok(())
}

/// One histogram sample: its labels, the exact sum of the values in
/// seconds, and the HdrHistogram (µs) they were recorded into.
pub struct HistSample<'a> {
    pub labels: Labels,
    pub sum_s: f64,
    pub hist: &'a Hist,
}

/// Upper bounds (seconds) of the exported latency buckets: a classic
/// Prometheus ladder from 5 ms to 2 min. Each bucket's count is read off
/// the HdrHistogram, so a value is in the bucket its recorded (3
/// significant digits) value falls in.
pub const BUCKETS_S: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0, 90.0, 120.0,
];

/// [`BUCKETS_S`] and `extra` (the SLA budgets, so that a budget is a
/// bucket bound and "how many within budget" reads off exactly), sorted.
pub fn bounds_with(extra: impl IntoIterator<Item = std::time::Duration>) -> Vec<f64> {
    let mut out: Vec<f64> = BUCKETS_S.to_vec();
    out.extend(extra.into_iter().map(|d| d.as_secs_f64()));
    out.retain(|b| b.is_finite() && *b > 0.0);
    out.sort_by(f64::total_cmp);
    out.dedup();
    out
}

/// A histogram family: `name` + `_bucket` (upper bounds `bounds`, then
/// +Inf), `_sum`, `_count`.
pub fn histogram(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: &[HistSample],
    bounds: &[f64],
) -> Result<(), Error> {
    if samples.is_empty() {
        return Ok(());
    }
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for s in samples {
        let buckets = buckets(s.hist, bounds);
        family
            .encode_family(&s.labels)?
            .encode_histogram::<NoLabelSet>(s.sum_s, s.hist.len(), &buckets, None)?;
    }
    Ok(())
}

/// The non-cumulative count per bucket of `bounds` (ascending), then +Inf.
pub fn buckets(h: &Hist, bounds: &[f64]) -> Vec<(f64, u64)> {
    let mut out = Vec::with_capacity(bounds.len() + 1);
    let mut below = 0u64;
    for &le in bounds {
        let us = (le * 1e6) as u64;
        // Values equivalent to `us` at the histogram's precision count as ≤ it.
        let upto = h.count_between(0, h.highest_equivalent(us));
        out.push((le, upto - below));
        below = upto;
    }
    out.push((f64::INFINITY, h.len() - below));
    out
}

/// `q` of `h` in seconds; `None` for an empty histogram (not measured).
/// Through the reports' milliseconds (`histogram::quantile_ms`), so that
/// the two agree to the last bit once scaled.
pub fn quantile_s(h: &Hist, q: f64) -> Option<f64> {
    (!h.is_empty()).then(|| crate::metrics::histogram::quantile_ms(h, q) / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::histogram;

    #[test]
    fn buckets_add_up_to_every_value_and_split_at_their_bounds() {
        let mut h = histogram::new();
        for ms in [1, 4, 5, 6, 99, 100, 101, 300_000] {
            histogram::record_us(&mut h, ms * 1000);
        }
        let b = buckets(&h, &BUCKETS_S);
        assert_eq!(b.len(), BUCKETS_S.len() + 1);
        assert_eq!(b.iter().map(|(_, n)| n).sum::<u64>(), 8);
        // ≤ 5 ms: 1, 4, 5; ≤ 10 ms: 6; ≤ 100 ms: 99, 100; ≤ 250 ms: 101.
        assert_eq!(b[0], (0.005, 3));
        assert_eq!(b[1], (0.01, 1));
        assert_eq!(b[4], (0.1, 2));
        assert_eq!(b[5], (0.25, 1));
        assert_eq!(
            b[BUCKETS_S.len()],
            (f64::INFINITY, 1),
            "300 s is past 120 s"
        );
    }

    #[test]
    fn budgets_become_bucket_bounds() {
        let ms = std::time::Duration::from_millis;
        let b = bounds_with([ms(300), ms(2500), ms(300)]);
        assert_eq!(
            b.len(),
            BUCKETS_S.len() + 1,
            "2.5 s is on the ladder; 300 ms once"
        );
        assert!(b.windows(2).all(|w| w[0] < w[1]));
        assert!(b.contains(&0.3));
    }

    #[test]
    fn empty_families_are_not_written() {
        let mut reg = prometheus_client::registry::Registry::default();
        #[derive(Debug)]
        struct Nothing;
        impl prometheus_client::collector::Collector for Nothing {
            fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), Error> {
                gauge(&mut enc, "slabench_x", "x", Vec::new())?;
                counter(
                    &mut enc,
                    "slabench_y",
                    "y",
                    vec![(vec![("a", "b".into())], 3)],
                )
            }
        }
        reg.register_collector(Box::new(Nothing));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &reg).unwrap();
        assert!(!out.contains("slabench_x"), "{out}");
        assert!(out.contains("slabench_y_total{a=\"b\"} 3"), "{out}");
    }
}
