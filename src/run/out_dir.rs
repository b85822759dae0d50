//! The run directory, created before any load so that a bad path fails
//! at once.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;

use crate::scenario::Scenario;

/// Where runs go without `--out` (`capacity` puts its searches there too).
pub const DEFAULT_ROOT: &str = "reports";

/// Creates the output directory now, so that a bad path fails before any load.
pub(super) fn prepare_out_dir(
    scenario: &Scenario,
    out: Option<&Path>,
    started: SystemTime,
) -> anyhow::Result<PathBuf> {
    let dir = match out {
        Some(d) => d.to_path_buf(),
        None => {
            let stamp = humantime::format_rfc3339_seconds(started)
                .to_string()
                .replace([':', '-'], "");
            PathBuf::from(DEFAULT_ROOT).join(format!("{}-{stamp}", dir_name(&scenario.name)))
        }
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the output directory {}", dir.display()))?;
    let probe = dir.join(".slabench-write-test");
    std::fs::write(&probe, b"")
        .with_context(|| format!("the output directory {} is not writable", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(dir)
}

/// The scenario's name as a directory name: ASCII letters, digits, `-` and
/// `_`, at most 64 characters (file systems refuse names over 255 bytes).
pub fn dir_name(name: &str) -> String {
    name.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
