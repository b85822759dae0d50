//! The ledger parts given with `--ledger`, checked against the shards
//! before they join: a part of another run is refused; a part whose
//! providers did not stop cleanly, or that holds fewer attempts than they
//! wrote, leaves every check the ledger decides not measured.

use std::path::Path;

use crate::exit::UserError;
use crate::providers::ledger_info::LedgerInfo;
use crate::scenario::Scenario;
use crate::shard::ShardRun;

/// `Err`: not a part of this run. `Ok(Some(why))`: a part that may miss
/// attempts. `Ok(None)`: a whole part of this run.
pub fn check(
    part: &Path,
    scenario: &Scenario,
    runs: &[ShardRun],
) -> Result<Option<String>, UserError> {
    let shown = part.display();
    let info = match LedgerInfo::read(part) {
        Ok(Some(info)) => info,
        Ok(None) => {
            return Ok(Some(format!(
                "the ledger part {shown} has no {shown}.json beside it (slabench mock writes \
                 one): which run it belongs to, and whether it is whole, is unknown"
            )))
        }
        Err(e) => return Ok(Some(format!("{e:#}"))),
    };
    let Some(m0) = runs.first().map(|r| &r.manifest) else {
        return Ok(None);
    };
    let fields = [
        ("scenario", info.scenario.clone(), scenario.name.clone()),
        ("seed", info.seed.to_string(), m0.seed.to_string()),
        (
            "--start-at",
            format!("{:?}", info.start_at),
            format!("{:?}", m0.start_at),
        ),
    ];
    for (field, got, want) in fields {
        if got != want {
            return Err(UserError::new(
                format!("the ledger part {shown} is of another run: its {field} is {got}, the shards' is {want}"),
                "give the ledger parts the providers wrote for these shards",
            ));
        }
    }
    refuse_another_time(part, &info, runs)?;
    Ok(whole(part, &info))
}

/// The providers must have served while the shards ran.
fn refuse_another_time(part: &Path, info: &LedgerInfo, runs: &[ShardRun]) -> Result<(), UserError> {
    let last_start = runs.iter().map(|r| r.manifest.started_unix_ms).max();
    let (Some(finished), Some(last_start)) = (info.finished_unix_ms, last_start) else {
        return Ok(());
    };
    if finished >= last_start {
        return Ok(());
    }
    Err(UserError::new(
        format!(
            "the ledger part {} ended {:.0} s before the last shard started: it is from another run",
            part.display(),
            (last_start - finished) as f64 / 1000.0
        ),
        "give the ledger parts the providers wrote for these shards (a fresh folder per run)",
    ))
}

/// Why the part may miss attempts, if it may.
fn whole(part: &Path, info: &LedgerInfo) -> Option<String> {
    let shown = part.display();
    let Some(wrote) = info.attempts else {
        return Some(format!(
            "the providers that wrote {shown} did not stop cleanly (no attempt count in \
             {shown}.json): it may miss attempts"
        ));
    };
    match LedgerInfo::records_in(part) {
        Ok(held) if held == wrote => None,
        Ok(held) => Some(format!(
            "{shown} holds {held} attempts, but its providers wrote {wrote}: the part is incomplete"
        )),
        Err(e) => Some(format!("{e:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ledger::{MAGIC, RECORD_LEN};

    /// A ledger of `records` (zeros: only its length is read here) and,
    /// when given, its description.
    fn part(dir: &Path, records: usize, info: Option<&LedgerInfo>) -> std::path::PathBuf {
        let path = dir.join("p.bin");
        let mut bytes = MAGIC.to_vec();
        bytes.resize(MAGIC.len() + records * RECORD_LEN, 0);
        std::fs::write(&path, bytes).unwrap();
        if let Some(info) = info {
            info.write(&path).unwrap();
        }
        path
    }

    fn info() -> LedgerInfo {
        LedgerInfo {
            scenario: "providers-test".into(),
            seed: 7,
            start_at: None,
            started_unix_ms: 1_000,
            finished_unix_ms: Some(90_000),
            attempts: Some(3),
        }
    }

    #[test]
    fn a_part_of_another_run_is_refused_and_a_partial_one_measures_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let sc = crate::providers::testing::scenario(1, 1);
        let mut shard = crate::merge::check::tests::shard("a", 0, 1);
        shard.manifest.started_unix_ms = 2_000;
        let runs = [shard];
        let check = |p: &Path| check(p, &sc, &runs);
        // Whole, of this run.
        assert_eq!(check(&part(dir.path(), 3, Some(&info()))).unwrap(), None);
        // Another seed, another clock, or over before the shards began.
        let mut other = info();
        other.seed = 8;
        let e = check(&part(dir.path(), 3, Some(&other))).unwrap_err();
        assert!(
            e.to_string().contains("its seed is 8, the shards' is 7"),
            "{e}"
        );
        let mut other = info();
        other.start_at = Some("2026-12-03T18:00:00Z".into());
        assert!(check(&part(dir.path(), 3, Some(&other))).is_err());
        let mut old = info();
        old.finished_unix_ms = Some(1_500);
        let e = check(&part(dir.path(), 3, Some(&old))).unwrap_err();
        assert!(
            e.to_string().contains("before the last shard started"),
            "{e}"
        );
        // Cut short, never stopped cleanly, or of unknown origin.
        let why = check(&part(dir.path(), 2, Some(&info()))).unwrap().unwrap();
        assert!(
            why.contains("holds 2 attempts, but its providers wrote 3"),
            "{why}"
        );
        let mut killed = info();
        killed.attempts = None;
        let why = check(&part(dir.path(), 3, Some(&killed))).unwrap().unwrap();
        assert!(why.contains("did not stop cleanly"), "{why}");
        std::fs::remove_file(dir.path().join("p.bin.json")).unwrap();
        let bare = dir.path().join("p.bin");
        assert!(check(&bare).unwrap().unwrap().contains("has no"));
    }
}
