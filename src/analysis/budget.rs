//! The error budget: what a 99.9% target allows for this run's request
//! count, how much of it was spent, per-minute uptime, and the failure rate
//! projected to downtime per 30 days.

use serde::{Deserialize, Serialize};

use crate::metrics::recorder::SecondRow;
use crate::metrics::Outcome;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Minute {
    pub minute: u32,
    pub ok: u64,
    pub counted: u64,
    pub ratio: f64,
    /// Its success rate is under the target.
    pub down: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Failures the target allows for this run's counted requests.
    pub allowed_failures: f64,
    pub failures: u64,
    /// failures ÷ allowed_failures (1.0 = the whole budget).
    #[serde(deserialize_with = "null_as_infinity")]
    pub spent: f64,
    pub per_minute: Vec<Minute>,
    pub down_minutes: u32,
    /// The run's failure rate as minutes of full downtime per 30 days.
    pub projected_downtime_min_per_30d: f64,
    /// What the target allows per 30 days, in the same unit.
    pub allowed_downtime_min_per_30d: f64,
}

/// JSON has no infinity: serde_json writes an infinite `spent` (failures
/// with no budget at all) as `null`, so `null` reads back as infinity.
fn null_as_infinity<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

const MINUTES_PER_30D: f64 = 30.0 * 24.0 * 60.0;

/// Per-minute uptime by completion time, from the per-second timeline.
pub fn budget(timeline: &[SecondRow], ok: u64, counted: u64, target: f64) -> Budget {
    let mut per_minute: Vec<Minute> = Vec::new();
    for row in timeline {
        let m = (row.second / 60) as usize;
        if per_minute.len() <= m {
            per_minute.extend((per_minute.len()..=m).map(|i| Minute {
                minute: i as u32,
                ok: 0,
                counted: 0,
                ratio: 1.0,
                down: false,
            }));
        }
        let done: u64 = Outcome::ALL
            .iter()
            .filter(|o| o.counted())
            .map(|o| row.outcomes[o.index()])
            .sum();
        per_minute[m].ok += row.outcomes[Outcome::Ok.index()];
        per_minute[m].counted += done;
    }
    for m in &mut per_minute {
        m.ratio = if m.counted > 0 {
            m.ok as f64 / m.counted as f64
        } else {
            1.0
        };
        m.down = m.counted > 0 && !super::sla::meets(m.ratio, target);
    }
    let failures = counted - ok;
    let allowed = (1.0 - target) * counted as f64;
    let rate = if counted > 0 {
        failures as f64 / counted as f64
    } else {
        0.0
    };
    Budget {
        allowed_failures: allowed,
        failures,
        spent: if allowed > 0.0 {
            failures as f64 / allowed
        } else if failures > 0 {
            f64::INFINITY
        } else {
            0.0
        },
        down_minutes: per_minute.iter().filter(|m| m.down).count() as u32,
        per_minute,
        projected_downtime_min_per_30d: rate * MINUTES_PER_30D,
        allowed_downtime_min_per_30d: (1.0 - target) * MINUTES_PER_30D,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(second: u32, ok: u64, failed: u64) -> SecondRow {
        let mut r = SecondRow {
            second,
            ..SecondRow::default()
        };
        r.outcomes[Outcome::Ok.index()] = ok;
        r.outcomes[Outcome::Http5xx.index()] = failed;
        r.outcomes[Outcome::CutOff.index()] = 7; // never counted
        r
    }

    #[test]
    fn minutes_budget_and_projection() {
        // Minute 0: 60 × 1000 ok. Minute 1: 60 × (999 ok + 1 failed) → 99.9%, not down.
        // Minute 2: 10 s with 990 ok + 10 failed → 99.0%, down.
        let mut t: Vec<SecondRow> = (0..60).map(|s| row(s, 1000, 0)).collect();
        t.extend((60..120).map(|s| row(s, 999, 1)));
        t.extend((120..130).map(|s| row(s, 990, 10)));
        let ok = 60_000 + 59_940 + 9_900;
        let counted = 130_000;
        let b = budget(&t, ok, counted, 0.999);
        assert_eq!(b.per_minute.len(), 3);
        assert_eq!(
            b.per_minute.iter().map(|m| m.down).collect::<Vec<_>>(),
            [false, false, true]
        );
        assert_eq!(b.down_minutes, 1);
        assert_eq!(b.failures, 160);
        assert!((b.allowed_failures - 130.0).abs() < 1e-9);
        assert!((b.spent - 160.0 / 130.0).abs() < 1e-12);
        assert!((b.allowed_downtime_min_per_30d - 43.2).abs() < 1e-9);
        assert!((b.projected_downtime_min_per_30d - 160.0 / 130_000.0 * 43_200.0).abs() < 1e-9);
    }
}
