//! The client's per-request rows for the ledger join, kept in a file next
//! to the run instead of the heap: row `seq` at offset `seq × 32`, so the
//! file reads back in request order. Rows arrive in completion order, close
//! to request order: a small window of recent rows is written in runs, and
//! a row older than the window is written in place.
//!
//! A shard (`--shard I/N`) keeps only its own requests, densely: its k-th
//! request (number `k × N + I`) at `k × 32`.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::analysis::failover::Records;
use crate::load::shard::Shard;
use crate::metrics::recorder::{RequestRow, RequestStore};

const LEN: u64 = RequestRow::LEN as u64;
/// Rows held before they are written (256 KB).
const WINDOW: u64 = 8192;
/// Bytes read at a time.
const CHUNK: usize = 64 * 1024;

/// An unnamed file in `dir`: created, then unlinked at once, so its space
/// goes back when it is closed, whatever ends the run.
pub(super) fn anon_file(dir: &Path, what: &str) -> std::io::Result<File> {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!(".{what}-{}-{n}.tmp", std::process::id()));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

/// Rows by request number in an unnamed file.
pub struct RowFile {
    file: Option<File>,
    /// The request number of `window[0]`.
    base: u64,
    window: Vec<[u8; RequestRow::LEN]>,
    /// One past the highest request number put.
    end: u64,
    /// The first failure to write or read, for the report.
    error: RefCell<Option<String>>,
    /// Whose requests these are: positions are numbers within the shard.
    shard: Shard,
}

impl std::fmt::Debug for RowFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowFile")
            .field("base", &self.base)
            .field("window", &self.window.len())
            .field("end", &self.end)
            .field("error", &self.error)
            .finish()
    }
}

impl RowFile {
    /// A file in `dir`; one that cannot be created is an error on reading.
    pub fn create(dir: &Path) -> RowFile {
        let (file, error) = match anon_file(dir, "requests") {
            Ok(f) => (Some(f), None),
            Err(e) => (
                None,
                Some(format!("creating a file in {}: {e}", dir.display())),
            ),
        };
        RowFile {
            file,
            base: 0,
            window: Vec::new(),
            end: 0,
            error: RefCell::new(error),
            shard: Shard::WHOLE,
        }
    }

    /// Keeps the requests of `shard` only, at their place within it.
    pub fn sharded(mut self, shard: Shard) -> RowFile {
        self.shard = shard;
        self
    }

    /// The first failure to keep or read a row, if any: the join then
    /// covers fewer requests than were sent.
    pub fn error(&self) -> Option<String> {
        self.error.borrow().clone()
    }

    fn fail(&self, what: &str, e: std::io::Error) {
        self.error
            .borrow_mut()
            .get_or_insert_with(|| format!("{what} the client's records: {e}"));
    }

    fn write(&self, seq: u64, bytes: &[u8]) {
        if let Some(f) = &self.file {
            if let Err(e) = f.write_all_at(bytes, seq * LEN) {
                self.fail("writing", e);
            }
        }
    }

    /// Writes the window's first `n` rows and moves it to `new_base`.
    fn slide(&mut self, new_base: u64) {
        let n = ((new_base - self.base) as usize).min(self.window.len());
        self.write(self.base, self.window[..n].as_flattened());
        self.window.drain(..n);
        self.base = new_base;
    }
}

impl RequestStore for RowFile {
    fn put(&mut self, seq: u64, row: RequestRow) {
        if !self.shard.contains(seq) {
            // Not this shard's: a bug upstream, not a row to keep.
            self.error
                .borrow_mut()
                .get_or_insert_with(|| format!("request {seq} is not shard {}'s", self.shard));
            return;
        }
        let seq = self.shard.local(seq);
        self.end = self.end.max(seq + 1);
        let bytes = row.encode();
        if seq < self.base {
            self.write(seq, &bytes);
            return;
        }
        if seq >= self.base + WINDOW {
            self.slide(seq + 1 - WINDOW / 2);
        }
        let i = (seq - self.base) as usize;
        if self.window.len() <= i {
            self.window.resize(i + 1, [0; RequestRow::LEN]);
        }
        self.window[i] = bytes;
    }

    fn flush(&mut self) {
        let end = self.base + self.window.len() as u64;
        self.slide(end);
        if let Some(f) = &self.file {
            let grow = f.metadata().map(|m| m.len() < self.end * LEN);
            if let Err(e) = grow.and_then(|g| if g { f.set_len(self.end * LEN) } else { Ok(()) }) {
                self.fail("writing", e);
            }
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Records for RowFile {
    fn rows(&self) -> Box<dyn Iterator<Item = (u64, RequestRow)> + '_> {
        let Some(file) = &self.file else {
            return Box::new(std::iter::empty());
        };
        let total = self.end * LEN;
        let mut buf = vec![0u8; CHUNK];
        let (mut at, mut pos, mut filled) = (0u64, 0usize, 0usize);
        Box::new(std::iter::from_fn(move || loop {
            if pos + RequestRow::LEN <= filled {
                let seq = self.shard.global((at + pos as u64) / LEN);
                let bytes: &[u8; RequestRow::LEN] = buf[pos..pos + RequestRow::LEN]
                    .try_into()
                    .expect("row length");
                pos += RequestRow::LEN;
                match RequestRow::decode(bytes) {
                    Some(row) => return Some((seq, row)),
                    None => continue,
                }
            }
            at += filled as u64;
            (pos, filled) = (0, 0);
            let want = (total.saturating_sub(at)).min(CHUNK as u64) as usize;
            if want == 0 {
                return None;
            }
            if let Err(e) = file.read_exact_at(&mut buf[..want], at) {
                self.fail("reading", e);
                return None;
            }
            filled = want;
        }))
    }

    fn timings_kept(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[path = "spill_tests.rs"]
mod tests;
