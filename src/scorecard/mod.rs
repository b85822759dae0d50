//! `slabench scorecard`: a built-in battery of fault scenarios against one
//! gateway under open-loop load, each scored pass / partial / fail on
//! named criteria, written as scorecard.json, scorecard.md and
//! scorecard.html beside each case's own run directory.

pub mod battery;
pub mod compose;
pub mod evidence;
pub mod render;
pub mod score;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::exit;
use crate::results::Summary;
use battery::Case;
use score::{Mark, Score};

/// For tests only: the load's length in seconds instead of 12 (the
/// faults keep their share of it). Read by the scorecard alone.
pub const SECONDS_ENV: &str = "SLABENCH_SCORECARD_SECONDS";

/// The seed of every case (the scorecard is reproducible).
pub const SEED: u64 = 14;

/// One case in scorecard.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseOut {
    pub name: String,
    pub statement: String,
    pub score: Score,
    /// Why this score, in one line.
    pub reason: String,
    pub criteria: Vec<Mark>,
    /// The case's report, relative to the scorecard's directory.
    pub report: String,
    pub verdict: Option<String>,
    pub seconds: f64,
}

/// scorecard.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scorecard {
    /// The gateway file, as given.
    pub gateway: String,
    pub slabench_version: String,
    pub started_at: String,
    pub scenarios: Vec<CaseOut>,
    /// False when the battery was stopped before its last case.
    pub complete: bool,
}

impl Scorecard {
    /// Worst first, as a run's verdict ranks them: 3 a case's run was
    /// INVALID (slabench could not hold the schedule, or crashed); 5
    /// interrupted; 2 a case's run could not be made (the gateway did not
    /// start, a port was taken); 1 any fail or partial; 6 any case not
    /// measured; 0 every case passed.
    pub fn exit_code(&self) -> i32 {
        let any = |f: &dyn Fn(&CaseOut) -> bool| self.scenarios.iter().any(f);
        if any(&|c| c.verdict.as_deref() == Some("INVALID")) {
            exit::INVALID
        } else if !self.complete {
            exit::INTERRUPTED
        } else if any(&|c| c.verdict.is_none()) {
            exit::USAGE
        } else if any(&|c| matches!(c.score, Score::Fail | Score::Partial)) {
            exit::FAIL
        } else if any(&|c| c.score == Score::NotMeasured) {
            exit::UNMEASURED
        } else {
            exit::PASS
        }
    }
}

/// How to run the battery.
pub struct Options {
    pub gateway_file: PathBuf,
    pub out: PathBuf,
    pub only: Option<Vec<String>>,
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
}

/// The load's length: 12 s, or the test override.
pub fn seconds() -> u64 {
    std::env::var(SECONDS_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| (4..=600).contains(s))
        .unwrap_or(compose::SECONDS)
}

/// Reads and checks the gateway file, and the cases to run, before
/// anything starts.
pub fn prepare(opts: &Options) -> anyhow::Result<(String, Vec<Case>)> {
    let text = std::fs::read_to_string(&opts.gateway_file).map_err(|e| {
        exit::UserError::new(
            format!("cannot read {}: {e}", opts.gateway_file.display()),
            "pass a gateway file holding only [gateway], e.g. scenarios/scorecard/builtin.toml",
        )
    })?;
    compose::check_gateway_only(&text, &opts.gateway_file)?;
    let cases = battery::select(opts.only.as_deref())
        .map_err(|e| exit::UserError::new(e, "list the cases with `slabench scorecard --list`"))?;
    Ok((text, cases))
}

/// Runs the battery; writes the scorecard after every case, so an
/// interrupt keeps what finished.
pub async fn run(opts: Options) -> anyhow::Result<Scorecard> {
    let (text, cases) = prepare(&opts)?;
    let secs = seconds();
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", opts.out.display()))?;
    let profiles = compose::write_profiles(&opts.out)?;
    // Every case validates before the first one runs: a bad gateway file
    // stops here, with its own line numbers.
    let scenarios = cases
        .iter()
        .map(|c| compose::scenario(&text, &opts.gateway_file, c, secs, &profiles, SEED))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut card = Scorecard {
        gateway: opts.gateway_file.display().to_string(),
        slabench_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        scenarios: Vec::new(),
        complete: false,
    };
    let total = cases.len();
    for (i, (case, sc)) in cases.iter().zip(&scenarios).enumerate() {
        if stopped(&opts) {
            break;
        }
        anstream::eprint!("[{}/{total}] {} … ", i + 1, case.name);
        let out = run_case(case, sc, &opts).await;
        match out.score {
            Score::Pass => anstream::eprintln!("pass ({:.1} s)", out.seconds),
            // Why, at once: the first line of the reason.
            s => anstream::eprintln!(
                "{} ({:.1} s): {}",
                s.as_str(),
                out.seconds,
                out.reason.lines().next().unwrap_or_default()
            ),
        }
        let interrupted = out.verdict.as_deref() == Some("INTERRUPTED");
        card.scenarios.push(out);
        render::write_all(&card, &opts.out)?;
        if interrupted {
            break;
        }
    }
    card.complete = card.scenarios.len() == total && !stopped(&opts);
    render::write_all(&card, &opts.out)?;
    Ok(card)
}

fn stopped(opts: &Options) -> bool {
    opts.stop.as_ref().is_some_and(|s| *s.borrow())
}

async fn run_case(case: &Case, sc: &crate::scenario::Scenario, opts: &Options) -> CaseOut {
    let began = Instant::now();
    let dir = opts.out.join(case.name);
    let run_opts = crate::run::RunOptions {
        out: Some(dir.clone()),
        quiet: true,
        stop: opts.stop.clone(),
        ..Default::default()
    };
    let result = crate::run::run(sc, run_opts).await;
    let seconds = began.elapsed().as_secs_f64();
    match result {
        Ok(outcome) => exercised(case, &dir, case_out(case, &outcome.summary, seconds)),
        Err(e) => CaseOut {
            name: case.name.into(),
            statement: case.statement.into(),
            score: Score::NotMeasured,
            reason: format!("the run could not be made: {e:#}"),
            criteria: Vec::new(),
            report: report_path(case),
            verdict: None,
            seconds,
        },
    }
}

/// A case's entry from its run's summary.
pub fn case_out(case: &Case, summary: &Summary, seconds: f64) -> CaseOut {
    let scored = score::score(case, summary);
    CaseOut {
        name: case.name.into(),
        statement: case.statement.into(),
        score: scored.score,
        reason: scored.reason,
        criteria: scored.marks,
        report: report_path(case),
        verdict: Some(summary.verdict.as_str().to_string()),
        seconds,
    }
}

/// A case that did not fail is not measured when its fault left no trace
/// in the ledger (see [`evidence`]); otherwise its reason says how often
/// the fault fired. A measured failure stands whether or not it did.
fn exercised(case: &Case, dir: &Path, mut out: CaseOut) -> CaseOut {
    let Some(trace) = evidence::trace(case) else {
        return out;
    };
    if matches!(out.score, Score::Fail | Score::NotMeasured) {
        return out;
    }
    let partial = out.score == Score::Partial;
    let secs = seconds() as f64 * 1e6;
    let window = (
        (secs * case.window.start) as i64,
        (secs * case.window.end) as i64,
    );
    let provider: u16 = 0; // flash: every such case's fault is on it
    match evidence::count(&dir.join("ledger.bin"), provider, window, trace) {
        Ok(0) => {
            let never = format!(
                "the fault never fired: the ledger shows no {} at {} in its window",
                trace.what(),
                compose::PROVIDERS[usize::from(provider)].0
            );
            // A measured secondary failure stands; a pass on nothing does not.
            if partial {
                let _ = write!(out.reason, "; {never}");
            } else {
                out.score = Score::NotMeasured;
                out.reason = format!("{never}, so there was nothing to get wrong");
            }
        }
        Ok(n) => {
            let _ = write!(
                out.reason,
                "; the fault fired on {n} attempt(s) ({})",
                trace.what()
            );
        }
        Err(e) if partial => {
            let _ = write!(out.reason, "; whether the fault fired is unknown: {e:#}");
        }
        Err(e) => {
            out.score = Score::NotMeasured;
            out.reason =
                format!("whether the fault fired is unknown: the ledger could not be read: {e:#}");
        }
    }
    out
}

fn report_path(case: &Case) -> String {
    format!("{}/report.html", case.name)
}

/// `--list`: every case and what a correct gateway does.
pub fn list() -> String {
    battery::battery()
        .iter()
        .map(|c| format!("{:<24} {}\n", c.name, c.statement))
        .collect()
}

/// The default output directory: `runs/scorecard-<UTC timestamp>`.
pub fn default_out() -> PathBuf {
    let ts = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace([':', '-'], "");
    Path::new("runs").join(format!("scorecard-{}", ts.trim_end_matches('Z')))
}

#[cfg(test)]
mod tests;
