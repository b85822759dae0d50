//! Scenario files: TOML model, defaults, validation, profile resolution.
//!
//! [`load`] reads a scenario file into the validated [`Scenario`] (see
//! `docs/scenario-reference.md` for the format). Reading happens in two
//! steps, like ripgrep's `LowArgs` → `HiArgs`: serde fills loosely typed raw
//! structs (`raw.rs`, unknown keys rejected), then `validate/` applies
//! defaults and checks ranges and cross-references. Either step stops at the
//! first problem and reports it as one [`ScenarioError`] that names the file,
//! line, column, field path and the fix.

mod de;
mod env;
mod error;
mod fault;
mod locate;
mod path;
mod profile;
mod raw;
mod refuse;
mod units;
mod validate;

pub mod model;

use std::path::Path;

use error::read_source;

pub use error::{Diagnostic, ScenarioError};
pub use fault::*;
pub use locate::Location;
pub use model::*;
pub use profile::load_profile;

/// Reads and validates the scenario at `path`, taking `${VAR}` values from
/// the process environment.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    load_with(path, LoadOptions::default())
}

/// What the command line changes in what a scenario may say.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// `--allow-remote`: accept a gateway `url` (and `ready_url`) that is not
    /// loopback, as `allow_non_loopback = true` in `[gateway]` does. `run`,
    /// `mock` and `validate` take the same flag, so that validate accepts
    /// exactly what run accepts.
    pub allow_remote: bool,
}

/// [`load`] with the command line's [`LoadOptions`].
pub fn load_with(path: &Path, opts: LoadOptions) -> Result<Scenario, ScenarioError> {
    let src = read_source(path)?;
    let mut ctx = error::Ctx::new(&src, path);
    ctx.allow_remote = opts.allow_remote;
    let raw: raw::RawScenario = de::parse(&ctx)?;
    validate::scenario(&ctx, raw, &|name| std::env::var(name).ok())
}

/// Validates scenario text as if read from `path` (used for messages, the
/// default name and resolving provider profiles), with `${VAR}` values from
/// `env`.
pub fn from_str(
    src: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Scenario, ScenarioError> {
    from_str_with(src, path, env, LoadOptions::default())
}

/// [`from_str`] with the command line's [`LoadOptions`] (merge reads a
/// shard's scenario back with the options the shard ran with).
pub fn from_str_with(
    src: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    opts: LoadOptions,
) -> Result<Scenario, ScenarioError> {
    let mut ctx = error::Ctx::new(src, path);
    ctx.allow_remote = opts.allow_remote;
    let raw: raw::RawScenario = de::parse(&ctx)?;
    validate::scenario(&ctx, raw, env)
}
