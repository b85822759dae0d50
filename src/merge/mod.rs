//! `slabench merge`: one ordinary run directory and one verdict from the
//! run directories of a sharded run (`slabench run --shard I/N`).
//!
//! Each shard's `shard/` folder (docs/shard-layout.md) is read back; shards
//! of another run (scenario, seed, shard count, start time) or the same
//! shard twice are refused (`check.rs`); histograms are added exactly, counts
//! and per-second rows summed (`Recorder::merge`), the per-second interval
//! logs added second by second (`seconds.rs`); the client's rows of every
//! shard, in request order (`rows.rs`), are joined with every ledger part
//! through the run's own join; the generator is judged per shard, and a
//! missing shard makes the run INVALID (`health.rs`). Then the usual
//! `Summary::build`, the baseline gate and every report.

mod check;
mod health;
mod parts;
mod rows;
mod seconds;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;

use crate::exit::UserError;
use crate::metrics::recorder::Recorder;
use crate::results::Summary;
use crate::scenario::Scenario;
use crate::shard::ShardRun;

/// What to merge, and where.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The shards' run directories.
    pub dirs: Vec<PathBuf>,
    /// Ledger parts besides the shards' own `ledger.bin`.
    pub ledgers: Vec<PathBuf>,
    pub out: PathBuf,
    /// No summary table (`--quiet`).
    pub quiet: bool,
    /// summary.json on stdout instead of the table (`--json`).
    pub json: bool,
}

/// What a merge needs before it reads anything large: the shards' folders
/// read back, the scenario they ran, and what is missing.
pub struct Shards {
    pub runs: Vec<ShardRun>,
    pub scenario: Scenario,
    pub missing: Vec<crate::load::shard::Shard>,
    /// Why some are missing: `shard 1/3 (DIR) started but did not finish`.
    pub unfinished: Vec<String>,
}

/// Reads and checks the shards (a refusal is a `UserError`, exit 2). A
/// directory whose run started (`shard/started.json`) but never wrote its
/// folder is a shard of this run that did not finish: missing, named.
pub fn read(dirs: &[PathBuf]) -> anyhow::Result<Shards> {
    let mut runs = Vec::new();
    let mut unfinished = Vec::new();
    for d in dirs {
        if let Some(started) = crate::shard::unfinished(d) {
            unfinished.push((d.clone(), started));
            continue;
        }
        runs.push(crate::shard::read(d).map_err(|e| {
            UserError::new(
                format!("{e:#}"),
                "give the run directories written by `slabench run --shard I/N --out DIR`",
            )
        })?);
    }
    if runs.is_empty() && !unfinished.is_empty() {
        return Err(UserError::new(
            format!(
                "no shard given finished: {} started but did not finish (no shard/manifest.json)",
                unfinished[0].0.display()
            ),
            "merge the run directories of shards that finished",
        )
        .into());
    }
    let missing = check::one_run(&runs)?;
    let unfinished = check::unfinished(&runs, &unfinished, &missing)?;
    let scenario = scenario_of(&runs[0])?;
    Ok(Shards {
        runs,
        scenario,
        missing,
        unfinished,
    })
}

/// The scenario the shards ran, read back from the first one's copy and
/// checked against the digest every shard recorded.
fn scenario_of(first: &ShardRun) -> anyhow::Result<Scenario> {
    let m = &first.manifest;
    let copy = first.run_dir.join(crate::shard::DIR).join("scenario.toml");
    let Some(text) = &first.scenario_text else {
        return Err(UserError::new(
            format!(
                "{} is missing: merge needs the scenario the shards ran",
                copy.display()
            ),
            "run the shards from a scenario file",
        )
        .into());
    };
    let path = m
        .scenario
        .source
        .as_ref()
        .map_or(copy.clone(), PathBuf::from);
    // Read back as the shard read it (`--allow-remote`: a gateway that is
    // not loopback); merge itself sends nothing anywhere.
    let load = crate::scenario::LoadOptions {
        allow_remote: m.allow_remote,
    };
    let mut sc = crate::scenario::from_str_with(text, &path, &|v| std::env::var(v).ok(), load)
        .with_context(|| format!("reading {} back", copy.display()))?;
    sc.seed = m.seed;
    if crate::shard::scenario_digest(&sc) != m.scenario.digest {
        return Err(UserError::new(
            format!(
                "the scenario read back from {} is not the one the shards ran (digest {} , not \
                 {}): a provider profile or a ${{VAR}} it uses changed since",
                copy.display(),
                crate::shard::scenario_digest(&sc),
                m.scenario.digest
            ),
            format!(
                "merge where the profiles beside {} and the environment are as the shards had them",
                path.display()
            ),
        )
        .into());
    }
    Ok(sc)
}

/// Merges `shards` into `opts.out` with `gate`; returns the merged summary.
pub fn merge(
    shards: Shards,
    opts: &Options,
    gate: &crate::baseline::RunGate,
) -> anyhow::Result<Summary> {
    let (runs, scenario) = (shards.runs, shards.scenario);
    let missing = (shards.missing, shards.unfinished);
    crate::crash::install();
    let panics_before = crate::crash::mark();
    refuse_an_input_as_out(&runs, &opts.out)?;
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let exports = crate::report::Exports::create(&opts.out, crate::report::Set::Run)?;
    let (rec, mut problems) = recorder(&scenario, &runs, &opts.out)?;
    let end = health::drive_end(&runs);
    let mut facts = health::facts(&scenario, &runs);
    let failover = join(&scenario, &rec, &end, &runs, opts)?;
    if failover.is_none() && !scenario.providers.is_empty() {
        facts.no_ledger_why = Some(
            "no ledger part was given to merge (the shards started no providers of their own): \
             `slabench merge --ledger` with the providers' ledger files brings the analysis"
                .into(),
        );
    }
    problems.extend(runs.iter().flat_map(|s| {
        s.manifest
            .output_problems
            .iter()
            .map(move |p| format!("shard {}: {p}", s.manifest.shard))
    }));
    // A panic inside the merge makes it INVALID, as in a run.
    facts
        .internal_errors
        .extend(crate::crash::since(panics_before));
    let mut summary = Summary::build(crate::results::BuildInput {
        scenario: &scenario,
        recorder: &rec,
        end: &end,
        started: started(&runs),
        failover,
        facts: &facts,
        host: None,
        gateway_exit: runs.iter().find_map(|s| s.manifest.gateway_exit.clone()),
        output_problems: problems,
        shard: crate::load::shard::Shard::WHOLE,
    });
    let count = runs[0].manifest.shard.count;
    summary.checks.extend(health::checks(
        &scenario,
        &runs,
        count,
        (&missing.0, &missing.1),
    ));
    summary.verdict = crate::analysis::verdict::verdict(&summary.checks);
    let gated = gate.apply(&scenario, &rec, &mut summary, &opts.out);
    let mut data = crate::report::RunData::from_run(&scenario, summary, &rec, Vec::new());
    data.baseline_curves = gate.curves(&data.classes);
    let written = exports.write(&data);
    let show = crate::report::terminal::Show::of(opts.json, opts.quiet);
    crate::report::terminal::show(show, &data.summary, &opts.out);
    written.context("writing the reports")?;
    match gated {
        // An invalid or interrupted merged run is not saved as a baseline;
        // that is said, and its own verdict stands.
        Err(e)
            if matches!(
                e.downcast_ref::<crate::baseline::BaselineError>(),
                Some(crate::baseline::BaselineError::Unfit { .. })
            ) =>
        {
            crate::term::warning(format_args!("{e:#}"));
        }
        other => other?,
    }
    Ok(data.summary)
}

/// The shards' recorders added up, their rows in a file in `out` and the
/// per-second percentiles and latency.hlog from their interval logs;
/// with what could not be merged.
fn recorder(
    scenario: &Scenario,
    runs: &[ShardRun],
    out: &Path,
) -> anyhow::Result<(Recorder, Vec<String>)> {
    let classes: Vec<String> = scenario.traffic.iter().map(|c| c.name.clone()).collect();
    let streaming: Vec<bool> = scenario.traffic.iter().map(|c| c.stream).collect();
    let names: Vec<String> = scenario.providers.iter().map(|p| p.name.clone()).collect();
    let mut rec = Recorder::new(classes.clone()).with_stages(Vec::new());
    let mut maps = Vec::new();
    for s in runs {
        rec.merge(&s.recorder)
            .map_err(|e| anyhow::anyhow!("{}: {e}", s.run_dir.display()))?;
        maps.push(rec.error_messages.absorb(&s.recorder.error_messages));
    }
    let intervals = seconds::Intervals::read(runs);
    let t0 = seconds::t0(runs);
    intervals.apply(
        &mut rec,
        &classes,
        &streaming,
        Some((&out.join("latency.hlog"), t0)),
    )?;
    let mut rows = crate::run::RowFile::create(out);
    rows::merge_rows(runs, &maps, &mut rows)?;
    if let Some(e) = rows.error() {
        anyhow::bail!(
            "keeping the merged client records in {}: {e}",
            out.display()
        );
    }
    let rec = rec.keep_requests_in(names, Box::new(rows));
    Ok((rec, intervals.problems))
}

/// The ledger join over every part: each shard's own ledger and `--ledger`.
fn join(
    scenario: &Scenario,
    rec: &Recorder,
    end: &crate::load::generator::DriveEnd,
    runs: &[ShardRun],
    opts: &Options,
) -> anyhow::Result<Option<crate::analysis::failover::Report>> {
    let mut parts: Vec<PathBuf> = runs.iter().filter_map(ShardRun::ledger).collect();
    for l in &opts.ledgers {
        if !l.is_file() {
            return Err(UserError::new(
                format!("--ledger {}: no such file", l.display()),
                "give the ledger files the providers wrote (slabench mock --ledger FILE)",
            )
            .into());
        }
        parts.push(l.clone());
    }
    refuse_a_part_twice(&parts)?;
    let mut part_problem = None;
    for l in &opts.ledgers {
        let problem = parts::check(l, scenario, runs)?;
        part_problem = part_problem.or(problem);
    }
    // A shard whose providers wrote a ledger that is not there any more:
    // its attempts are missing, so nothing the ledger decides is measured.
    let lost = runs
        .iter()
        .find(|s| s.manifest.ledger.is_some() && s.ledger().is_none());
    if scenario.providers.is_empty() || parts.is_empty() {
        return Ok(None);
    }
    let connections = crate::analysis::failover::Connections::NotObservable(
        "connection attempts are watched per shard, not merged",
    );
    let mut report = crate::run::join_ledger(
        scenario,
        rec,
        end,
        &parts,
        &opts.out,
        connections,
        opts.quiet,
        None,
    );
    let problem = runs.iter().find_map(|s| {
        let l = s.manifest.ledger.as_ref()?;
        l.problem
            .as_ref()
            .map(|p| format!("shard {}'s ledger may be incomplete: {p}", s.manifest.shard))
    });
    if let Some(p) = problem {
        report.ledger_error.get_or_insert(p);
    }
    if let Some(p) = part_problem {
        report.ledger_error.get_or_insert(p);
    }
    if let Some(s) = lost {
        report.ledger_error.get_or_insert(format!(
            "shard {}'s own ledger ({}) is missing from {}: its providers' attempts are not in the join",
            s.manifest.shard,
            s.manifest.ledger.as_ref().map_or("", |l| l.file.as_str()),
            s.run_dir.display()
        ));
    }
    Ok(Some(report))
}

/// The same ledger part read twice would count every attempt in it twice.
fn refuse_a_part_twice(parts: &[PathBuf]) -> Result<(), UserError> {
    let mut seen = std::collections::HashMap::new();
    for p in parts {
        let key = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
        if let Some(first) = seen.insert(key, p) {
            return Err(UserError::new(
                format!(
                    "the ledger part {} is given twice (also as {}): its attempts would count twice",
                    p.display(),
                    first.display()
                ),
                "give each ledger file once; a shard's own ledger.bin is read without --ledger",
            ));
        }
    }
    Ok(())
}

/// Writing the merged run into a shard's own directory would replace that
/// shard's reports with the merged ones.
fn refuse_an_input_as_out(runs: &[ShardRun], out: &Path) -> Result<(), UserError> {
    let Ok(out) = std::fs::canonicalize(out) else {
        return Ok(()); // Not there yet: no shard's.
    };
    match runs
        .iter()
        .find(|s| std::fs::canonicalize(&s.run_dir).is_ok_and(|d| d == out))
    {
        Some(s) => Err(UserError::new(
            format!(
                "--out {} is shard {}'s own run directory",
                s.run_dir.display(),
                s.manifest.shard
            ),
            "write the merged run into a directory of its own, e.g. --out runs/merged",
        )),
        None => Ok(()),
    }
}

/// The earliest shard's wall-clock start (its launch: summary.json's
/// `started_at`, as a run's).
fn started(runs: &[ShardRun]) -> SystemTime {
    let ms = runs
        .iter()
        .map(|s| s.manifest.started_unix_ms)
        .min()
        .unwrap_or(0);
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_run_with_allow_remote_reads_back_as_it_ran() {
        let text = "[load]\nstages = [{ hold_rpm = 60, for = \"1s\" }]\n\n[[traffic]]\n\
                    model = \"m\"\n\n[gateway]\nurl = \"http://10.1.2.3:8080\"\n";
        let path = Path::new("a/shard/scenario.toml");
        let env = |_: &str| None;
        let remote = crate::scenario::LoadOptions { allow_remote: true };
        let sc = crate::scenario::from_str_with(text, path, &env, remote).unwrap();
        assert!(crate::scenario::from_str(text, path, &env).is_err());
        let mut shard = check::tests::shard("a", 0, 1);
        shard.scenario_text = Some(text.into());
        shard.manifest.seed = sc.seed;
        shard.manifest.scenario.digest = crate::shard::scenario_digest(&sc);
        shard.manifest.allow_remote = true;
        assert_eq!(scenario_of(&shard).unwrap().seed, sc.seed);
        // A manifest without it: the scenario is refused as the run would.
        shard.manifest.allow_remote = false;
        assert!(scenario_of(&shard).is_err());
    }
}
