//! `slabench capacity`: the highest load at which the scenario still
//! passes. Each probe is the scenario with every stage's RPM times a
//! factor (faults, classes and SLA unchanged), run as one ordinary
//! `run::run` into `OUT/probes/NN-f<factor>/`; the search (`search.rs`)
//! picks the factors; capacity.json, capacity.md and capacity.html
//! (`render.rs`, `html.rs`) are written before the first probe (status
//! null) and after every probe, so an interrupt keeps what finished. A
//! capacity is claimed only when the search ended on one (found or
//! at_least_max).

pub mod html;
pub mod probe;
pub mod render;
pub mod search;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::exit;
use crate::scenario::Scenario;
use probe::{Head, Probe};
use search::{End, Outcome, Params, Search};

/// How to search.
pub struct Options {
    pub out: PathBuf,
    /// The lowest and highest peak RPM to try (default: the scenario's
    /// peak / 8 and × 8).
    pub min_rpm: Option<f64>,
    pub max_rpm: Option<f64>,
    /// Stop when the bracket's ends are within this ratio (0.05: 5%).
    pub precision: f64,
    /// Passing runs the capacity needs (>= 1).
    pub repeats: u32,
    /// The headroom over the scenario's own peak the capacity must have
    /// for exit 0 (0.2: 20%; default 0: the scenario must pass as written).
    pub require_headroom: f64,
    /// Stop when this turns true (Ctrl-C).
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
    /// Print progress to stderr.
    pub progress: bool,
}

/// The search's settings, as capacity.json records them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub min_rpm: f64,
    pub max_rpm: f64,
    pub precision: f64,
    pub repeats: u32,
    pub require_headroom: f64,
}

/// capacity.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    pub scenario: String,
    pub file: Option<String>,
    pub seed: u64,
    pub slabench_version: String,
    pub started_at: String,
    /// The scenario's own peak RPM (factor 1).
    pub scenario_peak_rpm: f64,
    pub settings: Settings,
    /// How the search ended (`null` while it runs).
    pub status: Option<End>,
    /// The highest peak RPM at which all `repeats` runs passed, set only
    /// when the status is found or at_least_max (`null` otherwise: an
    /// interrupted, INVALID or failed search claims no capacity).
    pub capacity_rpm: Option<f64>,
    /// [highest whose every run so far passed (maybe fewer than
    /// `repeats`: not confirmed), lowest that did not pass once]; `null`
    /// ends: nothing passed, or nothing above failed.
    pub interval_rpm: [Option<f64>; 2],
    /// capacity / scenario peak − 1 (0.25: 25% more than the scenario's
    /// own load; negative: it does not pass at its own load).
    pub headroom: Option<f64>,
    /// True only when the status is found or at_least_max and the
    /// capacity's headroom is at least the required one.
    pub meets_required: bool,
    /// Why the load just above the capacity did not pass, in a sentence.
    pub limiting_check: Option<String>,
    /// What the search found, in a sentence.
    pub conclusion: String,
    pub probes: Vec<Probe>,
}

impl Capacity {
    /// 0 the capacity meets the required headroom; 1 it does not (or
    /// nothing passed); 3 a probe was INVALID (the machine was the limit
    /// before the search ended); 5 interrupted; 2 a probe's run could not
    /// be made.
    pub fn exit_code(&self) -> i32 {
        match self.status {
            None | Some(End::Interrupted) => exit::INTERRUPTED,
            Some(End::MachineLimit) => exit::INVALID,
            Some(End::Error) => exit::USAGE,
            Some(End::Found | End::AtLeastMax | End::BelowMin) => match self.meets_required {
                true => exit::PASS,
                false => exit::FAIL,
            },
        }
    }
}

/// `1,200` (RPM are shown whole, with thousands separated).
pub fn rpm(v: f64) -> String {
    let n = v.round().max(0.0) as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The search's bounds as factors of the scenario's peak.
pub fn params(peak: f64, opts: &Options) -> Params {
    Params {
        min: opts.min_rpm.unwrap_or(peak / 8.0) / peak,
        max: opts.max_rpm.unwrap_or(peak * 8.0) / peak,
        precision: opts.precision,
        repeats: opts.repeats,
    }
}

/// Runs the search; writes the outputs after every probe.
pub async fn run(sc: &Scenario, opts: Options) -> anyhow::Result<Capacity> {
    let peak = probe::peak_rpm(sc);
    let mut search = Search::new(params(peak, &opts));
    clear_probes(&opts.out)?;
    let mut cap = start(sc, peak, &search, &opts);
    // A reused --out shows this search from the start, not the last one's.
    render::write_all(&cap, &opts.out)?;
    while let Some(step) = search.next_step() {
        if stopped(&opts) {
            search.record(Outcome::Interrupted);
            break;
        }
        let head = head(sc, peak, step, cap.probes.len() + 1);
        if opts.progress {
            anstream::eprintln!("{}", render::start_line(&head, search.params().repeats));
        }
        let p = run_probe(sc, &head, &opts).await;
        if opts.progress {
            anstream::eprintln!("{}", render::progress_line(&p));
        }
        search.record(p.outcome);
        cap.probes.push(p);
        conclude(&mut cap, &search);
        render::write_all(&cap, &opts.out)?;
    }
    conclude(&mut cap, &search);
    render::write_all(&cap, &opts.out)?;
    Ok(cap)
}

fn start(sc: &Scenario, peak: f64, search: &Search, opts: &Options) -> Capacity {
    let p = search.params();
    Capacity {
        scenario: sc.name.clone(),
        file: sc.source.as_ref().map(|s| s.display().to_string()),
        seed: sc.seed,
        slabench_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        scenario_peak_rpm: peak,
        settings: Settings {
            min_rpm: p.min * peak,
            max_rpm: p.max * peak,
            precision: p.precision,
            repeats: p.repeats,
            require_headroom: opts.require_headroom,
        },
        status: None,
        capacity_rpm: None,
        interval_rpm: [None, None],
        headroom: None,
        meets_required: false,
        limiting_check: None,
        conclusion: "the search is running".into(),
        probes: Vec::new(),
    }
}

/// Creates `out/probes/` and removes a previous search's probe
/// directories from it (`NN-f<factor>`, nothing else), so that a reused
/// --out holds this search's probes only (as `slabench run` and
/// `scorecard` overwrite their own files in a reused --out).
fn clear_probes(out: &Path) -> anyhow::Result<()> {
    let dir = out.join("probes");
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if is_probe_dir(&name) && entry.path().is_dir() {
            std::fs::remove_dir_all(entry.path()).map_err(|e| {
                anyhow::anyhow!(
                    "cannot remove the previous search's {}: {e}",
                    entry.path().display()
                )
            })?;
        }
    }
    Ok(())
}

/// `03-f1.500`: a name [`probe_dir`] gives.
fn is_probe_dir(name: &str) -> bool {
    let Some((index, factor)) = name.split_once("-f") else {
        return false;
    };
    index.len() >= 2
        && index.bytes().all(|b| b.is_ascii_digit())
        && factor.parse::<f64>().is_ok_and(|f| f > 0.0)
}

fn stopped(opts: &Options) -> bool {
    opts.stop.as_ref().is_some_and(|s| *s.borrow())
}

/// `probes/03-f1.500`: the probe's run directory, relative.
fn probe_dir(index: usize, factor: f64) -> String {
    format!("probes/{index:02}-f{factor:.3}")
}

fn head(sc: &Scenario, peak: f64, step: search::Step, index: usize) -> Head {
    Head {
        index,
        factor: step.factor,
        repeat: step.repeat,
        seed: sc.seed.wrapping_add(u64::from(step.repeat)),
        target_peak_rpm: peak * step.factor,
        report: format!("{}/report.html", probe_dir(index, step.factor)),
        seconds: 0.0,
    }
}

async fn run_probe(sc: &Scenario, head: &Head, opts: &Options) -> Probe {
    let began = Instant::now();
    let dir = opts.out.join(probe_dir(head.index, head.factor));
    let scaled = probe::scaled(sc, head.factor, head.repeat);
    let run_opts = crate::run::RunOptions {
        out: Some(dir.clone()),
        quiet: true,
        stop: opts.stop.clone(),
        ..Default::default()
    };
    let result = crate::run::run(&scaled, run_opts).await;
    let head = Head {
        seconds: began.elapsed().as_secs_f64(),
        ..head.clone()
    };
    match result {
        Ok(outcome) => probe::from_summary(head, &outcome.summary, &scaled, &dir),
        Err(e) if stopped(opts) => head.error(Outcome::Interrupted, format!("{e:#}")),
        Err(e) => head.error(Outcome::Error, format!("the run could not be made: {e:#}")),
    }
}

/// Fills in what the search found so far.
fn conclude(cap: &mut Capacity, search: &Search) {
    let b = search.bracket();
    let peak = cap.scenario_peak_rpm;
    cap.status = search.end();
    // A capacity is claimed only when the search ended on one: a pass
    // followed by an interrupt, an INVALID probe or a run that could not
    // be made (or a search still running) claims none, whatever passed.
    let ended = matches!(cap.status, Some(End::Found | End::AtLeastMax));
    let confirmed = b
        .low
        .filter(|_| ended && b.low_passes >= search.params().repeats);
    cap.capacity_rpm = confirmed.map(|f| f * peak);
    cap.interval_rpm = [b.low.map(|f| f * peak), b.high.map(|f| f * peak)];
    cap.headroom = cap.capacity_rpm.map(|c| c / peak - 1.0);
    cap.meets_required = cap
        .headroom
        .is_some_and(|h| h >= cap.settings.require_headroom - 1e-9);
    cap.limiting_check = b.high.and_then(|h| {
        let p = cap
            .probes
            .iter()
            .find(|p| p.factor == h && p.outcome == Outcome::NotPass)?;
        Some(format!("at {} RPM, {}", rpm(h * peak), p.why.as_deref()?))
    });
    cap.conclusion = render::conclusion(cap);
}

/// The default output directory, where `slabench run` puts its runs:
/// `reports/capacity-<scenario as a directory name>-<UTC timestamp>`.
pub fn default_out(sc: &Scenario) -> PathBuf {
    let ts = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace([':', '-'], "");
    Path::new(crate::run::DEFAULT_ROOT).join(format!(
        "capacity-{}-{}",
        crate::run::dir_name(&sc.name),
        ts.trim_end_matches('Z')
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpm_is_whole_with_separators() {
        assert_eq!(rpm(1200.4), "1,200");
        assert_eq!(rpm(999.6), "1,000");
        assert_eq!(rpm(60000.0), "60,000");
        assert_eq!(rpm(1234567.0), "1,234,567");
        assert_eq!(rpm(12.0), "12");
    }

    #[test]
    fn the_default_out_is_beside_runs_with_a_safe_name() {
        let mut sc = crate::scenario::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/capacity.toml"),
        )
        .unwrap();
        sc.name = "../a b/c".into();
        let out = default_out(&sc);
        assert_eq!(out.parent(), Some(Path::new(crate::run::DEFAULT_ROOT)));
        let name = out.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("capacity-___a_b_c-"), "{name}");
    }

    #[test]
    fn a_reused_out_loses_the_previous_probes_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let probes = dir.path().join("probes");
        for d in ["01-f1.000", "12-f0.125", "notes"] {
            std::fs::create_dir_all(probes.join(d)).unwrap();
            std::fs::write(probes.join(d).join("summary.json"), "{}").unwrap();
        }
        std::fs::write(probes.join("02-f2.000"), "a file, not a probe").unwrap();
        clear_probes(dir.path()).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(&probes)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        left.sort();
        assert_eq!(left, ["02-f2.000", "notes"]);
        assert!(!is_probe_dir("1-f1.0") && !is_probe_dir("01-fx") && is_probe_dir("03-f1.500"));
    }
}
