//! A run directory's `shard/` folder: everything `slabench merge` needs to
//! rebuild the run's measurements exactly and join them with the others'
//! (docs/shard-layout.md). Every run writes it, sharded or not, at its
//! end, complete or absent: into `.shard.tmp/`, renamed to `shard/` once
//! every file is on disk.
//!
//! - `manifest.json`: who (scenario name and digest, seed, shard I/N, start
//!   time) and how the run went (how the sends ended, host, interrupt,
//!   internal errors, gateway exit, output problems, its ledger);
//! - `recorder.json`: the recorder's measurements (`RecorderState`);
//! - `requests.bin`: this shard's 32-byte client rows with their request
//!   numbers, for the ledger join;
//! - `latency.hlog`: the per-second interval histograms (a copy of the run's);
//! - `scenario.toml`: the scenario file's text;
//! - `started.json`: written when the run starts (`started.rs`), so that a
//!   shard that died before the rest is told apart from no run at all.

mod manifest;
mod read;
mod rows;
mod started;
mod write;

pub use manifest::{DriveState, LedgerState, Manifest, ScenarioId};
pub use read::{read, ShardRun};
pub use rows::{RowReader, RowWriter};
pub use started::{remove_started, unfinished, write_started, Started, STARTED};
pub use write::{write, WriteInput};

/// The folder's name in a run directory.
pub const DIR: &str = "shard";
/// The layout's version: a reader refuses any other (see the docs).
pub const LAYOUT_VERSION: u32 = 1;

/// A digest of the scenario as the run used it (every field after
/// validation, profiles resolved, the seed applied; not where it was read
/// from): FNV-1a 64 of its debug form, in hex. Shards of one run have the
/// same; a changed profile or `${VAR}` gives another.
pub fn scenario_digest(scenario: &crate::scenario::Scenario) -> String {
    let mut s = scenario.clone();
    s.source = None;
    let text = format!("{s:?}");
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests;
