//! The per-second interval histograms of every shard (`shard/latency.hlog`),
//! added second by second and tag by tag: the merged run's latency.hlog and
//! its per-second percentiles, exactly as one process would have had them.
//! Only one second's histograms are decoded at a time.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::metrics::histogram::{self, Hist};
use crate::metrics::recorder::Recorder;
use crate::report::hlog::{self, HlogWriter};
use crate::shard::ShardRun;

/// Every shard's intervals, still encoded, by (second, tag).
pub struct Intervals {
    by_key: BTreeMap<(u32, Option<String>), Vec<String>>,
    /// Shards whose log is absent or damaged (their seconds are left out
    /// of the per-second percentiles).
    pub problems: Vec<String>,
}

impl Intervals {
    pub fn read(shards: &[ShardRun]) -> Intervals {
        let mut by_key: BTreeMap<(u32, Option<String>), Vec<String>> = BTreeMap::new();
        let mut problems = Vec::new();
        for s in shards {
            let read = s
                .hlog()
                .ok_or_else(|| anyhow::anyhow!("it has none"))
                .and_then(|p| Ok(std::fs::read(p)?))
                .and_then(|text| hlog::read_intervals(&text));
            match read {
                Ok(intervals) => {
                    for (second, tag, h) in intervals {
                        by_key.entry((second, tag)).or_default().push(h);
                    }
                }
                Err(e) => problems.push(format!(
                    "{}/shard/latency.hlog: {e:#}; its per-second latency is left out of the \
                     per-second percentiles and latency.hlog",
                    s.run_dir.display()
                )),
            }
        }
        Intervals { by_key, problems }
    }

    /// Sets every second's percentiles of `rec` from the summed class
    /// intervals, and writes the summed log to `path` when given.
    pub fn apply(
        &self,
        rec: &mut Recorder,
        classes: &[String],
        streaming: &[bool],
        log: Option<(&Path, SystemTime)>,
    ) -> anyhow::Result<()> {
        let tags: Vec<String> = classes.iter().map(|c| hlog::tag(c)).collect();
        let mut writer = match log {
            Some((path, t0)) => Some(HlogWriter::begin(path, classes, streaming, t0)?),
            None => None,
        };
        let last = self.by_key.keys().map(|k| k.0 + 1).max().unwrap_or(0);
        let seconds = (rec.timeline.len() as u32).max(last);
        let mut keys = self.by_key.iter().peekable();
        for second in 0..seconds {
            let mut class_hists: Vec<Hist> = classes.iter().map(|_| histogram::new()).collect();
            while let Some(((_, tag), encoded)) = keys.next_if(|(k, _)| k.0 == second) {
                let h = sum(encoded)?;
                if let Some(w) = writer.as_mut() {
                    w.write_interval(second, tag.as_deref(), &h);
                }
                if let Some(i) = tag.as_ref().and_then(|t| tags.iter().position(|c| c == t)) {
                    class_hists[i] = h;
                }
            }
            rec.set_second(second, &class_hists);
        }
        if let Some(mut w) = writer {
            use crate::metrics::accumulate::Accumulator;
            if let Some(failed) = w.finish() {
                return Err(failed.error.context("writing latency.hlog"));
            }
        }
        Ok(())
    }
}

/// The merged run's t=0 on the wall clock, the base of its latency.hlog:
/// the earliest shard's t=0 (with `--start-at`, every shard's is that
/// instant). A shard's manifest written before `t0_unix_ms` existed gives
/// its `start_at`, or else its launch time (a few seconds early).
pub fn t0(shards: &[ShardRun]) -> SystemTime {
    let of = |s: &ShardRun| {
        let m = &s.manifest;
        let at = m
            .start_at
            .as_deref()
            .and_then(|a| crate::clock::StartAt::parse(a).ok());
        match (m.t0_unix_ms, at) {
            (Some(ms), _) => SystemTime::UNIX_EPOCH + Duration::from_millis(ms),
            (None, Some(at)) => at.0,
            (None, None) => SystemTime::UNIX_EPOCH + Duration::from_millis(m.started_unix_ms),
        }
    };
    shards
        .iter()
        .map(of)
        .min()
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn sum(encoded: &[String]) -> anyhow::Result<Hist> {
    let mut h = histogram::new();
    for e in encoded {
        let part = histogram::decode(e).map_err(|e| anyhow::anyhow!("latency.hlog: {e}"))?;
        h.add(part).expect("same bounds");
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn the_merged_t0_is_the_shards_t0_not_their_launch() {
        let shard = |i: u32, started: u64, t0: Option<u64>| {
            let mut s = crate::merge::check::tests::shard("d", i, 2);
            s.manifest.started_unix_ms = started;
            s.manifest.t0_unix_ms = t0;
            s
        };
        // Launched 9 s and 6 s before their common t=0.
        let runs = [
            shard(0, 1_796_320_791_000, Some(1_796_320_800_000)),
            shard(1, 1_796_320_794_000, Some(1_796_320_800_000)),
        ];
        assert_eq!(t0(&runs), at(1_796_320_800_000));
        // Without --start-at each shard has its own t=0: the earliest.
        let runs = [shard(0, 1_000, Some(1_250)), shard(1, 1_100, Some(1_130))];
        assert_eq!(t0(&runs), at(1_130));
        // Older manifests: --start-at, or else the launch time.
        let mut old = [
            shard(0, 1_796_320_791_000, None),
            shard(1, 1_796_320_794_000, None),
        ];
        assert_eq!(t0(&old), at(1_796_320_791_000));
        for s in &mut old {
            s.manifest.start_at = Some("2026-12-03T18:00:00.250Z".into());
        }
        assert_eq!(t0(&old), at(1_796_320_800_250));
    }
}
