//! The deterministic split of one schedule over N processes: shard I of N
//! sends exactly the arrivals whose request number is I modulo N. Every
//! shard computes the whole seeded schedule (the same instants, classes
//! and tags `slb-<seq>`) and skips the others' arrivals, so N shards
//! together send exactly the unsharded schedule, with no coordinator.
//!
//! Taking every N-th arrival (not a time slice, not a hash) keeps every
//! shard's load the same shape as the whole at 1/N of its rate, balanced
//! to one request, whatever the stages and the arrival process.

use std::fmt;

use super::schedule::{Schedule, Scheduled};

/// The most shards one schedule splits into.
pub const MAX_SHARDS: u32 = 1024;

/// Shard `index` of `count` (`0 <= index < count <= MAX_SHARDS`); the
/// whole schedule is shard 0 of 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard::WHOLE
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The whole schedule, unsplit.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`, when that is one.
    pub fn new(index: u32, count: u32) -> Result<Shard, String> {
        if count == 0 || count > MAX_SHARDS {
            return Err(format!(
                "the shard count must be from 1 to {MAX_SHARDS}; got {count}"
            ));
        }
        if index >= count {
            return Err(format!(
                "shard {index} of {count} does not exist: shards are numbered from 0 to {} \
                 (e.g. --shard 0/{count} ... --shard {}/{count})",
                count - 1,
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }

    /// Parses `I/N`, as `--shard` takes it.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || {
            format!(
                "`{s}` is not a shard: write I/N, shard I (from 0) of N (from 1 to {MAX_SHARDS}), \
                 e.g. 0/3"
            )
        };
        let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let i: u32 = i.trim().parse().map_err(|_| bad())?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        Shard::new(i, n).map_err(|e| format!("`{s}`: {e}"))
    }

    pub fn is_whole(&self) -> bool {
        self.count == 1
    }

    /// Whether request `seq` is this shard's.
    pub fn contains(&self, seq: u64) -> bool {
        seq % u64::from(self.count) == u64::from(self.index)
    }

    /// The position of this shard's request `seq` among its own (0, 1, …).
    pub fn local(&self, seq: u64) -> u64 {
        seq / u64::from(self.count)
    }

    /// The request number of this shard's `local`-th request.
    pub fn global(&self, local: u64) -> u64 {
        local * u64::from(self.count) + u64::from(self.index)
    }

    /// This shard's share of the scenario's rate (1/N).
    pub fn share(&self) -> f64 {
        1.0 / f64::from(self.count)
    }

    /// This shard's arrivals of `schedule`, in time order.
    pub fn arrivals(self, schedule: Schedule) -> impl Iterator<Item = Scheduled> {
        schedule.filter(move |a| self.contains(a.seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Arrival, Stage};
    use std::time::Duration;

    fn stages() -> Vec<Stage> {
        vec![
            Stage::Ramp {
                from: None,
                to: 3000.0,
                duration: Duration::from_secs(20),
            },
            Stage::Hold {
                rpm: 3000.0,
                duration: Duration::from_secs(30),
            },
        ]
    }

    #[test]
    fn the_shards_together_are_the_whole_schedule_without_overlap() {
        for (seed, arrival) in [
            (1, Arrival::Poisson),
            (7, Arrival::Constant),
            (42, Arrival::Poisson),
        ] {
            let whole: Vec<Scheduled> =
                Schedule::new(&stages(), arrival, &[80.0, 15.0, 5.0], seed).collect();
            assert!(whole.len() > 1000, "{}", whole.len());
            for n in [1u32, 2, 3, 7] {
                let mut union: Vec<Scheduled> = Vec::new();
                for i in 0..n {
                    let shard = Shard::new(i, n).unwrap();
                    let part: Vec<Scheduled> = shard
                        .arrivals(Schedule::new(&stages(), arrival, &[80.0, 15.0, 5.0], seed))
                        .collect();
                    assert!(part.iter().all(|a| shard.contains(a.seq)));
                    // Balanced: each shard has within one request (and 1%) of 1/n.
                    let expected = whole.len() as f64 / f64::from(n);
                    let diff = (part.len() as f64 - expected).abs();
                    assert!(diff <= 1.0, "{n}: {diff}");
                    assert!(
                        diff / expected < 0.01,
                        "shard {shard}: {} of {}",
                        part.len(),
                        whole.len()
                    );
                    union.extend(part);
                }
                union.sort_by_key(|a| a.seq);
                // Exactly the whole: same seqs (no overlap, none missing),
                // instants and classes.
                assert_eq!(union, whole, "seed {seed}, {n} shards");
            }
        }
    }

    #[test]
    fn local_and_global_numbers_invert() {
        let s = Shard::new(2, 7).unwrap();
        for local in 0..100 {
            let seq = s.global(local);
            assert!(s.contains(seq));
            assert_eq!(s.local(seq), local);
        }
        assert!(Shard::WHOLE.contains(12345) && Shard::WHOLE.global(9) == 9);
    }

    #[test]
    fn the_flag_is_checked() {
        assert_eq!(Shard::parse("0/3"), Ok(Shard { index: 0, count: 3 }));
        assert_eq!(Shard::parse(" 2 / 3 "), Ok(Shard { index: 2, count: 3 }));
        assert_eq!(Shard::parse("0/1"), Ok(Shard::WHOLE));
        let e = Shard::parse("3/3").unwrap_err();
        assert!(e.contains("from 0 to 2"), "{e}");
        let e = Shard::parse("0/0").unwrap_err();
        assert!(e.contains("from 1 to 1024"), "{e}");
        assert!(Shard::parse("0/1025").is_err());
        for bad in ["a/b", "1", "", "-1/3", "1/3/4", "1.5/3"] {
            let e = Shard::parse(bad).unwrap_err();
            assert!(e.contains("is not a shard"), "{bad}: {e}");
        }
        assert_eq!(Shard::new(1, 4).unwrap().to_string(), "1/4");
        assert!((Shard::new(1, 4).unwrap().share() - 0.25).abs() < 1e-12);
    }
}
