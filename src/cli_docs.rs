//! Shell completions (`slabench completions SHELL`, clap_complete) and man
//! pages (`slabench man`, clap_mangen), both generated from the clap
//! definitions in `cli.rs`, so they name exactly the subcommands and
//! flags that the binary accepts.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::Cli;

/// The command's name in completions and man pages.
const BIN: &str = "slabench";

/// The completion script for `shell`.
pub fn completion_script(shell: clap_complete::Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN, &mut script);
    script
}

/// `slabench completions SHELL`: the script on stdout.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    crate::term::data(&completion_script(shell));
    Ok(())
}

/// Every man page as (file name, roff): slabench.1, then slabench-SUB.1
/// for each subcommand (clap's implicit `help` subcommand left out: its
/// flags are every command's `--help`).
pub fn man_pages() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    // Built, the subcommands know their full names (`slabench run`,
    // page `slabench-run`) and inherit the global flags (--color).
    cmd.build();
    let mut pages = vec![page(cmd.clone())?];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages.push(page(sub.clone())?);
    }
    Ok(pages)
}

fn page(cmd: clap::Command) -> anyhow::Result<(String, Vec<u8>)> {
    let man = clap_mangen::Man::new(cmd);
    let mut roff = Vec::new();
    man.render(&mut roff).context("rendering a man page")?;
    Ok((man.get_filename(), roff))
}

/// `slabench man`: slabench(1) on stdout; with `--dir DIR`, every page
/// written into DIR (created if missing), each complete or absent, and
/// their paths on stdout.
pub fn man(dir: Option<&Path>) -> anyhow::Result<()> {
    let mut pages = man_pages()?;
    let Some(dir) = dir else {
        crate::term::data(&pages.swap_remove(0).1);
        return Ok(());
    };
    std::fs::create_dir_all(dir).map_err(|e| cannot_write(dir, e))?;
    let mut written = String::new();
    for (name, roff) in pages {
        let path: PathBuf = dir.join(&name);
        crate::atomic_file::write_file(&path, |w| Ok(w.write_all(&roff)?))
            .map_err(|e| cannot_write(&path, e))?;
        written.push_str(&format!("{}\n", path.display()));
    }
    crate::term::result(written.as_bytes());
    Ok(())
}

fn cannot_write(path: &Path, e: impl std::fmt::Display) -> anyhow::Error {
    crate::exit::UserError::new(
        format!("--dir: cannot write {}: {e:#}", path.display()),
        "give a directory you can write to, e.g. slabench man --dir ~/.local/share/man/man1",
    )
    .into()
}
