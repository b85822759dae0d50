//! Shared helpers for scenario tests: building scenario text from small
//! pieces, and a fixed environment so `${VAR}` tests are deterministic.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;

pub mod fake;
pub mod outage_run;
pub mod scrape;

use slabench::scenario::{from_str, Scenario, ScenarioError};

/// A stage list that sends for 10 s.
pub const LOAD: &str = "[load]\nstages = [{ hold_rpm = 60, for = \"10s\" }]\n";
pub const TRAFFIC: &str = "[[traffic]]\nmodel = \"default\"\n";
pub const FLASH: &str = "[[providers]]\nname = \"flash\"\nprofile = \"deepseek-v4-flash\"\n";

/// The path scenarios are "read from": `scenarios/` of this repository, so
/// profile names resolve to the shipped `mock-providers/`.
pub fn scenario_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/test.toml")
}

/// The only variable set: `GATEWAY_KEY`.
pub fn env(name: &str) -> Option<String> {
    (name == "GATEWAY_KEY").then(|| "sk-test-secret".to_string())
}

pub fn parse(src: &str) -> Result<Scenario, ScenarioError> {
    from_str(src, &scenario_path(), &env)
}

/// The 1-based line of the first occurrence of `needle` in `src`.
pub fn line_of(src: &str, needle: &str) -> usize {
    let at = src
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in the scenario"));
    src[..at].matches('\n').count() + 1
}

/// Asserts that `src` is rejected at `line`, about `field`, with `help` in the help text.
pub fn assert_rejected(src: &str, line: usize, field: &str, help: &str) -> ScenarioError {
    let e = parse(src).expect_err("the scenario should be rejected");
    // As printed: `error: …` then `  help: …`.
    let shown = slabench::exit::render_one(&e);
    assert_eq!(e.line(), Some(line), "wrong line in:\n{shown}");
    assert_eq!(e.field(), field, "wrong field in:\n{shown}");
    assert!(
        e.help().unwrap_or_default().contains(help),
        "help lacks {help:?} in:\n{shown}"
    );
    let prefix = format!("error: {}:{line}:", scenario_path().display());
    assert!(
        shown.starts_with(&prefix),
        "not in file:line:col form:\n{shown}"
    );
    assert!(shown.contains("\n  help: "), "no help line in:\n{shown}");
    e
}
