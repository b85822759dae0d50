//! latency.hlog: an HdrHistogram interval log, written as the run goes and
//! readable by the standard HdrHistogram tools (HistogramLogProcessor,
//! HdrHistogram Python/Go/Rust readers).
//!
//! Each second holds one untagged histogram (OK latency over all classes, so
//! tools that ignore tags see the whole run) and one per traffic class,
//! tagged with the class name. Streaming classes add `<class>.ttft` (time to
//! first token) and `<class>.itl` (mean inter-token latency per request).
//! Values are microseconds; timestamps are seconds since t=0 (`BaseTime`).
//!
//! [`HlogWriter`] is one of the recorder's streamed outputs
//! ([`Accumulator`]): it gathers each streaming request's TTFT and ITL as
//! results arrive and writes every closed second's histograms.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context};
use base64::Engine;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};

use super::data::ClassHists;
use crate::metrics::accumulate::{Accumulator, ClosedSecond, Incomplete};
use crate::metrics::histogram::{self, Hist};
use crate::metrics::request::RequestResult;

/// The tag of a class: the name with the characters a tag may not hold
/// (`,`, space, line breaks) replaced by `_`.
pub fn tag(class: &str) -> String {
    class.replace([',', ' ', '\r', '\n'], "_")
}

/// The log's writer and the TTFT/ITL intervals waiting for their second.
pub struct HlogWriter {
    out: BufWriter<File>,
    ser: V2DeflateSerializer,
    tags: Vec<String>,
    /// Open TTFT and ITL intervals per class (streaming classes only).
    stream: Vec<Option<(Hist, Hist)>>,
    /// The first write error; nothing more is written after it.
    error: Option<anyhow::Error>,
}

impl HlogWriter {
    /// Creates the log at `path` and writes its header; `t0` is the
    /// wall-clock instant of t=0, the base of every interval's timestamp.
    /// Called just before t=0, or before the wait for `--start-at` (a run
    /// that then ends before its load removes the file).
    /// `streaming[i]` says whether class `i` gets TTFT and ITL histograms.
    pub fn begin(
        path: &Path,
        classes: &[String],
        streaming: &[bool],
        t0: SystemTime,
    ) -> anyhow::Result<HlogWriter> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut w = HlogWriter {
            out: BufWriter::new(file),
            ser: V2DeflateSerializer::new(),
            tags: classes.iter().map(|c| tag(c)).collect(),
            stream: streaming
                .iter()
                .map(|s| s.then(|| (histogram::new(), histogram::new())))
                .collect(),
            error: None,
        };
        w.header(t0).context("writing the latency.hlog header")?;
        Ok(w)
    }

    fn header(&mut self, t0: SystemTime) -> anyhow::Result<()> {
        let mut builder = IntervalLogWriterBuilder::new();
        builder
            .add_comment("[Logged with slabench]")
            .add_comment("[Histogram log format version 1.3]")
            .add_comment("[Values in microseconds. Untagged: OK latency of all classes; Tag=<class>: OK latency per class; Tag=<class>.ttft / <class>.itl: streaming time to first token / inter-token latency]")
            .with_start_time(t0)
            .with_base_time(t0);
        builder.begin_log_with(&mut self.out, &mut self.ser)?;
        writeln!(
            self.out,
            "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
        )?;
        Ok(())
    }

    /// A streaming request's TTFT and mean inter-token latency, into its
    /// class's open interval.
    pub fn record_stream(&mut self, class: usize, ttft: Option<Duration>, itl: Option<Duration>) {
        if let Some(Some((t, i))) = self.stream.get_mut(class) {
            if let Some(d) = ttft {
                histogram::record(t, d);
            }
            if let Some(d) = itl {
                histogram::record(i, d);
            }
        }
    }

    /// Writes one closed second from its per-class histograms (the run
    /// does this through [`Accumulator::second`]; tools writing a whole log
    /// at once call it directly).
    pub fn write_second(&mut self, second: u32, classes: &[Hist]) {
        let mut all = histogram::new();
        for h in classes {
            all.add(h).expect("same bounds");
        }
        let latency = crate::metrics::histogram::Percentiles::of(&all);
        self.second(&ClosedSecond {
            second,
            classes,
            all: &all,
            latency,
        });
    }

    /// Writes one interval under `tag` (`None`: the untagged all-classes
    /// one), as read by [`read_intervals`]: how a merge writes the sum of
    /// several logs.
    pub fn write_interval(&mut self, second: u32, tag: Option<&str>, h: &Hist) {
        self.write(second, tag, h);
    }

    fn write(&mut self, second: u32, tag: Option<&str>, h: &Hist) {
        if self.error.is_some() || h.is_empty() {
            return;
        }
        let result = IntervalLogWriterBuilder::new()
            .begin_log_with(&mut self.out, &mut self.ser)
            .map_err(anyhow::Error::from)
            .and_then(|mut w| {
                w.write_histogram(
                    h,
                    Duration::from_secs(u64::from(second)),
                    Duration::from_secs(1),
                    tag.and_then(Tag::new),
                )
                .map_err(|e| anyhow!("{e}"))
            });
        if let Err(e) = result {
            self.error = Some(e);
        }
    }
}

impl Accumulator for HlogWriter {
    fn file(&self) -> &'static str {
        "latency.hlog"
    }

    /// A streaming request's TTFT and mean inter-token latency go into its
    /// class's open interval, for OK requests. (A late result, one whose
    /// second had already closed, is left out of the latency interval but
    /// its TTFT lands in the open one: TTFT counts per second can exceed
    /// latency counts by those few.)
    fn record(&mut self, r: &RequestResult) {
        if r.outcome.is_ok() {
            self.record_stream(r.class, r.m.ttft, r.m.tpot);
        }
    }

    fn second(&mut self, s: &ClosedSecond) {
        self.write(s.second, None, s.all);
        for (class, h) in s.classes.iter().enumerate() {
            let tag = self.tags[class].clone();
            self.write(s.second, Some(&tag), h);
            if let Some(Some((ttft, itl))) = self.stream.get_mut(class) {
                let (ttft, itl) = (
                    std::mem::replace(ttft, histogram::new()),
                    std::mem::replace(itl, histogram::new()),
                );
                self.write(s.second, Some(&format!("{tag}.ttft")), &ttft);
                self.write(s.second, Some(&format!("{tag}.itl")), &itl);
            }
        }
    }

    fn finish(&mut self) -> Option<Incomplete> {
        let flushed = match self.error.take() {
            Some(e) => Err(e),
            None => self.out.flush().map_err(anyhow::Error::from),
        };
        flushed.err().map(|error| Incomplete {
            file: "latency.hlog",
            error,
        })
    }
}

/// Reads a log back: whole-run histograms per class (summed over the
/// intervals), in `classes` order. An error names the line that is damaged.
pub fn read(text: &[u8], classes: &[String]) -> anyhow::Result<Vec<ClassHists>> {
    let index: HashMap<String, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (tag(c), i))
        .collect();
    let mut out: Vec<ClassHists> = classes.iter().map(|_| ClassHists::default()).collect();
    let mut de = Deserializer::new();
    let mut bytes = Vec::new();
    let line_at = |offset: usize| {
        text[..offset.min(text.len())]
            .split(|&b| b == b'\n')
            .count()
    };
    let mut intervals = IntervalLogIterator::new(text).peekable();
    if intervals.peek().is_none() {
        // An empty or header-only log: a run without an OK request has none.
        anyhow::ensure!(
            text.starts_with(b"#"),
            "it is empty, or not an HdrHistogram interval log"
        );
    }
    for entry in intervals {
        let entry = entry.map_err(|e| match e {
            hdrhistogram::serialization::interval_log::LogIteratorError::ParseError { offset } => {
                anyhow!(
                    "line {}: not an interval log line (damaged or cut short)",
                    line_at(offset)
                )
            }
        })?;
        let LogEntry::Interval(h) = entry else {
            continue;
        };
        let Some(tag) = h.tag() else { continue };
        let (name, part) = match tag.as_str().rsplit_once('.') {
            Some((n, p @ ("ttft" | "itl"))) if index.contains_key(n) => (n, p),
            _ => (tag.as_str(), "latency"),
        };
        let Some(&i) = index.get(name) else { continue };
        let at = || {
            let encoded = h.encoded_histogram().as_bytes();
            let offset = text
                .windows(encoded.len().max(1))
                .position(|w| w == encoded)
                .unwrap_or(0);
            format!(
                "line {} (Tag={}, {:.3} s)",
                line_at(offset),
                tag.as_str(),
                h.start_timestamp().as_secs_f64()
            )
        };
        bytes.clear();
        base64::engine::general_purpose::STANDARD
            .decode_vec(h.encoded_histogram(), &mut bytes)
            .with_context(|| format!("{}: the histogram is not valid base64", at()))?;
        let hist: Hist = de
            .deserialize(&mut &bytes[..])
            .map_err(|e| anyhow!("{}: the histogram cannot be decoded ({e:?})", at()))?;
        let target = match part {
            "ttft" => out[i].ttft.get_or_insert_with(histogram::new),
            "itl" => out[i].itl.get_or_insert_with(histogram::new),
            _ => &mut out[i].latency,
        };
        target
            .add(&hist)
            .map_err(|e| anyhow!("{}: the histogram's bounds differ ({e:?})", at()))?;
    }
    Ok(out)
}

/// One interval of a log: its second (since t=0), its tag (`None`:
/// untagged) and its histogram as written (V2 + deflate, base64: small;
/// `histogram::decode` reads it).
pub type Interval = (u32, Option<String>, String);

/// Every interval of a log, in the log's order; an error names the interval.
pub fn read_intervals(text: &[u8]) -> anyhow::Result<Vec<Interval>> {
    let mut out = Vec::new();
    for (n, entry) in IntervalLogIterator::new(text).enumerate() {
        let entry = entry.map_err(|_| anyhow!("entry {}: not an interval log line", n + 1))?;
        let LogEntry::Interval(h) = entry else {
            continue;
        };
        let tag = h.tag().map(|t| t.as_str().to_string());
        let second = h.start_timestamp().as_secs_f64().round() as u32;
        out.push((second, tag, h.encoded_histogram().to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back_per_class_and_streaming_histograms() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latency.hlog");
        let classes = ["chat".to_string(), "long ctx".to_string()];
        let mut log =
            HlogWriter::begin(&path, &classes, &[false, true], SystemTime::UNIX_EPOCH).unwrap();
        for second in 0..3u32 {
            let mut hists = Vec::new();
            for class in 0..2 {
                let mut h = histogram::new();
                for v in 1..=100u64 {
                    histogram::record_us(&mut h, v * 1000 * (class as u64 + 1));
                }
                hists.push(h);
            }
            log.record_stream(
                1,
                Some(Duration::from_millis(200)),
                Some(Duration::from_millis(20)),
            );
            log.write_second(second, &hists);
        }
        assert!(log.finish().is_none());
        let text = std::fs::read(&path).unwrap();
        let s = String::from_utf8_lossy(&text);
        assert!(s.starts_with("#[Logged with slabench]\n"), "{s}");
        assert!(s.contains("#[BaseTime: 0.000 (seconds since epoch)]"));
        assert!(s.contains("\nTag=long_ctx.ttft,1.000,1.000,"), "{s}");
        // Untagged all-classes intervals: one per second.
        assert_eq!(
            s.lines()
                .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
                .count(),
            3
        );
        let hists = read(&text, &classes).unwrap();
        assert_eq!(hists[0].latency.len(), 300);
        assert_eq!(
            hists[1].latency.value_at_quantile(1.0),
            hists[1].latency.highest_equivalent(200_000)
        );
        assert!(hists[0].ttft.is_none());
        assert_eq!(hists[1].ttft.as_ref().unwrap().len(), 3);
        assert_eq!(hists[1].itl.as_ref().unwrap().len(), 3);
    }
}
