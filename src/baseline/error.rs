//! Why a baseline file cannot be used. Each message names the file, what is
//! wrong or differs, and the fix ([`crate::exit::Advice`]); the CLI prints
//! it and exits 2.

use std::path::PathBuf;

use thiserror::Error;

/// A baseline that cannot be read, or cannot be compared with this run.
#[derive(Debug, Error)]
pub enum BaselineError {
    #[error("cannot read the baseline {}: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a slabench baseline: {reason}", file.display())]
    NotABaseline { file: PathBuf, reason: String },
    #[error("{} has baseline schema version {found}; this slabench {} reads version {supported}", file.display(), env!("CARGO_PKG_VERSION"))]
    SchemaVersion {
        file: PathBuf,
        found: u64,
        supported: u32,
    },
    #[error("{} was recorded for a different scenario; {}", file.display(), differences.join("; "))]
    OtherScenario {
        file: PathBuf,
        differences: Vec<String>,
    },
    #[error("cannot write the baseline {}: {source}", file.display())]
    Write {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("not saving {} as a baseline: the run {why}", file.display())]
    Unfit { file: PathBuf, why: &'static str },
}

impl crate::exit::Advice for BaselineError {
    fn help(&self) -> Option<String> {
        Some(match self {
            BaselineError::Read { file, .. } => read_help(file),
            BaselineError::NotABaseline { file, .. } => format!(
                "write one with `slabench run SCENARIO --save-baseline {}`",
                file.display()
            ),
            BaselineError::SchemaVersion { file, .. } => format!(
                "re-record it with this version: `slabench run SCENARIO --save-baseline {}`",
                file.display()
            ),
            BaselineError::OtherScenario { file, .. } => format!(
                "compare runs of the same scenario; if the change is intended, re-record the \
                 baseline: `slabench run SCENARIO --save-baseline {}`",
                file.display()
            ),
            BaselineError::Write { .. } => {
                "check that the directory exists and is writable".to_string()
            }
            BaselineError::Unfit { .. } => "a baseline must be a complete, valid run; run the \
                 scenario again to the end on a quiet machine"
                .to_string(),
        })
    }
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
