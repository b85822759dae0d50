//! Reports: terminal, JSON, CSV, hlog, HTML, JUnit, Markdown.
//!
//! Every file written after the run is an [`Exporter`] over one [`RunData`].
//! [`Exports::create`] opens all of a run's files before the load starts,
//! so a bad path fails early (hyperfine's `ExportManager`); the files that
//! grow during the run (latency.hlog, requests.csv) are written by the
//! [`live::Tap`] and [`hlog`] as the run goes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

pub mod brief;
pub mod charts;
pub mod csv;
pub mod data;
pub mod hlog;
pub mod html;
pub mod junit;
pub mod live;
pub mod load;
pub mod markdown;
pub mod summary;
pub mod synthetic;
pub mod terminal;

pub use data::RunData;

/// One output file rendered from a run's data.
pub trait Exporter {
    /// The file's name inside the run directory.
    fn file_name(&self) -> &'static str;
    fn write(&self, data: &RunData, out: &mut dyn Write) -> anyhow::Result<()>;
}

/// summary.json.
pub struct Json;
/// timeseries.csv.
pub struct Timeseries;
/// failovers.csv.
pub struct Failovers;
/// report.html.
pub struct Html;
/// junit.xml.
pub struct Junit;
/// summary.md.
pub struct Markdown;

impl Exporter for Json {
    fn file_name(&self) -> &'static str {
        "summary.json"
    }
    fn write(&self, data: &RunData, out: &mut dyn Write) -> anyhow::Result<()> {
        serde_json::to_writer_pretty(&mut *out, &data.summary)
            .context("serialising the summary")?;
        out.write_all(b"\n")?;
        Ok(())
    }
}

impl Exporter for Timeseries {
    fn file_name(&self) -> &'static str {
        "timeseries.csv"
    }
    fn write(&self, data: &RunData, out: &mut dyn Write) -> anyhow::Result<()> {
        csv::timeseries(data, out)
    }
}

impl Exporter for Failovers {
    fn file_name(&self) -> &'static str {
        "failovers.csv"
    }
    fn write(&self, data: &RunData, out: &mut dyn Write) -> anyhow::Result<()> {
        let events = data
            .summary
            .failover
            .as_ref()
            .map_or(&[][..], |f| &f.event_list);
        csv::failovers(events, out)
    }
}

impl Exporter for Html {
    fn file_name(&self) -> &'static str {
        "report.html"
    }
    fn write(&self, data: &RunData, out: &mut dyn Write) -> anyhow::Result<()> {
        out.write_all(html::render(data).as_bytes())?;
        Ok(())
    }
}

impl Exporter for Junit {
    fn file_name(&self) -> &'static str {
        "junit.xml"
    }
    fn write(&self, data: &RunData, out: &mut dyn Write) -> anyhow::Result<()> {
        junit::write(data, out)
    }
}

impl Exporter for Markdown {
    fn file_name(&self) -> &'static str {
        "summary.md"
    }
    fn write(&self, data: &RunData, out: &mut dyn Write) -> anyhow::Result<()> {
        markdown::write(data, out)
    }
}

/// Which exporters: everything after a run, or the human outputs that
/// `slabench report` rebuilds from the stored data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Set {
    Run,
    Rebuild,
}

impl Set {
    fn exporters(self) -> Vec<Box<dyn Exporter>> {
        let human: [Box<dyn Exporter>; 3] = [Box::new(Html), Box::new(Junit), Box::new(Markdown)];
        match self {
            Set::Run => {
                let mut all: Vec<Box<dyn Exporter>> =
                    vec![Box::new(Json), Box::new(Timeseries), Box::new(Failovers)];
                all.extend(human);
                all
            }
            Set::Rebuild => human.into(),
        }
    }
}

/// The exporters of a run with their files, opened up front.
pub struct Exports {
    items: Vec<(Box<dyn Exporter>, PathBuf, File)>,
}

impl Exports {
    /// Creates (truncates) every file of `set` in `dir`.
    pub fn create(dir: &Path, set: Set) -> anyhow::Result<Exports> {
        let items = set
            .exporters()
            .into_iter()
            .map(|e| {
                let path = dir.join(e.file_name());
                let file =
                    File::create(&path).with_context(|| format!("creating {}", path.display()))?;
                Ok((e, path, file))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Exports { items })
    }

    /// Renders every file from `data`.
    pub fn write(self, data: &RunData) -> anyhow::Result<()> {
        for (exporter, path, file) in self.items {
            let mut out = BufWriter::with_capacity(256 * 1024, file);
            exporter
                .write(data, &mut out)
                .and_then(|()| out.flush().map_err(Into::into))
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }
}

/// Rebuilds report.html, summary.md and junit.xml in `dir` from its
/// summary.json, timeseries.csv and latency.hlog (`slabench report`).
pub fn rebuild(dir: &Path) -> anyhow::Result<RunData> {
    let data = load::run_dir(dir)?;
    Exports::create(dir, Set::Rebuild)?.write(&data)?;
    Ok(data)
}
