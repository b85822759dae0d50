//! The reports' tap on a live run: sees every request result right after the
//! recorder, streams requests.csv to disk (never buffering the run in
//! memory), counts OK and errors per traffic class and second for
//! timeseries.csv, and feeds streaming TTFT/ITL into latency.hlog.
//!
//! requests.csv is created with the first result (or at the end of a run
//! without any), so a run that fails to start leaves no empty file. A write
//! error does not stop the run: the file is left incomplete, and `finish`
//! reports it as a [`Note`] next to the counts.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::data::{ClassCounts, Note, Streamed};
use super::hlog;
use crate::metrics::request::RequestResult;

/// What the tap keeps while the run goes.
pub struct Tap {
    classes: Vec<String>,
    requests: Option<Requests>,
    counts: ClassCounts,
    hlog: Option<hlog::Shared>,
    /// The first failure writing requests.csv (it is not written further).
    requests_error: Option<anyhow::Error>,
    /// A failure starting latency.hlog (see [`Tap::fail`]).
    hlog_error: Option<anyhow::Error>,
}

/// requests.csv: its path until the first row, then the open file.
enum Requests {
    Pending(PathBuf),
    Open(BufWriter<File>),
}

impl Tap {
    pub fn new(classes: Vec<String>) -> Self {
        Tap {
            classes,
            requests: None,
            counts: Vec::new(),
            hlog: None,
            requests_error: None,
            hlog_error: None,
        }
    }

    /// Streams one row per request into `path`. The directory is checked
    /// for writability when the run's exports are prepared; the file is
    /// created with the first row.
    pub fn with_requests_csv(mut self, path: &Path) -> anyhow::Result<Self> {
        self.requests = Some(Requests::Pending(path.to_path_buf()));
        Ok(self)
    }

    pub fn with_hlog(mut self, log: hlog::Shared) -> Self {
        self.hlog = Some(log);
        self
    }

    /// Records a failure of latency.hlog outside the tap (its header) to
    /// report at `finish` (the run goes on).
    pub fn fail(&mut self, e: anyhow::Error) {
        self.hlog_error.get_or_insert(e);
    }

    /// Call after `Recorder::record` for the same result (see `hlog`).
    pub fn record(&mut self, r: &RequestResult) {
        let done = (r.intended + r.m.latency).as_secs() as usize;
        if self.counts.len() <= done {
            let n = self.classes.len();
            self.counts.resize(done + 1, vec![[0, 0]; n]);
        }
        if let Some(c) = self.counts[done].get_mut(r.class) {
            if r.outcome.is_ok() {
                c[0] += 1;
            } else if r.outcome.counted() {
                c[1] += 1;
            }
        }
        if r.outcome.is_ok() && (r.m.ttft.is_some() || r.m.tpot.is_some()) {
            if let Some(log) = &self.hlog {
                log.lock()
                    .expect("the log lock is not poisoned")
                    .record_stream(r.class, r.m.ttft, r.m.tpot);
            }
        }
        if self.requests.is_none() || self.requests_error.is_some() {
            return;
        }
        let class = self.classes.get(r.class).map_or("", String::as_str);
        let written = requests_file(&mut self.requests)
            .and_then(|out| super::csv::request_row(r, class, out).map_err(Into::into));
        if let Err(e) = written {
            self.requests_error = Some(e);
        }
    }

    /// Flushes the streamed files; returns the per-class counts and what
    /// could not be written. Write errors do not fail it: the run's
    /// measurements are in memory and the other reports are still written.
    pub fn finish(mut self) -> anyhow::Result<Streamed> {
        let mut problems = Vec::new();
        if self.requests.is_some() && self.requests_error.is_none() {
            let flushed = requests_file(&mut self.requests).and_then(|o| Ok(o.flush()?));
            if let Err(e) = flushed {
                self.requests_error = Some(e);
            }
        }
        if let Some(e) = self.requests_error.take() {
            problems.push(incomplete("requests.csv", e));
        }
        if let Some(log) = &self.hlog {
            let finished = log.lock().expect("the log lock is not poisoned").finish();
            if let Some(e) = self.hlog_error.take().or(finished.err()) {
                problems.push(incomplete("latency.hlog", e));
            }
        }
        for p in &problems {
            eprintln!("warning: {p}");
        }
        Ok(Streamed {
            counts: self.counts,
            problems,
        })
    }
}

/// requests.csv, created with its header on first use.
fn requests_file(req: &mut Option<Requests>) -> anyhow::Result<&mut BufWriter<File>> {
    let Some(req) = req.as_mut() else {
        anyhow::bail!("requests.csv was not asked for");
    };
    if let Requests::Pending(path) = req {
        let file = File::create(&*path).context("creating it")?;
        let mut out = BufWriter::with_capacity(64 * 1024, file);
        super::csv::record(&mut out, &super::csv::REQUESTS_HEADER)?;
        *req = Requests::Open(out);
    }
    match req {
        Requests::Open(out) => Ok(out),
        Requests::Pending(_) => unreachable!("opened above"),
    }
}

fn incomplete(file: &str, e: anyhow::Error) -> Note {
    Note {
        file: file.to_string(),
        problem: format!("writing it failed ({e:#})"),
        consequence: format!(
            "{file} is incomplete; the summary and the other reports cover the whole run"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Outcome;
    use std::time::Duration;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_streamed_file_that_cannot_be_written_is_reported_not_fatal() {
        // /dev/full answers every write with ENOSPC, as a full disk does.
        let full = Path::new("/dev/full");
        let log = hlog::HlogState::create(full, &["c".into()], &[false]).unwrap();
        log.lock()
            .unwrap()
            .begin(std::time::SystemTime::UNIX_EPOCH)
            .unwrap();
        let mut tap = Tap::new(vec!["c".into()])
            .with_requests_csv(full)
            .unwrap()
            .with_hlog(log);
        for seq in 0..3 {
            let r = RequestResult::unanswered(
                seq,
                0,
                Duration::ZERO,
                Outcome::Ok,
                Duration::from_millis(5),
            );
            tap.record(&r);
        }
        let streamed = tap.finish().expect("write errors do not fail the run");
        assert_eq!(streamed.counts[0][0], [3, 0]);
        let files: Vec<&str> = streamed.problems.iter().map(|n| n.file.as_str()).collect();
        assert_eq!(files, ["requests.csv", "latency.hlog"]);
        for n in &streamed.problems {
            assert!(n.problem.contains("No space left on device"), "{n}");
            assert!(n.consequence.contains("is incomplete"), "{n}");
        }
    }

    #[test]
    fn without_requests_csv_nothing_is_reported() {
        let mut tap = Tap::new(vec!["c".into()]);
        tap.record(&RequestResult::unanswered(
            0,
            0,
            Duration::ZERO,
            Outcome::Ok,
            Duration::from_millis(5),
        ));
        assert!(tap.finish().unwrap().problems.is_empty());
    }
}
