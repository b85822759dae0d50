//! The reports' tap on a live run: sees every request result right after the
//! recorder, streams requests.csv to disk (never buffering the run in
//! memory), counts OK and errors per traffic class and second for
//! timeseries.csv, and feeds streaming TTFT/ITL into latency.hlog.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;

use super::data::ClassCounts;
use super::hlog;
use crate::load::client::RequestResult;

/// What the tap keeps while the run goes.
pub struct Tap {
    classes: Vec<String>,
    requests: Option<BufWriter<File>>,
    counts: ClassCounts,
    hlog: Option<hlog::Shared>,
    error: Option<anyhow::Error>,
}

impl Tap {
    pub fn new(classes: Vec<String>) -> Self {
        Tap {
            classes,
            requests: None,
            counts: Vec::new(),
            hlog: None,
            error: None,
        }
    }

    /// Streams one row per request into `path` (created now, so a bad
    /// path fails before the load starts).
    pub fn with_requests_csv(mut self, path: &Path) -> anyhow::Result<Self> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = BufWriter::with_capacity(64 * 1024, file);
        super::csv::record(&mut out, &super::csv::REQUESTS_HEADER)
            .with_context(|| format!("writing {}", path.display()))?;
        self.requests = Some(out);
        Ok(self)
    }

    pub fn with_hlog(mut self, log: hlog::Shared) -> Self {
        self.hlog = Some(log);
        self
    }

    /// Records an error to report at `finish` (the run goes on).
    pub fn fail(&mut self, e: anyhow::Error) {
        self.error.get_or_insert(e);
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
        if let Some(out) = self.requests.as_mut().filter(|_| self.error.is_none()) {
            let class = self.classes.get(r.class).map_or("", String::as_str);
            if let Err(e) = super::csv::request_row(r, class, out) {
                self.error = Some(anyhow::Error::from(e).context("writing requests.csv"));
            }
        }
    }

    /// Flushes the streamed files; returns the per-class counts.
    pub fn finish(mut self) -> anyhow::Result<ClassCounts> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if let Some(mut out) = self.requests.take() {
            out.flush().context("writing requests.csv")?;
        }
        if let Some(log) = &self.hlog {
            log.lock().expect("the log lock is not poisoned").finish()?;
        }
        Ok(self.counts)
    }
}
