//! What a standalone ledger part (`slabench mock --ledger FILE`) belongs
//! to, beside it in `FILE.json`: the scenario and seed, the common clock,
//! when the providers served, and how many attempts the file holds once
//! they stopped. A ledger is records and nothing else, so without this a
//! part left from an earlier run of the same scenario would join a new
//! one, and a file cut on a record boundary would read as complete.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerInfo {
    pub scenario: String,
    pub seed: u64,
    /// `--start-at` (RFC 3339), when the providers kept a common clock.
    pub start_at: Option<String>,
    /// When the providers started serving, ms since the Unix epoch.
    pub started_unix_ms: u64,
    /// When they stopped and the ledger was flushed; `null` while they
    /// serve (or when they never stopped cleanly).
    pub finished_unix_ms: Option<u64>,
    /// Attempts in the ledger once flushed; `null` until then.
    pub attempts: Option<u64>,
}

/// `ledger.bin` → `ledger.bin.json`.
pub fn path_of(ledger: &Path) -> PathBuf {
    let mut p = ledger.as_os_str().to_owned();
    p.push(".json");
    PathBuf::from(p)
}

pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl LedgerInfo {
    pub fn write(&self, ledger: &Path) -> anyhow::Result<()> {
        crate::atomic_file::write_file(&path_of(ledger), |out| {
            serde_json::to_writer_pretty(&mut *out, self)?;
            Ok(())
        })
    }

    /// `None` when the part has no `.json` beside it.
    pub fn read(ledger: &Path) -> anyhow::Result<Option<LedgerInfo>> {
        let path = path_of(ledger);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .with_context(|| format!("{}: not a ledger's description", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Records in `ledger` by its size (whole records after the header).
    pub fn records_in(ledger: &Path) -> anyhow::Result<u64> {
        let len = std::fs::metadata(ledger)
            .with_context(|| format!("reading {}", ledger.display()))?
            .len();
        let header = super::ledger::MAGIC.len() as u64;
        Ok(len.saturating_sub(header) / super::ledger::RECORD_LEN as u64)
    }
}
