//! Why a baseline file cannot be used. Each message names the file, what is
//! wrong or differs, and the fix; the CLI prints it and exits 2.

use std::path::PathBuf;

use thiserror::Error;

/// A baseline that cannot be read, or cannot be compared with this run.
#[derive(Debug, Error)]
pub enum BaselineError {
    #[error("error: cannot read the baseline {}: {source}\n  help: {}", file.display(), read_help(file))]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("error: {} is not a slabench baseline: {reason}\n  help: write one with `slabench run SCENARIO --save-baseline {}`", file.display(), file.display())]
    NotABaseline { file: PathBuf, reason: String },
    #[error("error: {} has baseline schema version {found}; this slabench {} reads version {supported}\n  help: re-record it with this version: `slabench run SCENARIO --save-baseline {}`", file.display(), env!("CARGO_PKG_VERSION"), file.display())]
    SchemaVersion {
        file: PathBuf,
        found: u64,
        supported: u32,
    },
    #[error("error: {} was recorded for a different scenario; {}\n  help: compare runs of the same scenario; if the change is intended, re-record the baseline: `slabench run SCENARIO --save-baseline {}`", file.display(), differences.join("; "), file.display())]
    OtherScenario {
        file: PathBuf,
        differences: Vec<String>,
    },
    #[error("error: cannot write the baseline {}: {source}\n  help: check that the directory exists and is writable", file.display())]
    Write {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("error: not saving {} as a baseline: the run {why}\n  help: a baseline must be a complete, valid run; run the scenario again to the end on a quiet machine", file.display())]
    Unfit { file: PathBuf, why: &'static str },
}

fn read_help(file: &std::path::Path) -> String {
    if file.is_dir() {
        format!(
            "a run directory holds its baseline as {}; runs from before the baseline gate lack it",
            file.join(super::file::RUN_FILE).display()
        )
    } else {
        "check the path, or record a baseline with `slabench run SCENARIO --save-baseline FILE`"
            .to_string()
    }
}
