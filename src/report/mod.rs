//! Reports: terminal, JSON, CSV, hlog, HTML, JUnit, Markdown.

use std::path::Path;

use anyhow::Context;

pub mod summary;
pub mod terminal;

/// Writes every output of a run into `dir`.
pub fn write_all(dir: &Path, s: &summary::Summary) -> anyhow::Result<()> {
    let path = dir.join("summary.json");
    let json = serde_json::to_vec_pretty(s).context("serialising the summary")?;
    std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
