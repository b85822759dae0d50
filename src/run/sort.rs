//! The ledger's joined attempts sorted by request outside the heap: an
//! external merge sort over unnamed files next to the run. Attempts come in
//! ledger order; every `RUN` of them is sorted by (request, ledger index)
//! and written as a run; `FAN_IN` runs of one size are merged into one of
//! the next (so at most `FAN_IN - 1` runs per size stay open); reading
//! merges the runs left with the attempts still in memory. Memory: one run
//! of attempts plus a read buffer per run, whatever the run's length.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::spill::anon_file;
use crate::analysis::failover::AttemptSort;
use crate::providers::ledger::{Attempt, RECORD_LEN};

/// Attempts held in memory before they go to disk (1 MB).
const RUN: usize = 16 * 1024;
/// Runs of one size merged at once.
const FAN_IN: usize = 16;
/// Bytes per attempt on disk: request number, ledger index, attempt.
const REC: usize = 16 + RECORD_LEN;
/// Bytes read from one run at a time.
const CHUNK: usize = 512 * REC;

/// An attempt with its sort key: (request number, ledger index).
type Keyed = (u64, u64, Attempt);

/// One sorted run on disk.
#[derive(Debug)]
struct Run {
    file: File,
    records: u64,
    /// How many merges made it (0: written from memory).
    level: u32,
}

/// The sort. A file that cannot be written leaves the attempts in memory
/// (the results stay exact; the warning says why memory grew).
#[derive(Debug)]
pub(super) struct AttemptRuns {
    dir: PathBuf,
    /// Attempts held before they are written (`RUN`).
    run: usize,
    held: Vec<Keyed>,
    next: u64,
    runs: Vec<Run>,
    on_disk: bool,
    /// A run that could not be read back: the join misses attempts.
    error: RefCell<Option<String>>,
    /// A run that could not be written: the attempts stayed in memory.
    warning: Option<String>,
}

impl AttemptRuns {
    pub fn new(dir: &Path) -> AttemptRuns {
        AttemptRuns {
            dir: dir.to_path_buf(),
            run: RUN,
            held: Vec::new(),
            next: 0,
            runs: Vec::new(),
            on_disk: true,
            error: RefCell::new(None),
            warning: None,
        }
    }

    /// Runs of `run` attempts (tests: many runs from few attempts).
    #[cfg(test)]
    pub(super) fn with_run(dir: &Path, run: usize) -> AttemptRuns {
        AttemptRuns {
            run,
            ..AttemptRuns::new(dir)
        }
    }

    /// The first failure to read a run back, if any: the join then
    /// missed the attempts after it.
    pub fn error(&self) -> Option<String> {
        self.error.borrow().clone()
    }

    /// The first failure to write a run, if any: the attempts after it
    /// stayed in memory (the join is exact).
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    fn fail(&self, e: std::io::Error) {
        self.error
            .borrow_mut()
            .get_or_insert_with(|| format!("reading the sorted attempts back: {e}"));
    }

    fn warn(&mut self, what: &str, e: std::io::Error) {
        let dir = self.dir.display();
        self.warning.get_or_insert_with(|| {
            format!("{what} sorted attempts in {dir}: {e}; the rest were sorted in memory")
        });
    }

    /// Writes the held attempts as a run, then merges runs of one size.
    fn spill(&mut self) {
        self.held.sort_unstable_by_key(|(seq, i, _)| (*seq, *i));
        let records = self.held.len() as u64;
        // Cleared only once written: a failed write keeps them.
        match write_run(&self.dir, self.held.iter().copied()) {
            Ok(file) => {
                self.held.clear();
                self.runs.push(Run {
                    file,
                    records,
                    level: 0,
                });
            }
            Err(e) => {
                self.warn("writing", e);
                self.on_disk = false;
                return;
            }
        }
        while self.runs.len() >= FAN_IN {
            let tail = &self.runs[self.runs.len() - FAN_IN..];
            let level = tail[0].level;
            if tail.iter().any(|r| r.level != level) {
                break;
            }
            let merged = self.runs.split_off(self.runs.len() - FAN_IN);
            let records = merged.iter().map(|r| r.records).sum();
            let sources = merged.iter().map(|r| self.reader(r)).collect();
            match write_run(&self.dir, Merge::new(sources)) {
                Ok(file) => self.runs.push(Run {
                    file,
                    records,
                    level: level + 1,
                }),
                Err(e) => {
                    // Keep the runs as they were: reading merges them all,
                    // and the attempts from now on stay in memory.
                    self.runs.extend(merged);
                    self.warn("merging", e);
                    self.on_disk = false;
                    break;
                }
            }
        }
    }

    fn reader<'a>(&'a self, run: &'a Run) -> Box<dyn Iterator<Item = Keyed> + 'a> {
        let total = run.records * REC as u64;
        let mut buf = vec![0u8; CHUNK];
        let (mut at, mut pos, mut filled) = (0u64, 0usize, 0usize);
        Box::new(std::iter::from_fn(move || loop {
            if pos + REC <= filled {
                let b = &buf[pos..pos + REC];
                pos += REC;
                return decode(b);
            }
            at += filled as u64;
            (pos, filled) = (0, 0);
            let want = total.saturating_sub(at).min(CHUNK as u64) as usize;
            if want == 0 {
                return None;
            }
            if let Err(e) = run.file.read_exact_at(&mut buf[..want], at) {
                self.fail(e);
                return None;
            }
            filled = want;
        }))
    }
}

impl AttemptSort for AttemptRuns {
    fn push(&mut self, seq: u64, a: &Attempt) {
        self.held.push((seq, self.next, *a));
        self.next += 1;
        if self.on_disk && self.held.len() >= self.run {
            self.spill();
        }
    }

    fn sorted(&mut self) -> Box<dyn Iterator<Item = (u64, Attempt)> + '_> {
        self.held.sort_unstable_by_key(|(seq, i, _)| (*seq, *i));
        let this: &AttemptRuns = self;
        let mut sources: Vec<Box<dyn Iterator<Item = Keyed> + '_>> =
            this.runs.iter().map(|r| this.reader(r)).collect();
        sources.push(Box::new(this.held.iter().copied()));
        Box::new(Merge::new(sources).map(|(seq, _, a)| (seq, a)))
    }
}

fn encode(k: &Keyed) -> [u8; REC] {
    let mut b = [0u8; REC];
    b[..8].copy_from_slice(&k.0.to_le_bytes());
    b[8..16].copy_from_slice(&k.1.to_le_bytes());
    b[16..].copy_from_slice(&k.2.encode());
    b
}

/// `None` only for bytes `encode` never writes (a damaged file).
fn decode(b: &[u8]) -> Option<Keyed> {
    let seq = u64::from_le_bytes(b[..8].try_into().ok()?);
    let i = u64::from_le_bytes(b[8..16].try_into().ok()?);
    let a = Attempt::decode(b[16..].try_into().ok()?)?;
    Some((seq, i, a))
}

fn write_run(dir: &Path, items: impl Iterator<Item = Keyed>) -> std::io::Result<File> {
    let file = anon_file(dir, "attempts")?;
    let mut w = BufWriter::with_capacity(CHUNK, file);
    for k in items {
        w.write_all(&encode(&k))?;
    }
    w.into_inner().map_err(|e| e.into_error())
}

/// A k-way merge of sorted sources by key.
struct Merge<'a> {
    sources: Vec<Box<dyn Iterator<Item = Keyed> + 'a>>,
    heads: BinaryHeap<Reverse<(u64, u64, usize)>>,
    items: Vec<Option<Attempt>>,
}

impl<'a> Merge<'a> {
    fn new(mut sources: Vec<Box<dyn Iterator<Item = Keyed> + 'a>>) -> Self {
        let mut heads = BinaryHeap::new();
        let mut items = vec![None; sources.len()];
        for (i, s) in sources.iter_mut().enumerate() {
            if let Some((seq, k, a)) = s.next() {
                heads.push(Reverse((seq, k, i)));
                items[i] = Some(a);
            }
        }
        Merge {
            sources,
            heads,
            items,
        }
    }
}

impl Iterator for Merge<'_> {
    type Item = Keyed;

    fn next(&mut self) -> Option<Keyed> {
        let Reverse((seq, k, i)) = self.heads.pop()?;
        let a = self.items[i].take()?;
        if let Some((s, k2, a2)) = self.sources[i].next() {
            self.heads.push(Reverse((s, k2, i)));
            self.items[i] = Some(a2);
        }
        Some((seq, k, a))
    }
}

#[cfg(test)]
#[path = "sort_tests.rs"]
mod tests;
