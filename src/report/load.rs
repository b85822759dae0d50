//! Reading a run directory back into [`RunData`] for `slabench report`:
//! summary.json (required), timeseries.csv and latency.hlog (optional: a
//! report without them has no time-series or spectrum charts, and says so).

use std::path::Path;

use anyhow::Context;

use super::data::{ClassHists, RunData};
use super::summary::Summary;

/// Loads what the reports need from `dir`.
pub fn run_dir(dir: &Path) -> anyhow::Result<RunData> {
    let path = dir.join("summary.json");
    let text = std::fs::read(&path).with_context(|| {
        format!(
            "reading {} (is {} a slabench run directory?)",
            path.display(),
            dir.display()
        )
    })?;
    let mut summary: Summary = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a slabench summary", path.display()))?;
    if let (Some(f), Some(c)) = (summary.failover.as_mut(), summary.cost_usd.as_ref()) {
        f.cost = c.clone();
    }
    let mut classes: Vec<String> = summary
        .scenario
        .traffic
        .iter()
        .map(|t| t.name.clone())
        .collect();
    if classes.is_empty() {
        classes = summary.latency_ms.classes.keys().cloned().collect();
    }
    let (mut timeline, mut providers) = (Vec::new(), Vec::new());
    let csv_path = dir.join("timeseries.csv");
    if let Ok(text) = std::fs::read_to_string(&csv_path) {
        let (rows, csv_classes, csv_providers) = super::csv::read_timeseries(&text)
            .with_context(|| format!("reading {}", csv_path.display()))?;
        anyhow::ensure!(
            csv_classes == classes,
            "{}: classes {csv_classes:?} do not match summary.json's {classes:?}",
            csv_path.display()
        );
        timeline = rows;
        providers = csv_providers;
    }
    let hlog_path = dir.join("latency.hlog");
    let hists = match std::fs::read(&hlog_path) {
        Ok(bytes) => super::hlog::read(&bytes, &classes)
            .with_context(|| format!("reading {}", hlog_path.display()))?,
        Err(_) => classes.iter().map(|_| ClassHists::default()).collect(),
    };
    Ok(RunData {
        summary,
        classes,
        providers,
        timeline,
        hists,
    })
}
