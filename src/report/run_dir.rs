//! Reading a run directory back into [`RunData`] for `slabench report`:
//! summary.json (required, and of a schema version this slabench knows),
//! timeseries.csv and latency.hlog (optional: when one is missing or
//! damaged, the report leaves out the charts drawn from it and says so in a
//! [`Note`]).

use std::path::Path;

use anyhow::Context;

use super::data::{ClassHists, Note, RunData, Second};
use crate::results::{Summary, SCHEMA_VERSION};

/// The summary.json schema versions this slabench reads (version 1 lacks
/// only keys that later versions added, all with defaults).
pub const READABLE_SCHEMA_VERSIONS: &[u64] = &[1, SCHEMA_VERSION as u64];

/// Loads what the reports need from `dir`.
pub fn read(dir: &Path) -> anyhow::Result<RunData> {
    let mut summary = read_summary(dir)?;
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
    let mut notes = Vec::new();
    let (timeline, providers) = match timeseries(dir, &classes) {
        Ok(t) => t,
        Err(problem) => {
            notes.push(Note {
                file: "timeseries.csv".into(),
                problem,
                consequence: "the time charts are left out".into(),
            });
            (Vec::new(), Vec::new())
        }
    };
    let hists = match spectra(dir, &classes) {
        Ok(h) => h,
        Err(problem) => {
            notes.push(Note {
                file: "latency.hlog".into(),
                problem,
                consequence: "the latency spectra and streaming charts are left out".into(),
            });
            Vec::new()
        }
    };
    Ok(RunData {
        summary,
        classes,
        providers,
        timeline,
        hists,
        notes,
        baseline_curves: Vec::new(),
    })
}

/// summary.json, refused unless its `schema_version` is one this slabench
/// reads: a newer file would be misread, not just partly shown.
fn read_summary(dir: &Path) -> anyhow::Result<Summary> {
    let path = dir.join("summary.json");
    let text = std::fs::read(&path).with_context(|| {
        format!(
            "reading {} (is {} a slabench run directory?)",
            path.display(),
            dir.display()
        )
    })?;
    let doc: serde_json::Value = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not JSON (damaged?)", path.display()))?;
    let version = doc
        .get("schema_version")
        .and_then(serde_json::Value::as_u64);
    let wrote = doc
        .get("slabench_version")
        .and_then(serde_json::Value::as_str)
        .map_or(String::new(), |v| format!(" (written by slabench {v})"));
    match version {
        Some(v) if READABLE_SCHEMA_VERSIONS.contains(&v) => {}
        Some(v) => anyhow::bail!(
            "{} has schema_version {v}{wrote}; this slabench {} reads schema versions {}: \
             rebuild the reports with the slabench that wrote the run",
            path.display(),
            env!("CARGO_PKG_VERSION"),
            READABLE_SCHEMA_VERSIONS
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => anyhow::bail!(
            "{} has no schema_version{wrote}: it is not a slabench summary",
            path.display()
        ),
    }
    serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a slabench summary", path.display()))
}

/// timeseries.csv's rows and provider columns; `Err` says what is wrong.
fn timeseries(dir: &Path, classes: &[String]) -> Result<(Vec<Second>, Vec<String>), String> {
    let text = match std::fs::read(dir.join("timeseries.csv")) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|e| {
            format!(
                "byte {}: not UTF-8 text (damaged?)",
                e.utf8_error().valid_up_to()
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("missing".into()),
        Err(e) => return Err(format!("cannot be read ({e})")),
    };
    let (rows, csv_classes, providers) = super::csv::read_timeseries(&text).map_err(|e| {
        let e = format!("{e:#}");
        e.strip_prefix("timeseries.csv ")
            .map_or(e.clone(), str::to_string)
    })?;
    if csv_classes != classes {
        return Err(format!(
            "its classes {csv_classes:?} are not summary.json's {classes:?} (from another run?)"
        ));
    }
    Ok((rows, providers))
}

/// latency.hlog's whole-run histograms per class; `Err` says what is wrong.
fn spectra(dir: &Path, classes: &[String]) -> Result<Vec<ClassHists>, String> {
    match std::fs::read(dir.join("latency.hlog")) {
        Ok(bytes) => super::hlog::read(&bytes, classes).map_err(|e| format!("{e:#}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err("missing".into()),
        Err(e) => Err(format!("cannot be read ({e})")),
    }
}
