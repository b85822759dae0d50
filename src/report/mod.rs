//! Reports: terminal, JSON, CSV, hlog, HTML, JUnit, Markdown.
//!
//! Every file written after the run is an [`Exporter`] over one [`RunData`].
//! [`Exports::create`] checks before the load starts that the run directory
//! takes files, so a bad path fails early (hyperfine's `ExportManager`
//! opens its files up front; here nothing is created yet, so a run that
//! fails to start leaves no empty report behind). [`Exports::write`] writes
//! each file under a temporary name and renames it
//! ([`crate::atomic_file`]), summary.json first: a file is complete or
//! absent, and a failure says which files are good. The files that grow
//! during the run (latency.hlog, requests.csv) are accumulators the
//! recorder feeds ([`hlog::HlogWriter`], [`live::RequestsCsv`]); a write
//! error there becomes a [`data::Note`], not a failure. [`space`] checks
//! free space against what the run will write. [`table`] is the one model
//! of the tables several outputs show. Nothing here decides a verdict or
//! imports `baseline`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

pub mod charts;
pub mod comparison;
pub mod csv;
pub mod data;
pub mod hlog;
pub mod html;
pub mod junit;
pub mod live;
pub mod markdown;
pub mod obedience;
pub mod run_dir;
pub mod space;
pub mod story;
#[cfg(any(test, feature = "testing"))]
pub mod synthetic;
pub mod table;
pub mod terminal;

pub use data::{Note, RunData};

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
        out.write_all(&summary_json(&data.summary)?)?;
        Ok(())
    }
}

/// summary.json's bytes: what the file holds, and what `--json` prints.
pub fn summary_json(summary: &crate::results::Summary) -> anyhow::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(summary).context("serialising the summary")?;
    bytes.push(b'\n');
    Ok(bytes)
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
        out.write_all(with_notes(html::render(data), &data.notes).as_bytes())?;
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

/// The exporters of a run and the directory they write into.
pub struct Exports {
    dir: PathBuf,
    set: Set,
}

impl Exports {
    /// Checks that `dir` takes files (creates and removes a probe), so a bad
    /// path fails before the load. Creates none of the reports.
    pub fn create(dir: &Path, set: Set) -> anyhow::Result<Exports> {
        let probe = crate::atomic_file::temp_name(&dir.join("slabench-write-test"));
        std::fs::write(&probe, b"x")
            .with_context(|| format!("the output directory {} is not writable", dir.display()))?;
        let _ = std::fs::remove_file(&probe);
        Ok(Exports {
            dir: dir.to_path_buf(),
            set,
        })
    }

    /// Renders every file from `data`, each atomically, summary.json first.
    /// All are tried; on any failure the error ([`WriteError`]) says which
    /// files are complete and which are not.
    pub fn write(self, data: &RunData) -> anyhow::Result<()> {
        let mut outcome = WriteError {
            dir: self.dir.clone(),
            written: Vec::new(),
            failed: Vec::new(),
            incomplete: data.notes.clone(),
            rebuild: self.set == Set::Run,
        };
        for exporter in self.set.exporters() {
            let name = exporter.file_name();
            match crate::atomic_file::write_file(&self.dir.join(name), |out| {
                exporter.write(data, out)
            }) {
                Ok(()) => outcome.written.push(name),
                Err(e) => outcome.failed.push((name, format!("{e:#}"))),
            }
        }
        if outcome.failed.is_empty() {
            return Ok(());
        }
        Err(outcome.into())
    }
}

/// Some reports could not be written: which, why, and which are good.
#[derive(Debug, thiserror::Error)]
pub struct WriteError {
    pub dir: PathBuf,
    /// Written completely.
    pub written: Vec<&'static str>,
    /// Not written (nothing under their names), with the error.
    pub failed: Vec<(&'static str, String)>,
    /// Streamed files that are incomplete.
    pub incomplete: Vec<Note>,
    /// After a run (not after `slabench report`): say how to rebuild.
    rebuild: bool,
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |v: &[&str]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        writeln!(
            f,
            "some reports in {} could not be written:",
            self.dir.display()
        )?;
        for (name, e) in &self.failed {
            writeln!(f, "  {name}: not written ({e})")?;
        }
        for n in &self.incomplete {
            writeln!(f, "  {}: incomplete ({})", n.file, n.problem)?;
        }
        write!(f, "  complete: {}", names(&self.written))?;
        let rebuildable = ["report.html", "junit.xml", "summary.md"];
        let missing: Vec<&str> = self
            .failed
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| rebuildable.contains(n))
            .collect();
        if self.rebuild && self.written.contains(&"summary.json") && !missing.is_empty() {
            write!(
                f,
                "\n  summary.json holds the run's results: once there is space, \
                 `slabench report {}` rebuilds {}",
                self.dir.display(),
                missing.join(", ")
            )?;
        }
        Ok(())
    }
}

/// The page with `notes` (missing or damaged files) shown before the
/// charts they concern.
fn with_notes(page: String, notes: &[Note]) -> String {
    if notes.is_empty() {
        return page;
    }
    let mut block = String::from("<div id=\"data-notes\">\n");
    for n in notes {
        block.push_str(&format!(
            "<p class=\"note\">warning: {}</p>\n",
            html::esc(&n.to_string())
        ));
    }
    block.push_str("</div>\n");
    let at = page
        .find("<h2 id=\"charts\">")
        .or_else(|| page.rfind("</body>"))
        .unwrap_or(page.len());
    let mut page = page;
    page.insert_str(at, &block);
    page
}

/// Rebuilds report.html, summary.md and junit.xml in `dir` from its
/// summary.json, timeseries.csv and latency.hlog (`slabench report`).
/// Missing or damaged inputs are warned about on stderr (and noted in
/// report.html), with what was left out.
///
/// `curves` loads the baseline's curves, when the run was compared with one
/// (the caller knows where baselines live; report/ never reads them).
pub fn rebuild(
    dir: &Path,
    curves: impl FnOnce(&RunData) -> Vec<Option<crate::metrics::histogram::Hist>>,
) -> anyhow::Result<RunData> {
    let mut data = run_dir::read(dir)?;
    for n in &data.notes {
        crate::term::warning(n);
    }
    data.baseline_curves = curves(&data);
    Exports::create(dir, Set::Rebuild)?.write(&data)?;
    Ok(data)
}
