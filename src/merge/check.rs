//! What merge refuses: shards of different runs (scenario, seed, shard
//! count, start time), the same shard twice; and which shards are missing.

use std::path::Path;

use crate::exit::UserError;
use crate::load::shard::Shard;
use crate::shard::ShardRun;

/// Without `--start-at`, the shards of one run are launched together: a
/// shard started more than this apart from another is of another run (a
/// rerun the next day would otherwise merge into one verdict).
pub const LAUNCH_SPREAD_MS: u64 = 60_000;

fn started_together(shards: &[ShardRun]) -> Result<(), UserError> {
    if shards.iter().any(|s| s.manifest.start_at.is_some()) {
        return Ok(()); // start_at is compared above
    }
    let by_start = |s: &&ShardRun| s.manifest.started_unix_ms;
    let (Some(a), Some(b)) = (
        shards.iter().min_by_key(by_start),
        shards.iter().max_by_key(by_start),
    ) else {
        return Ok(());
    };
    let spread = b.manifest.started_unix_ms - a.manifest.started_unix_ms;
    if spread <= LAUNCH_SPREAD_MS {
        return Ok(());
    }
    Err(UserError::new(
        format!(
            "{} (shard {}) started {:.0} s after {} (shard {}): shards of one run without \
             --start-at start within {} s of each other; these are parts of different runs",
            b.run_dir.display(),
            b.manifest.shard,
            spread as f64 / 1000.0,
            a.run_dir.display(),
            a.manifest.shard,
            LAUNCH_SPREAD_MS / 1000
        ),
        "merge the shards of one run, started together; give every shard the same --start-at",
    ))
}

/// Checks that `shards` are parts of one run; returns the shard numbers
/// missing from it (`0..N` not given).
pub fn one_run(shards: &[ShardRun]) -> Result<Vec<Shard>, UserError> {
    let first = shards.first().ok_or_else(|| {
        UserError::new("no run directory given", "slabench merge DIR... --out DIR")
    })?;
    let m0 = &first.manifest;
    for s in &shards[1..] {
        let m = &s.manifest;
        let fields: [(&str, String, String); 5] = [
            (
                "scenario",
                m.scenario.name.clone(),
                m0.scenario.name.clone(),
            ),
            (
                "scenario digest (its resolved content)",
                m.scenario.digest.clone(),
                m0.scenario.digest.clone(),
            ),
            ("seed", m.seed.to_string(), m0.seed.to_string()),
            (
                "shard count",
                m.shard.count.to_string(),
                m0.shard.count.to_string(),
            ),
            (
                "start_at",
                format!("{:?}", m.start_at),
                format!("{:?}", m0.start_at),
            ),
        ];
        for (field, got, want) in fields {
            if got != want {
                return Err(differs(&s.run_dir, field, &got, &first.run_dir, &want));
            }
        }
    }
    started_together(shards)?;
    let n = m0.shard.count;
    let mut seen: Vec<Option<&Path>> = vec![None; n as usize];
    for s in shards {
        let i = s.manifest.shard.index as usize;
        match seen.get(i).copied().flatten() {
            Some(other) => {
                return Err(UserError::new(
                    format!(
                        "{} and {} are both shard {}: a shard is merged once",
                        other.display(),
                        s.run_dir.display(),
                        s.manifest.shard
                    ),
                    "give each shard's run directory once",
                ))
            }
            None if i < seen.len() => seen[i] = Some(&s.run_dir),
            None => {
                return Err(UserError::new(
                    format!(
                        "{}: shard {} is not one of {n}",
                        s.run_dir.display(),
                        s.manifest.shard
                    ),
                    "its shard/manifest.json is damaged; run the shard again",
                ))
            }
        }
    }
    Ok((0..n)
        .filter(|i| seen[*i as usize].is_none())
        .map(|i| Shard { index: i, count: n })
        .collect())
}

fn differs(dir: &Path, field: &str, got: &str, first: &Path, want: &str) -> UserError {
    UserError::new(
        format!(
            "{} is not a shard of the same run as {}: its {field} is {got}, not {want}",
            dir.display(),
            first.display()
        ),
        "merge only the shards of one run: the same scenario file, seed, shard count and \
         start time (--shard I/N with the same N)",
    )
}

/// The shards whose run started but never wrote its folder: checked to
/// be of this run (scenario digest, seed, shard count, start time), and
/// not also given finished; each is among `missing`, and its sentence
/// (`shard 1/3 (DIR) started but did not finish`) is returned.
pub fn unfinished(
    shards: &[ShardRun],
    unfinished: &[(std::path::PathBuf, crate::shard::Started)],
    missing: &[Shard],
) -> Result<Vec<String>, UserError> {
    let Some(first) = shards.first() else {
        return Ok(Vec::new());
    };
    let m0 = &first.manifest;
    let mut out = Vec::new();
    for (dir, s) in unfinished {
        let fields: [(&str, String, String); 4] = [
            (
                "scenario digest (its resolved content)",
                s.scenario.digest.clone(),
                m0.scenario.digest.clone(),
            ),
            ("seed", s.seed.to_string(), m0.seed.to_string()),
            (
                "shard count",
                s.shard.count.to_string(),
                m0.shard.count.to_string(),
            ),
            (
                "start_at",
                format!("{:?}", s.start_at),
                format!("{:?}", m0.start_at),
            ),
        ];
        for (field, got, want) in fields {
            if got != want {
                return Err(differs(dir, field, &got, &first.run_dir, &want));
            }
        }
        if !missing.contains(&s.shard) {
            return Err(UserError::new(
                format!(
                    "{} is shard {}, which is given twice (it started but did not finish there)",
                    dir.display(),
                    s.shard
                ),
                "give each shard's run directory once",
            ));
        }
        out.push(format!(
            "shard {} ({}) started but did not finish",
            s.shard,
            dir.display()
        ));
    }
    Ok(out)
}

/// `shard 2/4 missing` (or `shards 1/4, 3/4 missing`).
pub fn missing_sentence(missing: &[Shard]) -> String {
    let list: Vec<String> = missing.iter().map(Shard::to_string).collect();
    format!(
        "{} {} missing",
        if missing.len() == 1 {
            "shard"
        } else {
            "shards"
        },
        list.join(", ")
    )
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::shard::{DriveState, Manifest, ScenarioId};

    pub(in crate::merge) fn shard(dir: &str, index: u32, count: u32) -> ShardRun {
        ShardRun {
            run_dir: dir.into(),
            manifest: Manifest {
                layout_version: crate::shard::LAYOUT_VERSION,
                slabench_version: "0".into(),
                scenario: ScenarioId {
                    name: "s".into(),
                    digest: "d1".into(),
                    source: None,
                },
                seed: 7,
                shard: Shard { index, count },
                start_at: None,
                start_late_ms: None,
                start_sent: None,
                started_unix_ms: 0,
                t0_unix_ms: None,
                allow_remote: false,
                drive: DriveState::of(&Default::default()),
                host: None,
                interrupted: None,
                internal_errors: vec![],
                gateway_exit: None,
                output_problems: vec![],
                ledger: None,
                requests: 0,
            },
            recorder: crate::metrics::recorder::Recorder::new(["c".to_string()]),
            scenario_text: None,
        }
    }

    #[test]
    fn shards_of_one_run_pass_and_the_missing_are_listed() {
        let runs = [shard("a", 0, 4), shard("c", 2, 4)];
        let missing = one_run(&runs).unwrap();
        assert_eq!(
            missing,
            [Shard { index: 1, count: 4 }, Shard { index: 3, count: 4 }]
        );
        assert_eq!(missing_sentence(&missing), "shards 1/4, 3/4 missing");
        assert_eq!(missing_sentence(&missing[..1]), "shard 1/4 missing");
        assert!(one_run(&[shard("a", 0, 1)]).unwrap().is_empty());
    }

    #[test]
    fn another_run_or_the_same_shard_twice_is_refused_naming_the_field() {
        let refused = |b: ShardRun| one_run(&[shard("a", 0, 3), b]).unwrap_err().to_string();
        let mut b = shard("b", 1, 3);
        b.manifest.seed = 8;
        assert!(refused(b).contains("b is not a shard of the same run as a: its seed is 8, not 7"));
        let mut b = shard("b", 1, 3);
        b.manifest.scenario.digest = "d2".into();
        assert!(refused(b).contains("its scenario digest"));
        let mut b = shard("b", 1, 3);
        b.manifest.scenario.name = "t".into();
        assert!(refused(b).contains("its scenario is t, not s"));
        let mut b = shard("b", 1, 3);
        b.manifest.start_at = Some("2026-12-03T18:00:00Z".into());
        assert!(refused(b).contains("its start_at"));
        assert!(refused(shard("b", 1, 4)).contains("its shard count is 4, not 3"));
        assert!(refused(shard("b", 0, 3)).contains("a and b are both shard 0/3"));
        assert!(one_run(&[]).is_err());
    }

    #[test]
    fn shards_launched_a_day_apart_without_start_at_are_two_runs() {
        let at = |dir: &str, index: u32, ms: u64| {
            let mut s = shard(dir, index, 2);
            s.manifest.started_unix_ms = ms;
            s
        };
        let together = [at("a", 0, 1_000), at("b", 1, 1_000 + LAUNCH_SPREAD_MS)];
        assert!(one_run(&together).is_ok());
        let e = one_run(&[at("a", 0, 1_000), at("b", 1, 86_401_000)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("b (shard 1/2) started 86400 s after a"), "{e}");
        // With one --start-at, the launch times may differ (a pod waits).
        let mut late = [at("a", 0, 1_000), at("b", 1, 86_401_000)];
        for s in &mut late {
            s.manifest.start_at = Some("2026-12-03T18:00:00Z".into());
        }
        assert!(one_run(&late).is_ok());
    }
}
