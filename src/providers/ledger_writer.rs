//! Appending attempts to the ledger file from a dedicated writer thread.
//!
//! Server tasks hand each [`Attempt`] to a channel ([`LedgerSink::record`]
//! never blocks and never does I/O); one thread encodes the records into a
//! buffered file and keeps a few counters. Memory stays flat however long the
//! run: nothing per request outlives its trip through the channel.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;

use super::ledger::{Attempt, AttemptOutcome, MAGIC};

/// Counters over the attempts written so far.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LedgerStats {
    pub attempts: u64,
    pub untagged: u64,
    /// Indexed by `AttemptOutcome as usize`.
    pub by_outcome: [u64; AttemptOutcome::ALL.len()],
    /// Indexed by provider.
    pub by_provider: Vec<u64>,
    /// Indexed by provider, then by `AttemptOutcome as usize`.
    pub by_provider_outcome: Vec<[u64; AttemptOutcome::ALL.len()]>,
}

impl LedgerStats {
    pub fn outcome(&self, outcome: AttemptOutcome) -> u64 {
        self.by_outcome[outcome as usize]
    }
}

#[derive(Debug)]
struct Counters {
    attempts: AtomicU64,
    untagged: AtomicU64,
    by_outcome: [AtomicU64; AttemptOutcome::ALL.len()],
    by_provider: Vec<AtomicU64>,
    by_provider_outcome: Vec<[AtomicU64; AttemptOutcome::ALL.len()]>,
}

impl Counters {
    fn count(&self, a: &Attempt) {
        self.attempts.fetch_add(1, Relaxed);
        if a.tag.is_none() {
            self.untagged.fetch_add(1, Relaxed);
        }
        self.by_outcome[a.outcome as usize].fetch_add(1, Relaxed);
        if let Some(c) = self.by_provider.get(usize::from(a.provider)) {
            c.fetch_add(1, Relaxed);
        }
        if let Some(c) = self.by_provider_outcome.get(usize::from(a.provider)) {
            c[a.outcome as usize].fetch_add(1, Relaxed);
        }
    }

    fn snapshot(&self) -> LedgerStats {
        LedgerStats {
            attempts: self.attempts.load(Relaxed),
            untagged: self.untagged.load(Relaxed),
            by_outcome: std::array::from_fn(|i| self.by_outcome[i].load(Relaxed)),
            by_provider: self.by_provider.iter().map(|c| c.load(Relaxed)).collect(),
            by_provider_outcome: self
                .by_provider_outcome
                .iter()
                .map(|p| std::array::from_fn(|i| p[i].load(Relaxed)))
                .collect(),
        }
    }
}

/// The ledger's counters, read while the providers serve.
#[derive(Debug, Clone)]
pub struct LedgerCounters(Arc<Counters>);

impl LedgerCounters {
    /// The counters now (attempts still in the writer's channel are not
    /// counted yet).
    pub fn snapshot(&self) -> LedgerStats {
        self.0.snapshot()
    }
}

enum Msg {
    Record(Attempt),
    Close,
}

/// Where server tasks send their attempts. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LedgerSink {
    tx: mpsc::Sender<Msg>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Record(a) => a.fmt(f),
            Msg::Close => f.write_str("Close"),
        }
    }
}

impl LedgerSink {
    /// Queues one attempt; after the ledger is closed it is dropped silently.
    pub fn record(&self, attempt: Attempt) {
        let _ = self.tx.send(Msg::Record(attempt));
    }
}

/// The ledger file and its writer thread.
#[derive(Debug)]
pub struct LedgerWriter {
    sink: LedgerSink,
    counters: Arc<Counters>,
    thread: JoinHandle<anyhow::Result<()>>,
}

/// How long the writer may sit on buffered records while idle.
const IDLE_FLUSH: Duration = Duration::from_millis(200);

impl LedgerWriter {
    /// Creates (truncates) the ledger at `path` for `providers` providers.
    pub fn create(path: &Path, providers: usize) -> anyhow::Result<Self> {
        let file =
            File::create(path).with_context(|| format!("creating ledger {}", path.display()))?;
        let mut out = BufWriter::with_capacity(256 * 1024, file);
        out.write_all(&MAGIC)
            .with_context(|| format!("writing ledger {}", path.display()))?;
        let counters = Arc::new(Counters {
            attempts: AtomicU64::new(0),
            untagged: AtomicU64::new(0),
            by_outcome: std::array::from_fn(|_| AtomicU64::new(0)),
            by_provider: (0..providers).map(|_| AtomicU64::new(0)).collect(),
            by_provider_outcome: (0..providers)
                .map(|_| std::array::from_fn(|_| AtomicU64::new(0)))
                .collect(),
        });
        let (tx, rx) = mpsc::channel();
        let shown = path.display().to_string();
        let thread_counters = counters.clone();
        let thread = std::thread::Builder::new()
            .name("slabench-ledger".into())
            .spawn(move || {
                write_loop(rx, out, &thread_counters)
                    .with_context(|| format!("writing ledger {shown}"))
            })
            .context("starting the ledger writer thread")?;
        Ok(LedgerWriter {
            sink: LedgerSink { tx },
            counters,
            thread,
        })
    }

    pub fn sink(&self) -> LedgerSink {
        self.sink.clone()
    }

    /// A handle on the counters that outlives nothing but reads them live
    /// (the metrics endpoint's).
    pub fn counters(&self) -> LedgerCounters {
        LedgerCounters(self.counters.clone())
    }

    /// Counters so far (attempts still in the channel are not counted yet).
    pub fn stats(&self) -> LedgerStats {
        self.counters.snapshot()
    }

    /// Writes everything queued so far, closes the file and returns the final
    /// counters. Blocks until the writer thread is done.
    pub fn finish(self) -> anyhow::Result<LedgerStats> {
        let _ = self.sink.tx.send(Msg::Close);
        match self.thread.join() {
            Ok(result) => result?,
            Err(_) => anyhow::bail!("the ledger writer thread panicked"),
        }
        Ok(self.counters.snapshot())
    }
}

fn write_loop(
    rx: mpsc::Receiver<Msg>,
    mut out: BufWriter<File>,
    counters: &Counters,
) -> anyhow::Result<()> {
    // Keep draining after a write error so that senders never pile up; the
    // first error is reported at the end.
    let mut failed: Option<std::io::Error> = None;
    loop {
        let msg = match rx.recv_timeout(IDLE_FLUSH) {
            Ok(msg) => msg,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if failed.is_none() {
                    failed = out.flush().err();
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        match msg {
            Msg::Record(a) => {
                counters.count(&a);
                if failed.is_none() {
                    failed = out.write_all(&a.encode()).err();
                }
            }
            Msg::Close => break,
        }
    }
    if failed.is_none() {
        failed = out.flush().err();
    }
    failed.map_or(Ok(()), |e| Err(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ledger::read_ledger;

    fn attempt(i: u64) -> Attempt {
        Attempt {
            tag: (!i.is_multiple_of(5)).then_some(i),
            provider: (i % 3) as u16,
            arrived_us: i as i64,
            answered_us: i as i64 + 10,
            outcome: AttemptOutcome::ALL[(i % 10) as usize],
            status: 200,
            input_tokens: 7,
            output_tokens: 9,
            stream: i % 2 == 1,
            first_byte_us: i.is_multiple_of(3).then_some(4),
            retry_after_ms: None,
            fault: None,
        }
    }

    #[test]
    fn round_trip_through_the_file_with_counters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.bin");
        let writer = LedgerWriter::create(&path, 3).unwrap();
        let sinks: Vec<_> = (0..4).map(|_| writer.sink()).collect();
        std::thread::scope(|s| {
            for (k, sink) in sinks.iter().enumerate() {
                s.spawn(move || {
                    for i in (k as u64..10_000).step_by(4) {
                        sink.record(attempt(i));
                    }
                });
            }
        });
        let stats = writer.finish().unwrap();
        assert_eq!(stats.attempts, 10_000);
        assert_eq!(stats.untagged, 2_000);
        assert_eq!(stats.outcome(AttemptOutcome::Hang), 1_000);
        assert_eq!(stats.by_provider, vec![3334, 3333, 3333]);

        let mut read: Vec<Attempt> = read_ledger(&path).map(Result::unwrap).collect();
        read.sort_by_key(|a| a.arrived_us);
        assert_eq!(read, (0..10_000).map(attempt).collect::<Vec<_>>());
        let size = std::fs::metadata(&path).unwrap().len();
        assert_eq!(size, 8 + 10_000 * super::super::ledger::RECORD_LEN as u64);
        // Late records after the close are dropped, not a panic.
        sinks[0].record(attempt(1));
    }

    #[test]
    fn create_fails_early_on_a_bad_path() {
        let err = LedgerWriter::create(Path::new("/nonexistent/dir/ledger.bin"), 1).unwrap_err();
        assert!(format!("{err:#}").contains("creating ledger"));
    }
}
