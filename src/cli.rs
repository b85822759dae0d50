//! Command-line definitions (clap derive). `--help` carries examples and the
//! exit codes; `main.rs` maps outcomes to those codes in one place.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

const AFTER_HELP: &str = "\
Examples:
  slabench run scenarios/peak.toml            run the showcase scenario
  slabench run scenarios/smoke.toml --out out  write reports to ./out
  slabench validate scenarios/*.toml          check scenarios without running
  slabench mock scenarios/peak.toml           serve the scenario's providers by hand
  slabench report reports/peak-20250101T120000Z  rebuild report.html, summary.md, junit.xml

Exit codes:
  0  PASS        every SLA check passed
  1  FAIL        an SLA check failed
  2  ERROR       bad usage, a bad scenario, or a run that could not start
  3  INVALID     the generator could not hold the schedule; numbers untrusted
  4  REGRESSION  worse than the stored baseline";

#[derive(Debug, Parser)]
#[command(name = "slabench", version, about = "Load-test an LLM API gateway and verify its SLA", after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario: start providers and gateway, drive the load, judge the SLA.
    Run(RunArgs),
    /// Check scenario files without running anything.
    Validate {
        /// Scenario files.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
    /// Serve a scenario's simulated providers until Ctrl-C (point your own gateway at them).
    Mock {
        scenario: PathBuf,
        /// Where the providers' ledger of attempts is written.
        #[arg(long, default_value = "reports/mock-ledger.bin")]
        ledger: PathBuf,
    },
    /// Serve the built-in reference gateway in front of a scenario's providers until Ctrl-C.
    Gateway {
        scenario: PathBuf,
        /// Upstream provider URL, as NAME=URL (repeatable); default: start the scenario's providers.
        #[arg(long = "provider", value_name = "NAME=URL")]
        providers: Vec<String>,
    },
    /// Rebuild report.html, summary.md and junit.xml of a finished run from its stored data.
    Report {
        /// A run's output directory (holds summary.json, timeseries.csv, latency.hlog).
        run_dir: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// Output directory [default: reports/<scenario>-<UTC timestamp>/].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No progress line and no summary table.
    #[arg(short, long)]
    pub quiet: bool,
    /// Override the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also write requests.csv: one row per request, streamed to disk as the run goes.
    #[arg(long)]
    pub requests_csv: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
