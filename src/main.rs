//! The `slabench` binary: parse the command line, call into the library,
//! map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;
use slabench::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    ExitCode::from(slabench::commands::main(cli) as u8)
}
