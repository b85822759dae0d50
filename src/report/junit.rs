//! junit.xml: one test case per check, so CI systems (GitLab, Jenkins,
//! GitHub test reporters) list every SLA check and show the failing ones.

use std::io::Write;

use super::data::RunData;
use crate::analysis::CheckKind;

/// Escapes text for XML attributes and content.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn kind(k: CheckKind) -> &'static str {
    match k {
        CheckKind::Sla => "sla",
        CheckKind::Generator => "generator",
        CheckKind::Baseline => "baseline",
        CheckKind::Run => "run",
    }
}

/// The run's facts as test-suite properties.
fn properties(s: &crate::results::Summary) -> [(&'static str, String); 7] {
    [
        ("verdict", s.verdict.as_str().to_string()),
        ("seed", s.scenario.seed.to_string()),
        ("gateway", s.scenario.gateway.clone()),
        ("interrupted", s.interrupted.to_string()),
        ("slabench_version", s.slabench_version.clone()),
        (
            "failed_by_outcome",
            Some(s.requests.failures())
                .filter(|f| !f.is_empty())
                .unwrap_or_else(|| "none".into()),
        ),
        (
            "answers",
            s.failover
                .as_ref()
                .map_or("not checked".to_string(), |f| f.answers.describe()),
        ),
    ]
}

/// Writes junit.xml.
pub fn write(data: &RunData, out: &mut dyn Write) -> anyhow::Result<()> {
    let s = &data.summary;
    let skipped = s
        .checks
        .iter()
        .filter(|c| c.optional && c.state.label().is_some())
        .count();
    let failures = s.checks.iter().filter(|c| !c.pass).count() - skipped;
    let name = xml_escape(&format!("slabench: {}", s.scenario.name));
    // How long the load ran (files from before `span_s`: the plan).
    let time = if s.generator.span_s > 0.0 {
        s.generator.span_s
    } else {
        s.scenario.duration_s
    };
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="{name}" tests="{}" failures="{failures}" errors="0" time="{:.3}">"#,
        s.checks.len(),
        time
    )?;
    writeln!(
        out,
        r#"  <testsuite name="{name}" tests="{}" failures="{failures}" errors="0" skipped="{skipped}" time="{:.3}" timestamp="{}">"#,
        s.checks.len(),
        time,
        xml_escape(&s.scenario.started_at)
    )?;
    writeln!(out, "    <properties>")?;
    for (k, v) in properties(s) {
        writeln!(
            out,
            r#"      <property name="{k}" value="{}"/>"#,
            xml_escape(&v)
        )?;
    }
    writeln!(out, "    </properties>")?;
    for c in &s.checks {
        testcase(c, out)?;
    }
    writeln!(out, "  </testsuite>")?;
    writeln!(out, "</testsuites>")?;
    Ok(())
}

/// One check as a test case.
fn testcase(c: &crate::analysis::Check, out: &mut dyn Write) -> anyhow::Result<()> {
    let case = format!(
        r#"    <testcase classname="slabench.{}" name="{}" time="0""#,
        kind(c.kind),
        xml_escape(&c.name)
    );
    if c.pass && c.state == crate::analysis::CheckState::Measured {
        writeln!(out, "{case}/>")?;
        return Ok(());
    }
    writeln!(out, "{case}>")?;
    // A required check that was not measured is a failure too: never a
    // pass, and not a skip, which CI reporters show as harmless. An
    // optional one (`[sla] optional`) is what a skip means: shown, with
    // its state and why, and not counted.
    let mut msg = match c.state.label() {
        Some(l) => format!("{l}, target {}", c.target),
        None => format!("measured {}, target {}", c.measured, c.target),
    };
    if let Some(why) = &c.why {
        msg.push_str(": ");
        msg.push_str(why);
    }
    let msg = xml_escape(&msg);
    if c.optional && c.state.label().is_some() {
        writeln!(out, r#"      <skipped message="optional: {msg}"/>"#)?;
    } else {
        // The state's name (`not_measured`, `not_exercised`, ...) for a
        // check that was not measured.
        let state = serde_json::to_value(c.state).ok();
        let ty = match (c.state.label(), state.as_ref().and_then(|v| v.as_str())) {
            (Some(_), Some(name)) => name,
            _ => kind(c.kind),
        };
        writeln!(
            out,
            r#"      <failure message="{msg}" type="{ty}">{msg}</failure>"#
        )?;
    }
    writeln!(out, "    </testcase>")?;
    Ok(())
}
