//! The `slabench` binary: parse the command line, call into the library,
//! map the outcome to an exit code.

use std::process::ExitCode;

/// jemalloc: the load's buffers are allocated on one thread and freed on
/// another by the hundred thousand, where glibc's malloc spends a tenth of
/// the generator's CPU and keeps its arenas fragmented.
#[cfg(all(target_os = "linux", not(target_env = "msvc")))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    // `--color` is applied first, so clap's help and errors follow it.
    let cli = slabench::cli::parse();
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
