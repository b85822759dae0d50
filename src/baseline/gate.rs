//! The gate around one run: the baseline is read and checked against the
//! scenario *before* the load starts (a refused baseline must not cost a
//! run), and after the run the comparison goes into the summary, its
//! regressions into the checks, and the run's own baseline to disk.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::compare;
use super::error::BaselineError;
use super::file::{Baseline, Fingerprint, GateSettings, RUN_FILE};
use crate::metrics::recorder::Recorder;
use crate::results::Summary;
use crate::scenario::Scenario;

/// What a run does about baselines. The default compares with nothing and
/// saves nothing beyond the run directory's `baseline.json`.
#[derive(Debug, Clone, Default)]
pub struct RunGate {
    /// The loaded baseline and the file it came from.
    against: Option<(Baseline, PathBuf)>,
    /// Where to save this run as a baseline.
    save: Option<PathBuf>,
    settings: Option<GateSettings>,
}

impl RunGate {
    /// Loads `baseline` (if any) and checks that it fits `scenario`;
    /// `tolerance` and `floor` override the scenario's `[gate]`.
    pub fn prepare(
        scenario: &Scenario,
        baseline: Option<&Path>,
        save: Option<PathBuf>,
        tolerance: Option<f64>,
        floor: Option<Duration>,
    ) -> Result<Self, BaselineError> {
        let against = match baseline {
            Some(path) => {
                let (b, file) = Baseline::load(path)?;
                comparable(&b, &file, &Fingerprint::of(scenario))?;
                Some((b, file))
            }
            None => None,
        };
        if let Some(file) = &save {
            writable(file)?;
        }
        Ok(RunGate {
            against,
            save,
            settings: Some(settings(
                GateSettings {
                    tolerance: scenario.gate.tolerance,
                    floor_ms: scenario.gate.floor.as_secs_f64() * 1000.0,
                },
                tolerance,
                floor,
            )),
        })
    }

    /// The baseline's latency curve per class (`classes` order), for the
    /// report; empty without a baseline.
    pub fn curves(&self, classes: &[String]) -> Vec<Option<crate::metrics::histogram::Hist>> {
        match &self.against {
            Some((base, _)) => base.curves(classes),
            None => Vec::new(),
        }
    }

    /// After the run: writes `out_dir/baseline.json` (and `--save-baseline`),
    /// then compares and folds regressions into the checks and the verdict.
    pub fn apply(
        &self,
        scenario: &Scenario,
        rec: &Recorder,
        summary: &mut Summary,
        out_dir: &Path,
    ) -> anyhow::Result<()> {
        let this_run = Baseline::of_run(scenario, rec, summary)?;
        if let Some((base, file)) = &self.against {
            let gate = self.settings.unwrap_or(this_run.gate);
            let cmp = compare::compare(base, file, &this_run, gate);
            summary.checks.extend(compare::checks(&cmp));
            summary.verdict = crate::analysis::verdict::verdict(&summary.checks);
            summary.baseline = Some(cmp);
        }
        this_run.save(&out_dir.join(RUN_FILE))?;
        if let Some(file) = &self.save {
            // A partial or untrustworthy run would become the yardstick of
            // every later pull request.
            let why = if summary.interrupted {
                Some("was interrupted")
            } else if summary.verdict == crate::analysis::Verdict::Invalid {
                Some("is INVALID (the generator could not hold the schedule)")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(BaselineError::Unfit {
                    file: file.clone(),
                    why,
                }
                .into());
            }
            this_run.save(file)?;
        }
        Ok(())
    }
}

/// Fails now, before any load, if `file` cannot be written later.
fn writable(file: &Path) -> Result<(), BaselineError> {
    let err = |source| BaselineError::Write {
        file: file.to_path_buf(),
        source,
    };
    if file.is_dir() {
        return Err(err(std::io::Error::other(
            "it is a directory; name a file such as reports/baselines/smoke.json",
        )));
    }
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let existed = file.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(file)
        .map_err(err)?;
    if !existed {
        let _ = std::fs::remove_file(file);
    }
    Ok(())
}

/// Refuses a baseline recorded for a scenario that is not comparable.
pub fn comparable(
    baseline: &Baseline,
    file: &Path,
    candidate: &Fingerprint,
) -> Result<(), BaselineError> {
    let differences = baseline.fingerprint.differences(candidate);
    if differences.is_empty() {
        Ok(())
    } else {
        Err(BaselineError::OtherScenario {
            file: file.to_path_buf(),
            differences,
        })
    }
}

/// `defaults` with the flags' overrides.
pub fn settings(
    defaults: GateSettings,
    tolerance: Option<f64>,
    floor: Option<Duration>,
) -> GateSettings {
    GateSettings {
        tolerance: tolerance.unwrap_or(defaults.tolerance),
        floor_ms: floor.map_or(defaults.floor_ms, |f| f.as_secs_f64() * 1000.0),
    }
}

/// `slabench compare BASELINE CANDIDATE`: both are baseline files or run
/// directories. The candidate's stored `[gate]` is the default.
pub fn compare_files(
    baseline: &Path,
    candidate: &Path,
    tolerance: Option<f64>,
    floor: Option<Duration>,
) -> Result<super::Comparison, BaselineError> {
    let (base, base_file) = Baseline::load(baseline)?;
    let (cand, _) = Baseline::load(candidate)?;
    comparable(&base, &base_file, &cand.fingerprint)?;
    let gate = settings(cand.gate, tolerance, floor);
    Ok(compare::compare(&base, &base_file, &cand, gate))
}
