//! The scorecard's scenario text: the GATEWAY_FILE's `[gateway]` first
//! (so an error in it keeps its line numbers), then the fixed topology,
//! the load and one case's fault and SLA.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::battery::{amplification_limit, Case};
use super::score::Criterion;
use crate::exit::UserError;
use crate::scenario::{self, Scenario};

/// The default load: seconds at 300 RPM.
pub const SECONDS: u64 = 12;

/// The fixed topology: name, port, profile, region, group.
pub const PROVIDERS: [(&str, u16, &str, &str, Option<&str>); 4] = [
    (
        "flash",
        18311,
        "deepseek-v4-flash",
        "us-east",
        Some("default"),
    ),
    (
        "flash-b",
        18312,
        "deepseek-v4-flash",
        "us-west",
        Some("default"),
    ),
    ("qwen", 18313, "qwen3-32b", "us-west", None),
    ("r1", 18314, "deepseek-r1", "us-east", None),
];

/// The profiles' text, built in so the topology works from any directory.
fn profile_text(profile: &str) -> &'static str {
    match profile {
        "deepseek-v4-flash" => include_str!("../../mock-providers/deepseek-v4-flash.toml"),
        "qwen3-32b" => include_str!("../../mock-providers/qwen3-32b.toml"),
        _ => include_str!("../../mock-providers/deepseek-r1.toml"),
    }
}

/// The profile text with its `region` line set to `region`.
pub fn regional_profile(profile: &str, region: &str) -> String {
    let mut out = String::new();
    for line in profile_text(profile).lines() {
        if line.trim_start().starts_with("region") && line.contains('=') {
            let _ = writeln!(out, "region = \"{region}\"");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Writes the region variants of the profiles under `<dir>/profiles/`;
/// returns each provider's profile path (absolute), in topology order.
pub fn write_profiles(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let pdir = std::path::absolute(dir.join("profiles"))?;
    std::fs::create_dir_all(&pdir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", pdir.display()))?;
    let mut out = Vec::new();
    for (_, _, profile, region, _) in PROVIDERS {
        let path = pdir.join(format!("{profile}-{region}.toml"));
        std::fs::write(&path, regional_profile(profile, region))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        out.push(path);
    }
    Ok(out)
}

/// Refuses a GATEWAY_FILE with anything but `[gateway]`, at the line of
/// the first other key.
pub fn check_gateway_only(text: &str, path: &Path) -> Result<(), UserError> {
    let Ok(doc) = toml_edit::ImDocument::parse(text) else {
        // Syntax errors are the scenario validator's to report, located.
        return Ok(());
    };
    let table = doc.as_table();
    if let Some((name, _)) = table.iter().find(|(k, _)| *k != "gateway") {
        let line = table
            .key(name)
            .and_then(|k| k.span())
            .map_or(1, |s| text[..s.start].matches('\n').count() + 1);
        return Err(UserError::new(
            format!(
                "{}:{line}: `{name}` does not belong in a scorecard gateway file: only [gateway] belongs there",
                path.display()
            ),
            "remove it; the scorecard supplies the load, traffic, providers, faults and SLA itself",
        ));
    }
    if !table.contains_key("gateway") {
        return Err(UserError::new(
            format!("{}: no [gateway] table", path.display()),
            "write the gateway under test as [gateway] (kind = \"builtin\" or \"external\")",
        ));
    }
    Ok(())
}

/// The load, the traffic and the topology, for `seconds` of load.
fn topology(seconds: u64, profiles: &[PathBuf]) -> String {
    let mut s = format!(
        "\n[load]\narrival = \"poisson\"\ntimeout = \"15s\"\ndrain = \"15s\"\nmax_lag_p99 = \"100ms\"\n\
         stages = [{{ hold_rpm = 300, for = \"{seconds}s\" }}]\n"
    );
    s.push_str(
        "\n[[traffic]]\nname = \"chat\"\nmodel = \"default\"\nweight = 60\nprompt_tokens = 200\nmax_tokens = 48\n\
         \n[[traffic]]\nname = \"stream\"\nmodel = \"default\"\nweight = 30\nprompt_tokens = 200\nmax_tokens = 48\nstream = true\n\
         \n[[traffic]]\nname = \"premium\"\nmodel = \"premium\"\nweight = 10\nprompt_tokens = 200\nmax_tokens = 48\nstream = true\n",
    );
    for ((name, port, _, _, group), path) in PROVIDERS.iter().zip(profiles) {
        let profile = toml::Value::String(path.display().to_string());
        let _ = write!(
            s,
            "\n[[providers]]\nname = \"{name}\"\nport = {port}\nprofile = {profile}\n"
        );
        if let Some(g) = group {
            let _ = writeln!(s, "group = \"{g}\"");
        }
    }
    s
}

/// Milliseconds at `share` of the load.
fn at(seconds: u64, share: f64) -> String {
    format!("{}ms", (seconds as f64 * 1000.0 * share).round() as u64)
}

/// The case's faults and SLA.
fn case_part(case: &Case, seconds: u64) -> String {
    let mut s = String::new();
    let (start, end) = (at(seconds, case.window.start), at(seconds, case.window.end));
    let dur = format!(
        "{}ms",
        (seconds as f64 * 1000.0 * (case.window.end - case.window.start)).round() as u64
    );
    let _ = end;
    for f in case.faults {
        let _ = write!(
            s,
            "\n[[faults]]\n{f}\nstart = \"{start}\"\nduration = \"{dur}\"\n"
        );
    }
    s.push_str(&sla(case));
    s
}

/// Every SLA key the case is judged by; those it cannot exercise are
/// optional, so they show "not exercised" without making it UNMEASURED.
fn sla(case: &Case) -> String {
    let mut keys: Vec<(&str, String)> = vec![
        (
            "max_amplification",
            format!("{:.1}", amplification_limit(case)),
        ),
        ("max_retry_after_violations", "0".into()),
        ("max_non_retryable_retries", "0".into()),
        ("max_rewritten_errors", "0".into()),
    ];
    // Only where a failover is expected: with nowhere to go, "never" is right.
    if case.required.contains(&"max_time_to_failover") {
        keys.push(("max_time_to_failover", "\"3s\"".into()));
    }
    if case.required.contains(&"max_flapping_probes") {
        keys.push(("max_flapping_probes", "5".into()));
    }
    if case.required.contains(&"p99") {
        keys.push(("p99", "\"3s\"".into()));
    }
    let mut s = format!("\n[sla]\nuptime = {}\n", case.uptime);
    let mut optional = Vec::new();
    for (k, v) in &keys {
        let _ = writeln!(s, "{k} = {v}");
        // `p99` is over successes only; all-down judges reacting from the
        // window's p99 over every request (score.rs), so it only informs.
        let needed = (case.required.contains(k) && *k != "p99")
            || (*k == "max_amplification" && case.primary.contains(&Criterion::Amplification));
        if !needed {
            optional.push(format!("\"{k}\""));
        }
    }
    let _ = writeln!(s, "optional = [{}]", optional.join(", "));
    s
}

/// The whole scenario text of one case: the gateway file's text first.
pub fn scenario_text(gateway: &str, case: &Case, seconds: u64, profiles: &[PathBuf]) -> String {
    let mut s = gateway.to_string();
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s.push_str(&topology(seconds, profiles));
    s.push_str(&case_part(case, seconds));
    s
}

/// An error the validator found past the gateway file's last line is
/// about the part the scorecard adds: its line number would point nowhere,
/// so it is dropped, and the message says which part it is about.
fn in_own_part(e: scenario::ScenarioError, gateway: &str) -> scenario::ScenarioError {
    let lines = gateway.lines().count();
    match e {
        scenario::ScenarioError::Invalid(mut d) if d.location.is_some_and(|l| l.line > lines) => {
            d.location = None;
            d.message = format!(
                "the gateway does not fit the scorecard's topology: {}",
                d.message
            );
            d.note = Some(
                "the scorecard adds the load, the traffic (classes chat and stream on model \
                 `default`, premium on model `premium`) and the providers flash, flash-b, qwen \
                 and r1; the gateway file must route both models to them"
                    .into(),
            );
            scenario::ScenarioError::Invalid(d)
        }
        e => e,
    }
}

/// Validates one case's scenario as if read from the gateway file (so
/// its relative paths resolve beside it), named after the case.
pub fn scenario(
    gateway: &str,
    gateway_path: &Path,
    case: &Case,
    seconds: u64,
    profiles: &[PathBuf],
    seed: u64,
) -> anyhow::Result<Scenario> {
    let text = scenario_text(gateway, case, seconds, profiles);
    let mut sc = scenario::from_str(&text, gateway_path, &|n| std::env::var(n).ok())
        .map_err(|e| in_own_part(e, gateway))?;
    sc.name = case.name.to_string();
    sc.seed = seed;
    Ok(sc)
}
