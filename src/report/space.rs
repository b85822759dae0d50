//! Free space, checked before the load: a full disk must not cost a run
//! whose load was already sent (every report would then be lost or cut
//! short). [`estimate`] sizes what a scenario writes, generously;
//! [`check_space`] refuses the run when its filesystem has less free.
//!
//! Sizes were measured on `scenarios/smoke.toml` stretched to 60 s at
//! 12,000 RPM (3 classes, 3 providers): ledger.bin 48 B per attempt,
//! requests.csv ~63 B per request, latency.hlog ~230 B per histogram per
//! second, timeseries.csv ~140 B per second, report.html ~250 KB,
//! summary.json 17–37 KB, baseline.json 14–21 KB. The estimate takes about
//! twice each, and twice the requests as provider attempts (retries and
//! failovers), so that an estimate that fits leaves room to spare.

use std::fmt;
use std::path::Path;

use anyhow::Context;

use crate::scenario::{Gateway, Scenario};

/// What a run is expected to write, file by file, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    pub files: Vec<(&'static str, u64)>,
}

impl Estimate {
    pub fn total(&self) -> u64 {
        self.files.iter().map(|(_, b)| b).sum()
    }
}

impl fmt::Display for Estimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut files: Vec<_> = self.files.iter().filter(|(_, b)| *b > 0).collect();
        files.sort_by_key(|f| std::cmp::Reverse(f.1));
        write!(f, "about {}", bytes(self.total()))?;
        let parts: Vec<String> = files
            .iter()
            .take(4)
            .map(|(n, b)| format!("{n} {}", bytes(*b)))
            .collect();
        if !parts.is_empty() {
            write!(
                f,
                " ({}{})",
                parts.join(", "),
                if files.len() > 4 { ", ..." } else { "" }
            )?;
        }
        Ok(())
    }
}

/// What `scenario` writes into its run directory, generously.
pub fn estimate(scenario: &Scenario, requests_csv: bool) -> Estimate {
    let curve = crate::load::schedule::RateCurve::new(&scenario.load.stages);
    let load_s = scenario.duration().as_secs_f64();
    let requests = (curve.mean_rpm(0.0, load_s) * load_s / 60.0).ceil() as u64;
    // Rows per second run to the end of the drain.
    let seconds = (load_s + scenario.load.drain.as_secs_f64()).ceil() as u64 + 1;
    let classes = scenario.traffic.len() as u64;
    let streaming = scenario.traffic.iter().filter(|c| c.stream).count() as u64;
    let providers = scenario.providers.len() as u64;
    let started_gateway = matches!(&scenario.gateway, Gateway::External(g) if g.process.is_some());
    let hists_per_second = 1 + classes + 2 * streaming;
    Estimate {
        files: vec![
            (
                "ledger.bin",
                if providers > 0 {
                    2 * requests * crate::providers::ledger::RECORD_LEN as u64
                } else {
                    0
                },
            ),
            // Unnamed while the run lasts (run/spill.rs, run/sort.rs): 32
            // bytes per request, 64 per attempt sorted, twice that while
            // runs merge.
            (
                "the ledger join's temporary files",
                if providers > 0 {
                    requests * 32 + 2 * 2 * requests * 64
                } else {
                    0
                },
            ),
            (
                "requests.csv",
                if requests_csv { requests * 128 } else { 0 },
            ),
            ("latency.hlog", seconds * hists_per_second * 512),
            (
                "timeseries.csv",
                seconds * (300 + 32 * (classes + providers)),
            ),
            // The summary keeps at most 1,000 failover events.
            ("summary.json", 128 * 1024 + seconds * 512),
            ("failovers.csv", 1000 * 200),
            ("baseline.json", 64 * 1024 + seconds * 32 * (classes + 1)),
            ("report.html", 768 * 1024 + seconds * 2048),
            ("junit.xml + summary.md", 64 * 1024),
            // What merge reads: 40 bytes per request kept, a copy of
            // latency.hlog, the recorder's histograms and rows per second.
            (
                "shard/",
                if providers > 0 { requests * 40 } else { 0 }
                    + seconds * hists_per_second * 512
                    + 256 * 1024
                    + seconds * (256 + 64 * classes),
            ),
            ("gateway.log", if started_gateway { 16 << 20 } else { 0 }),
        ],
    }
}

/// Refuses (with what it needs and what is free) when the filesystem of
/// `dir` has less free space than `estimate`, or too few free inodes.
pub fn check_space(dir: &Path, estimate: &Estimate) -> anyhow::Result<()> {
    let free = free_space(dir)?;
    let need = estimate.total();
    if free.bytes < need {
        anyhow::bail!(
            "not enough free space for this run in {}: it writes {estimate}, and its \
             filesystem has {} free; free some space, write elsewhere with --out DIR, or \
             shorten the run",
            dir.display(),
            bytes(free.bytes)
        );
    }
    if let Some(inodes) = free.inodes {
        let files = estimate.files.len() as u64 + 4;
        anyhow::ensure!(
            inodes >= files,
            "not enough free inodes for this run in {}: it writes {files} files and its \
             filesystem has {inodes} free inodes",
            dir.display()
        );
    }
    Ok(())
}

/// Free space for an unprivileged writer, in bytes, and free inodes (None
/// where the filesystem does not count them).
pub struct Free {
    pub bytes: u64,
    pub inodes: Option<u64>,
}

#[cfg(unix)]
pub fn free_space(dir: &Path) -> anyhow::Result<Free> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .context("the output directory's path holds a NUL byte")?;
    // SAFETY: `c` is a valid C string; `st` is a plain out-struct.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("reading the free space of {}", dir.display()));
    }
    Ok(Free {
        bytes: (st.f_bavail as u64).saturating_mul(st.f_frsize as u64),
        inodes: (st.f_files != 0).then_some(st.f_favail as u64),
    })
}

#[cfg(not(unix))]
pub fn free_space(_dir: &Path) -> anyhow::Result<Free> {
    Ok(Free {
        bytes: u64::MAX,
        inodes: None,
    })
}

/// Bytes in words: "950 KB", "1.2 GB" (powers of 1,000, as df -H).
pub fn bytes(n: u64) -> String {
    let n = n as f64;
    match n {
        n if n >= 1e12 => format!("{:.1} TB", n / 1e12),
        n if n >= 1e9 => format!("{:.1} GB", n / 1e9),
        n if n >= 1e6 => format!("{:.1} MB", n / 1e6),
        n => format!("{:.0} KB", (n / 1e3).ceil()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(rpm: f64, secs: u64) -> Scenario {
        let mut sc = crate::providers::testing::scenario(3, 1);
        sc.load.stages = vec![crate::scenario::Stage::Hold {
            rpm,
            duration: std::time::Duration::from_secs(secs),
        }];
        sc.load.drain = std::time::Duration::from_secs(10);
        sc
    }

    fn file(e: &Estimate, name: &str) -> u64 {
        e.files.iter().find(|(n, _)| *n == name).unwrap().1
    }

    #[test]
    fn the_estimate_grows_with_requests_and_seconds() {
        let e = estimate(&scenario(60_000.0, 600), false);
        // 600,000 requests, two attempts each, 48 B per attempt.
        assert_eq!(file(&e, "ledger.bin"), 600_000 * 2 * 48);
        assert_eq!(file(&e, "requests.csv"), 0);
        let with_csv = estimate(&scenario(60_000.0, 600), true);
        assert_eq!(file(&with_csv, "requests.csv"), 600_000 * 128);
        let longer = estimate(&scenario(60_000.0, 1200), false);
        assert!(file(&longer, "latency.hlog") > file(&e, "latency.hlog"));
        assert!(file(&longer, "report.html") > file(&e, "report.html"));
        assert!(e.to_string().starts_with("about "), "{e}");
        assert!(e.to_string().contains("ledger.bin 57.6 MB"), "{e}");
        // The join's files: 32 B per request, 2 attempts sorted at 64 B,
        // twice while runs merge.
        assert_eq!(
            file(&e, "the ledger join's temporary files"),
            600_000 * (32 + 2 * 2 * 64)
        );
    }

    #[test]
    fn a_run_that_fits_passes_and_one_that_does_not_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let small = Estimate {
            files: vec![("report.html", 1)],
        };
        check_space(dir.path(), &small).unwrap();
        let huge = Estimate {
            files: vec![("ledger.bin", u64::MAX / 2), ("report.html", 1000)],
        };
        let msg = check_space(dir.path(), &huge).unwrap_err().to_string();
        assert!(
            msg.starts_with("not enough free space for this run in"),
            "{msg}"
        );
        assert!(
            msg.contains("(ledger.bin 9223372.0 TB, report.html 1 KB)"),
            "{msg}"
        );
        assert!(msg.contains("--out DIR"), "{msg}");
    }
}
