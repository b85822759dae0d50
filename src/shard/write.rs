//! Writing a run's `shard/` folder, complete or absent.

use std::path::Path;
use std::time::SystemTime;

use anyhow::Context;

use super::manifest::{DriveState, LedgerState, Manifest, ScenarioId};
use super::{DIR, LAYOUT_VERSION};
use crate::analysis::failover::Records;
use crate::load::generator::DriveEnd;
use crate::load::shard::Shard;
use crate::metrics::host::HostUsage;
use crate::metrics::recorder::Recorder;
use crate::results::GatewayExitOut;
use crate::scenario::Scenario;

/// What the folder is written from.
pub struct WriteInput<'a> {
    /// The run directory (`shard/` goes inside).
    pub run_dir: &'a Path,
    pub scenario: &'a Scenario,
    pub shard: Shard,
    pub started: SystemTime,
    /// The wall-clock instant of t=0.
    pub t0: SystemTime,
    /// The scenario was loaded with `--allow-remote`.
    pub allow_remote: bool,
    pub recorder: &'a Recorder,
    /// The client's rows (when they were kept: the scenario has providers).
    pub rows: Option<&'a dyn Records>,
    pub end: &'a DriveEnd,
    pub host: Option<HostUsage>,
    pub interrupted: Option<String>,
    pub internal_errors: Vec<String>,
    pub gateway_exit: Option<GatewayExitOut>,
    pub output_problems: Vec<String>,
    /// This run's own ledger (its file name in `run_dir`) and why it may be
    /// incomplete.
    pub ledger: Option<(&'a Path, Option<String>)>,
    /// How the load began against `--start-at`, when one was given.
    pub start: Option<&'a crate::analysis::start::StartFact>,
}

/// Writes `run_dir/shard/`: into `.shard.tmp/`, renamed when complete. A
/// failure leaves no `shard/` (and no temporary folder).
pub fn write(input: &WriteInput) -> anyhow::Result<()> {
    let tmp = input.run_dir.join(format!(".{DIR}.tmp"));
    let dir = input.run_dir.join(DIR);
    let _ = std::fs::remove_dir_all(&tmp);
    let result = (|| {
        std::fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        fill(&tmp, input)?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("removing the old {}", dir.display()))?;
        }
        std::fs::rename(&tmp, &dir).with_context(|| format!("renaming to {}", dir.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result.with_context(|| format!("writing {}", dir.display()))
}

fn fill(tmp: &Path, input: &WriteInput) -> anyhow::Result<()> {
    let requests = match input.rows {
        Some(rows) => super::rows::write_rows(&tmp.join("requests.bin"), rows.rows())?,
        None => super::rows::write_rows(&tmp.join("requests.bin"), std::iter::empty())?,
    };
    // The start marker stays in the complete folder.
    let marker = input.run_dir.join(DIR).join(super::STARTED);
    if marker.exists() {
        std::fs::copy(&marker, tmp.join(super::STARTED))
            .with_context(|| format!("copying {}", marker.display()))?;
    }
    let hlog = input.run_dir.join("latency.hlog");
    if hlog.exists() {
        std::fs::copy(&hlog, tmp.join("latency.hlog"))
            .with_context(|| format!("copying {}", hlog.display()))?;
    }
    if let Some(src) = &input.scenario.source {
        let text = std::fs::read(src).with_context(|| format!("reading {}", src.display()))?;
        crate::atomic_file::write_file(&tmp.join("scenario.toml"), |out| {
            out.write_all(&text)?;
            Ok(())
        })?;
    }
    let state = input.recorder.to_state();
    crate::atomic_file::write_file(&tmp.join("recorder.json"), |out| {
        serde_json::to_writer(out, &state)?;
        Ok(())
    })?;
    let manifest = manifest(input, requests);
    crate::atomic_file::write_file(&tmp.join("manifest.json"), |out| {
        serde_json::to_writer_pretty(&mut *out, &manifest)?;
        out.write_all(b"\n")?;
        Ok(())
    })
}

/// The scenario as a manifest names it.
pub(super) fn scenario_id(sc: &Scenario) -> ScenarioId {
    ScenarioId {
        name: sc.name.clone(),
        digest: super::scenario_digest(sc),
        // Absolute, symlinks kept: a ConfigMap mounts the scenario as
        // a link into a folder whose name changes from pod to pod, and
        // merge resolves the profiles beside the path it was given.
        source: sc.source.as_ref().map(|p| {
            std::path::absolute(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string()
        }),
    }
}

fn manifest(input: &WriteInput, requests: u64) -> Manifest {
    let sc = input.scenario;
    Manifest {
        layout_version: LAYOUT_VERSION,
        slabench_version: env!("CARGO_PKG_VERSION").into(),
        scenario: scenario_id(sc),
        seed: sc.seed,
        shard: input.shard,
        start_at: input.start.map(|s| s.start_at.clone()),
        start_late_ms: input.start.map(|s| s.late_ms),
        start_sent: input.start.map(|s| s.sent),
        started_unix_ms: unix_ms(input.started),
        t0_unix_ms: Some(unix_ms(input.t0)),
        allow_remote: input.allow_remote,
        drive: DriveState::of(input.end),
        host: input.host,
        interrupted: input.interrupted.clone(),
        internal_errors: input.internal_errors.clone(),
        gateway_exit: input.gateway_exit.clone(),
        output_problems: input.output_problems.clone(),
        ledger: input.ledger.as_ref().map(|(file, problem)| LedgerState {
            file: file.display().to_string(),
            problem: problem.clone(),
        }),
        requests,
    }
}

/// Milliseconds since the Unix epoch (0 before it).
pub(super) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
