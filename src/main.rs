//! The `slabench` binary: parse the command line, call into the library,
//! map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;
use slabench::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A panic is slabench's own failure: recorded (a run that met one is
    // INVALID), and one that reaches here exits INVALID, not 101.
    slabench::crash::install();
    match std::panic::catch_unwind(|| slabench::commands::main(cli)) {
        Ok(code) => ExitCode::from(code as u8),
        Err(_) => {
            eprintln!("error: slabench stopped on an internal error (above); please report it");
            ExitCode::from(slabench::exit::INVALID as u8)
        }
    }
}
