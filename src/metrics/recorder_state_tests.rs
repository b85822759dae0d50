//! Tests of the recorder's state: read back as written, and the parts of a
//! split add up to the whole.
use super::*;
use crate::metrics::request::{Measured, RequestResult};
use proptest::prelude::*;
use std::time::Duration;

fn result(seq: u64, latency_ms: u64) -> RequestResult {
    let outcome = match seq % 11 {
        3 => Outcome::Http5xx,
        7 => Outcome::Timeout,
        _ => Outcome::Ok,
    };
    RequestResult {
        seq,
        class: (seq % 3 % 2) as usize,
        intended: Duration::from_millis(seq * 37),
        lag: Duration::from_micros(seq % 5 * 90),
        outcome,
        m: Measured {
            latency: Duration::from_millis(latency_ms),
            service: Duration::from_millis(latency_ms.saturating_sub(1)),
            ttft: Some(Duration::from_millis(latency_ms / 3)),
            output_tokens: 12,
            input_tokens: 30,
            status: if outcome == Outcome::Http5xx {
                503
            } else {
                200
            },
            error_message: Some(format!("busy {}", seq % 4)),
            served_by: Some(if seq.is_multiple_of(4) { "b" } else { "a" }.into()),
            ..Measured::default()
        },
    }
}

/// Records `results` as a run does: a second closed whenever one passes.
fn recorded(results: impl Iterator<Item = RequestResult>) -> Recorder {
    let mut rec = Recorder::new(["x".to_string(), "y".to_string()])
        .with_stages(vec![5.0, 10.0])
        .keep_requests(vec!["a".into(), "b".into()]);
    for r in results {
        rec.record(&r);
    }
    rec.finish();
    rec
}

#[test]
fn a_recorder_reads_back_as_it_was_written() {
    let rec = recorded((0..300).map(|s| result(s, 50 + s % 97)));
    let json = serde_json::to_string(&rec.to_state()).unwrap();
    let back = Recorder::from_state(&serde_json::from_str(&json).unwrap()).unwrap();
    assert_eq!(back.to_state(), rec.to_state());
    assert_eq!(back.total_counts(), rec.total_counts());
    assert_eq!(back.timeline, rec.timeline);
    assert_eq!(back.ok_latency(), rec.ok_latency());
    assert_eq!(back.lag, rec.lag);
    assert_eq!(back.stage_sent, rec.stage_sent);
    assert_eq!(back.error_messages.entries(), rec.error_messages.entries());
    // Another order of outcomes is refused, with what differs.
    let mut other = rec.to_state();
    other.outcomes.swap(0, 1);
    assert!(Recorder::from_state(&other)
        .unwrap_err()
        .contains("outcomes"));
}

#[test]
fn the_parts_of_a_split_add_up_to_the_whole() {
    let all: Vec<RequestResult> = (0..400).map(|s| result(s, 40 + s * 7 % 130)).collect();
    let whole = recorded(all.iter().cloned());
    let n = 3;
    let mut parts = (0..n).map(|i| recorded(all.iter().filter(|r| r.seq % n == i).cloned()));
    let mut merged = parts.next().unwrap();
    for p in parts {
        merged.merge(&p).unwrap();
    }
    assert_eq!(merged.total_counts(), whole.total_counts());
    for (m, w) in merged.classes.iter().zip(&whole.classes) {
        assert_eq!(m.counts, w.counts);
        assert_eq!(m.latency, w.latency);
        assert_eq!(
            (m.service.clone(), m.ttft.clone()),
            (w.service.clone(), w.ttft.clone())
        );
        assert_eq!(
            (m.input_tokens, m.output_tokens),
            (w.input_tokens, w.output_tokens)
        );
    }
    assert_eq!(merged.lag, whole.lag);
    assert_eq!(merged.stage_sent, whole.stage_sent);
    assert_eq!(merged.timeline.len(), whole.timeline.len());
    // Served-by columns follow the merged order of providers.
    let served = |r: &Recorder, name: &str| -> u64 {
        let i = r.providers.iter().position(|p| p == name).unwrap();
        r.timeline
            .iter()
            .map(|s| s.served_by.get(i).copied().unwrap_or(0))
            .sum()
    };
    for name in ["a", "b"] {
        assert_eq!(served(&merged, name), served(&whole, name));
    }
    for (m, w) in merged.timeline.iter().zip(&whole.timeline) {
        assert_eq!(
            (m.sent, m.outcomes, &m.class_counts),
            (w.sent, w.outcomes, &w.class_counts)
        );
    }
    // Other classes do not merge.
    let mut odd = Recorder::new(["z".to_string()]);
    assert!(odd.merge(&whole).unwrap_err().contains("traffic classes"));
}

#[test]
fn a_second_gets_the_percentiles_of_its_class_intervals() {
    let mut rec = Recorder::new(["x".to_string(), "y".to_string()]);
    let mut x = histogram::new();
    let mut y = histogram::new();
    for v in 1..=100u64 {
        histogram::record_us(&mut x, v * 1000);
        histogram::record_us(&mut y, v * 2000);
    }
    rec.set_second(2, &[x.clone(), y.clone()]);
    let row = &rec.timeline[2];
    assert_eq!(
        row.class_p99,
        vec![
            histogram::quantile_ms(&x, 0.99),
            histogram::quantile_ms(&y, 0.99)
        ]
    );
    assert_eq!(row.latency.count, 200);
}

#[test]
fn error_tables_absorb_with_a_map_of_indices() {
    let mut a = ErrorMessages::default();
    a.intern(503, "busy");
    let mut b = ErrorMessages::default();
    b.intern(429, "slow down");
    b.intern(503, "busy");
    let map = a.absorb(&b);
    assert_eq!(map, vec![1, 0]);
    assert_eq!(a.get(1).unwrap().status, 429);
}

proptest! {
    /// Histograms of the parts of any split, added, are the whole's: every
    /// percentile, the count, min, max and mean.
    #[test]
    fn merged_histograms_equal_the_whole(
        values in proptest::collection::vec(0u64..5_000_000_000, 1..400),
        parts in 1usize..8,
        seed in any::<u64>(),
    ) {
        let mut whole = histogram::new();
        let mut split: Vec<Hist> = (0..parts).map(|_| histogram::new()).collect();
        for (i, v) in values.iter().enumerate() {
            histogram::record_us(&mut whole, *v);
            let k = (seed.wrapping_add(i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % parts;
            histogram::record_us(&mut split[k], *v);
        }
        // Through the shard folder's form, as merge reads them.
        let mut merged = histogram::new();
        for h in &split {
            merged.add(histogram::decode(&histogram::encode(h)).unwrap()).unwrap();
        }
        prop_assert_eq!(&merged, &whole);
        prop_assert_eq!(Percentiles::of(&merged), Percentiles::of(&whole));
    }
}
