//! Reading a run's `shard/` folder back into the state the run had.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::manifest::Manifest;
use super::{DIR, LAYOUT_VERSION};
use crate::metrics::recorder::{Recorder, RecorderState};

/// One shard's folder, read back.
#[derive(Debug)]
pub struct ShardRun {
    /// The run directory.
    pub run_dir: PathBuf,
    pub manifest: Manifest,
    /// The recorder as it was at the end of the run (no outputs, no rows:
    /// those are in [`ShardRun::rows`]).
    pub recorder: Recorder,
    /// The scenario file's text, when the run read one.
    pub scenario_text: Option<String>,
}

impl ShardRun {
    /// The client's rows, in request order.
    pub fn rows(&self) -> anyhow::Result<super::RowReader> {
        super::RowReader::open(&self.run_dir.join(DIR).join("requests.bin"))
    }

    /// The per-second interval log (a copy of the run's latency.hlog);
    /// `None` when the run had none.
    pub fn hlog(&self) -> Option<PathBuf> {
        Some(self.run_dir.join(DIR).join("latency.hlog")).filter(|p| p.exists())
    }

    /// The run's own ledger, when its providers wrote one and it is there.
    pub fn ledger(&self) -> Option<PathBuf> {
        let l = self.manifest.ledger.as_ref()?;
        Some(self.run_dir.join(&l.file)).filter(|p| p.exists())
    }
}

/// Reads `run_dir/shard/`. An error names the directory, the file and what
/// is wrong with it.
pub fn read(run_dir: &Path) -> anyhow::Result<ShardRun> {
    let dir = run_dir.join(DIR);
    if !dir.is_dir() {
        bail!(
            "{} has no {DIR}/ folder: it is not a run directory, or its run ended before \
             writing it (a run written by slabench before sharded runs existed has none)",
            run_dir.display()
        );
    }
    let manifest: Manifest = json(&dir.join("manifest.json"))?;
    if manifest.layout_version != LAYOUT_VERSION {
        bail!(
            "{}: layout_version {} is not {LAYOUT_VERSION}, the one this slabench reads \
             (written by slabench {})",
            dir.join("manifest.json").display(),
            manifest.layout_version,
            manifest.slabench_version
        );
    }
    let state: RecorderState = json(&dir.join("recorder.json"))?;
    let recorder = Recorder::from_state(&state)
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.join("recorder.json").display()))?;
    let scenario_text = match std::fs::read_to_string(dir.join("scenario.toml")) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(e)
                .with_context(|| format!("reading {}", dir.join("scenario.toml").display()))
        }
    };
    Ok(ShardRun {
        run_dir: run_dir.to_path_buf(),
        manifest,
        recorder,
        scenario_text,
    })
}

fn json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("{} is not valid", path.display()))
}
