//! What merge refuses: shards of different runs (scenario, seed, shard
//! count, start time), the same shard twice; and which shards are missing.

use std::path::Path;

use crate::exit::UserError;
use crate::load::shard::Shard;
use crate::shard::ShardRun;

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
