//! `shard/started.json`: written when a run starts, so that `slabench
//! merge` can tell the directory of a shard that died before writing its
//! folder (a crash, SIGKILL, a node lost) from a directory that is no run
//! at all: the first is a missing shard of this run, named.

use std::path::Path;
use std::time::SystemTime;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::manifest::ScenarioId;
use super::DIR;
use crate::load::shard::Shard;
use crate::scenario::Scenario;

/// The marker's file name in `shard/`.
pub const STARTED: &str = "started.json";

/// Who the run was, as its manifest will say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Started {
    pub slabench_version: String,
    pub scenario: ScenarioId,
    pub seed: u64,
    pub shard: Shard,
    /// `--start-at`, or `null`.
    pub start_at: Option<String>,
    /// When the run started, ms since the Unix epoch.
    pub started_unix_ms: u64,
}

/// Writes `run_dir/shard/started.json` (atomically).
pub fn write_started(
    run_dir: &Path,
    scenario: &Scenario,
    shard: Shard,
    start_at: Option<String>,
    started: SystemTime,
) -> anyhow::Result<()> {
    let dir = run_dir.join(DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let marker = Started {
        slabench_version: env!("CARGO_PKG_VERSION").into(),
        scenario: super::write::scenario_id(scenario),
        seed: scenario.seed,
        shard,
        start_at,
        started_unix_ms: super::write::unix_ms(started),
    };
    crate::atomic_file::write_file(&dir.join(STARTED), |out| {
        serde_json::to_writer_pretty(&mut *out, &marker)?;
        out.write_all(b"\n")?;
        Ok(())
    })
    .with_context(|| format!("writing {}", dir.join(STARTED).display()))
}

/// Removes the marker (and `shard/` when that leaves it empty): the run
/// ended before its load, so there is nothing of it to merge.
pub fn remove_started(run_dir: &Path) {
    let dir = run_dir.join(DIR);
    let _ = std::fs::remove_file(dir.join(STARTED));
    let _ = std::fs::remove_dir(dir);
}

/// The marker of a run whose `shard/` folder was never completed (no
/// `manifest.json`); `None` when the folder is complete or there is no
/// marker.
pub fn unfinished(run_dir: &Path) -> Option<Started> {
    let dir = run_dir.join(DIR);
    if dir.join("manifest.json").exists() {
        return None;
    }
    let text = std::fs::read(dir.join(STARTED)).ok()?;
    serde_json::from_slice(&text).ok()
}
