//! The streamed outputs a run writes as it goes, besides latency.hlog:
//! requests.csv, one row per request, streamed to disk (never buffering
//! the run in memory), and the live progress line's rolling p99. Each is
//! an [`Accumulator`] the recorder feeds.
//!
//! requests.csv is created with the first result (or at the end of a run
//! without any), so a run that fails to start leaves no empty file. A write
//! error does not stop the run: the file is left incomplete, and `finish`
//! says so.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Context;

use crate::load::generator::Live;
use crate::metrics::accumulate::{Accumulator, ClosedSecond, Incomplete};
use crate::metrics::request::RequestResult;

/// requests.csv: its path until the first row, then the open file.
pub struct RequestsCsv {
    classes: Vec<String>,
    state: State,
    /// The first failure writing it (it is not written further).
    error: Option<anyhow::Error>,
}

enum State {
    Pending(PathBuf),
    Open(BufWriter<File>),
}

impl RequestsCsv {
    /// Streams one row per request into `path`; the file is created with
    /// the first row (the directory's writability is checked before the load).
    pub fn new(path: PathBuf, classes: Vec<String>) -> Self {
        RequestsCsv {
            classes,
            state: State::Pending(path),
            error: None,
        }
    }

    /// The file, created with its header on first use.
    fn file(&mut self) -> anyhow::Result<&mut BufWriter<File>> {
        if let State::Pending(path) = &self.state {
            let file = File::create(path).context("creating it")?;
            let mut out = BufWriter::with_capacity(64 * 1024, file);
            super::csv::record(&mut out, &super::csv::REQUESTS_HEADER)?;
            self.state = State::Open(out);
        }
        match &mut self.state {
            State::Open(out) => Ok(out),
            State::Pending(_) => unreachable!("opened above"),
        }
    }
}

impl Accumulator for RequestsCsv {
    fn file(&self) -> &'static str {
        "requests.csv"
    }

    fn record(&mut self, r: &RequestResult) {
        if self.error.is_some() {
            return;
        }
        let class = self.classes.get(r.class).cloned().unwrap_or_default();
        let written = self
            .file()
            .and_then(|out| super::csv::request_row(r, &class, out).map_err(Into::into));
        if let Err(e) = written {
            self.error = Some(e);
        }
    }

    fn finish(&mut self) -> Option<Incomplete> {
        if self.error.is_none() {
            if let Err(e) = self.file().and_then(|o| Ok(o.flush()?)) {
                self.error = Some(e);
            }
        }
        self.error.take().map(|error| Incomplete {
            file: "requests.csv",
            error,
        })
    }
}

/// The live progress line's view of latency: the p99 of the last closed
/// second, into the counters the progress line reads.
pub struct RollingP99(pub Arc<Live>);

impl Accumulator for RollingP99 {
    fn second(&mut self, s: &ClosedSecond) {
        self.0
            .p99_us
            .store((s.latency.p99 * 1000.0) as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::recorder::Recorder;
    use crate::metrics::Outcome;
    use std::time::Duration;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_streamed_file_that_cannot_be_written_is_reported_not_fatal() {
        // /dev/full answers every write with ENOSPC, as a full disk does.
        let full = std::path::Path::new("/dev/full");
        let log = super::super::hlog::HlogWriter::begin(
            full,
            &["c".into()],
            &[false],
            std::time::SystemTime::UNIX_EPOCH,
        )
        .unwrap();
        let mut rec = Recorder::new(["c".to_string()])
            .with_output(Box::new(RequestsCsv::new(full.into(), vec!["c".into()])))
            .with_output(Box::new(log));
        for seq in 0..3 {
            rec.record(&RequestResult::unanswered(
                seq,
                0,
                Duration::ZERO,
                Outcome::Ok,
                Duration::from_millis(5),
            ));
        }
        let problems = rec.finish();
        assert_eq!(rec.timeline[0].class_counts, [[3, 0]]);
        let files: Vec<&str> = problems.iter().map(|n| n.file).collect();
        assert_eq!(files, ["requests.csv", "latency.hlog"]);
        for n in &problems {
            assert!(
                format!("{:#}", n.error).contains("No space left on device"),
                "{:#}",
                n.error
            );
        }
    }

    #[test]
    fn the_rolling_p99_follows_closed_seconds() {
        let live = Arc::new(Live::default());
        let mut rec =
            Recorder::new(["c".to_string()]).with_output(Box::new(RollingP99(live.clone())));
        rec.record(&RequestResult::unanswered(
            0,
            0,
            Duration::ZERO,
            Outcome::Ok,
            Duration::from_millis(5),
        ));
        rec.close_interval(1);
        let us = live.p99_us.load(Ordering::Relaxed);
        assert!((4_990..=5_010).contains(&us), "{us}");
    }
}
