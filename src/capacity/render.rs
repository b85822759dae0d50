//! The capacity search's words and files: the progress line of each probe,
//! the conclusion, the one-screen terminal summary, capacity.md, and
//! capacity.json (schema in schema/capacity.schema.json); capacity.html is
//! in `html.rs`. Every file is complete or absent.

use std::fmt::Write as _;
use std::path::Path;

use super::probe::{Head, Probe};
use super::search::{End, Outcome};
use super::{rpm, Capacity};
use crate::fmt::{fmt_ms, fmt_pct};

/// capacity.json's text: what the file holds, and what `--json` prints.
pub fn json(cap: &Capacity) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(cap)? + "\n")
}

/// Writes capacity.json, capacity.md and capacity.html into `dir`.
pub fn write_all(cap: &Capacity, dir: &Path) -> anyhow::Result<()> {
    let json = json(cap)?;
    for (name, text) in [
        ("capacity.json", json),
        ("capacity.md", markdown(cap)),
        ("capacity.html", super::html::html(cap)),
    ] {
        crate::atomic_file::write_file(&dir.join(name), |w| Ok(w.write_all(text.as_bytes())?))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e:#}", dir.join(name).display()))?;
    }
    Ok(())
}

/// `PASS`, `FAIL`, …, or `NO RUN` for a run that could not be made.
fn verdict(p: &Probe) -> &str {
    p.verdict.as_deref().unwrap_or("NO RUN")
}

/// `[3] factor 1.500 · 1,800 RPM (sent 1,795) · FAIL (uptime …)`.
pub fn progress_line(p: &Probe) -> String {
    let mut s = format!(
        "[{}] factor {:.3} · {} RPM",
        p.index,
        p.factor,
        rpm(p.target_peak_rpm)
    );
    if let Some(sent) = p.peak_rpm {
        let _ = write!(s, " (sent {})", rpm(sent));
    }
    if p.repeat > 0 {
        let _ = write!(s, " · repeat {}", p.repeat + 1);
    }
    let _ = write!(s, " · {}", verdict(p));
    if let Some(why) = &p.why {
        let _ = write!(s, " ({why})");
    }
    let _ = write!(s, " · {:.1} s", p.seconds);
    s
}

/// `[3] probing 2,400 RPM (factor 2.000, repeat 1/2) …`: printed when a
/// probe starts, so a long probe shows what is running.
pub fn start_line(head: &Head, repeats: u32) -> String {
    format!(
        "[{}] probing {} RPM (factor {:.3}, repeat {}/{repeats}) …",
        head.index,
        rpm(head.target_peak_rpm),
        head.factor,
        head.repeat + 1
    )
}

fn pct(h: f64) -> String {
    format!("{:+.0}%", h * 100.0)
}

/// What the search found, in one or two sentences.
pub fn conclusion(cap: &Capacity) -> String {
    let [low, high] = cap.interval_rpm;
    let peak = rpm(cap.scenario_peak_rpm);
    let repeats = cap.settings.repeats;
    let invalid = || cap.probes.iter().rfind(|p| p.outcome == Outcome::Invalid);
    match cap.status {
        None => "the search is running".into(),
        Some(End::Found) => format!(
            "capacity {} RPM ({} over the scenario's {peak} RPM): all {repeats} run(s) passed there, \
             and {} RPM did not pass ({})",
            rpm(cap.capacity_rpm.unwrap_or_default()),
            pct(cap.headroom.unwrap_or_default()),
            rpm(high.unwrap_or_default()),
            failed_runs(cap, high),
        ),
        Some(End::AtLeastMax) => format!(
            "capacity at least {} RPM ({} over the scenario's {peak} RPM): every probe passed up to \
             --max-rpm; raise it to search higher",
            rpm(cap.capacity_rpm.unwrap_or_default()),
            pct(cap.headroom.unwrap_or_default()),
        ),
        Some(End::BelowMin) => format!(
            "no capacity found: even {} RPM (--min-rpm) did not pass; the scenario's own peak is {peak} RPM",
            rpm(high.unwrap_or(cap.settings.min_rpm)),
        ),
        Some(End::MachineLimit) => format!(
            "capacity not found below this machine's limit: {}{}",
            invalid()
                .and_then(|p| p.why.clone())
                .unwrap_or_else(|| "a probe was INVALID".into()),
            low.map(|l| passed_below(cap, l)).unwrap_or_default()
        ),
        Some(End::Interrupted) => format!(
            "interrupted: no capacity is claimed; the bracket so far is {}",
            interval(cap)
        ),
        Some(End::Error) => format!(
            "a probe's run could not be made: {}",
            cap.probes
                .last()
                .and_then(|p| p.why.as_deref())
                .unwrap_or("unknown error")
        ),
    }
}

/// `; 1 of the 2 run(s) a capacity needs passed at 1,500 RPM (not
/// confirmed)`: what passed below an INVALID probe, and how sure it is.
fn passed_below(cap: &Capacity, low: f64) -> String {
    let passed = cap
        .probes
        .iter()
        .filter(|p| p.outcome == Outcome::Pass && (p.target_peak_rpm - low).abs() < 1e-6)
        .count();
    let repeats = cap.settings.repeats as usize;
    let sure = if passed >= repeats {
        "confirmed, but no capacity is claimed: the search did not end"
    } else {
        "not confirmed"
    };
    format!(
        "; {passed} of the {repeats} run(s) a capacity needs passed at {} RPM ({sure})",
        rpm(low)
    )
}

/// `1 of 2 runs failed`: how sure the upper end is.
fn failed_runs(cap: &Capacity, at_rpm: Option<f64>) -> String {
    let at: Vec<&Probe> = cap
        .probes
        .iter()
        .filter(|p| at_rpm.is_some_and(|r| (p.target_peak_rpm - r).abs() < 1e-6))
        .collect();
    let failed = at.iter().filter(|p| p.outcome == Outcome::NotPass).count();
    format!("{failed} of {} run(s) there failed", at.len())
}

/// `[1,650, 1,800) RPM`, with `?` for an end not found.
pub fn interval(cap: &Capacity) -> String {
    let end = |v: Option<f64>| v.map_or("?".to_string(), rpm);
    format!(
        "[{}, {}) RPM",
        end(cap.interval_rpm[0]),
        end(cap.interval_rpm[1])
    )
}

/// The gate: the required headroom and whether it is met.
pub fn gate(cap: &Capacity) -> String {
    let need = cap.settings.require_headroom;
    let needed_rpm = rpm(cap.scenario_peak_rpm * (1.0 + need));
    // The status first: only a search that ended on a capacity (or on
    // nothing passing at --min-rpm) can meet or miss the headroom.
    match cap.status {
        Some(End::Found | End::AtLeastMax) if cap.meets_required => format!(
            "meets the required headroom {} ({needed_rpm} RPM)",
            pct(need)
        ),
        Some(End::Found | End::AtLeastMax | End::BelowMin) => format!(
            "BELOW the required headroom {} ({needed_rpm} RPM)",
            pct(need)
        ),
        _ => format!(
            "the required headroom {} ({needed_rpm} RPM) is not proven: the search did not finish",
            pct(need)
        ),
    }
}

/// Rows of the probe table: index, factor, peak RPM asked/sent, verdict,
/// p99, uptime, amplification, time to failover, why.
pub fn rows(cap: &Capacity) -> Vec<[String; 9]> {
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("—".to_string(), f);
    cap.probes
        .iter()
        .map(|p| {
            let left_out = left_out(p);
            let m = |v: Option<f64>| v.filter(|_| left_out.is_none());
            let mut why = p.why.clone().unwrap_or_default();
            if let Some(reason) = left_out {
                let _ = write!(why, "; its numbers are left out: {reason}");
            }
            [
                p.index.to_string(),
                format!("{:.3}", p.factor),
                format!(
                    "{} / {}",
                    rpm(p.target_peak_rpm),
                    opt(p.peak_rpm, &|v| rpm(v))
                ),
                verdict(p).to_string(),
                opt(m(p.p99_ms), &fmt_ms),
                opt(m(p.uptime), &fmt_pct),
                opt(m(p.amplification), &|v| format!("{v:.2}×")),
                opt(m(p.time_to_failover_s), &|v| format!("{v:.1} s")),
                why,
            ]
        })
        .collect()
}

/// Why a probe's numbers are not a measurement of the load it asked for
/// (`None`: they are, passed or not): they are left off the curve and
/// shown as — in the tables.
pub fn left_out(p: &Probe) -> Option<&'static str> {
    match p.outcome {
        Outcome::Pass | Outcome::NotPass => None,
        Outcome::Invalid => Some("INVALID, the generator did not send the load asked"),
        Outcome::Interrupted => Some("interrupted, the run did not finish its schedule"),
        Outcome::Error => Some("the run could not be made"),
    }
}

pub const COLUMNS: [&str; 9] = [
    "#",
    "factor",
    "peak RPM asked / sent",
    "verdict",
    "p99",
    "uptime",
    "amplification",
    "time to failover",
    "why not a pass",
];

/// The one-screen terminal summary.
pub fn terminal(cap: &Capacity, out: &Path) -> String {
    let mut s = format!(
        "\ncapacity of {} (seed {}): {}\n  interval {} · {}\n",
        cap.scenario,
        cap.seed,
        cap.conclusion,
        interval(cap),
        gate(cap)
    );
    if let Some(l) = &cap.limiting_check {
        let _ = writeln!(s, "  limited by: {l}");
    }
    let _ = writeln!(
        s,
        "  {} probe(s), {:.0} s of runs",
        cap.probes.len(),
        cap.probes.iter().map(|p| p.seconds).sum::<f64>()
    );
    for r in rows(cap) {
        let _ = writeln!(
            s,
            "  [{:>2}] ×{:<6} {:<20} {:<11} p99 {:<8} uptime {:<9} amp {:<6} ttf {}",
            r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]
        );
    }
    let _ = writeln!(s, "  report: {}", out.join("capacity.html").display());
    s
}

/// capacity.md: the conclusion and the probe table (a CI job summary).
pub fn markdown(cap: &Capacity) -> String {
    let mut s = format!(
        "## slabench capacity: `{}`\n\n**{}**\n\n- interval: {}\n- {}\n",
        cap.scenario.replace('`', "'"),
        cell(&cap.conclusion),
        interval(cap),
        gate(cap)
    );
    if let Some(l) = &cap.limiting_check {
        let _ = writeln!(s, "- limited by: {}", cell(l));
    }
    let _ = writeln!(
        s,
        "- search: {} to {} RPM, precision {:.1}%, {} passing run(s) to claim a capacity; seed {}; slabench {}\n",
        rpm(cap.settings.min_rpm),
        rpm(cap.settings.max_rpm),
        cap.settings.precision * 100.0,
        cap.settings.repeats,
        cap.seed,
        cap.slabench_version
    );
    let _ = writeln!(s, "| {} |", COLUMNS.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(COLUMNS.len()));
    for r in rows(cap) {
        let cells: Vec<String> = r.iter().map(|c| cell(c)).collect();
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
    s.push_str(
        "\nA probe passes only when its run's verdict is PASS; a check that could not be \
         measured is never a pass.\n",
    );
    s
}

/// Text that fits one Markdown table cell.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "/")
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
