//! summary.md: the verdict and the key numbers as Markdown tables, sized for
//! a CI job summary (`cat summary.md >> $GITHUB_STEP_SUMMARY`).

use std::fmt::Write as _;
use std::io::Write;

use super::data::RunData;
use super::table::{self, Mark};
use crate::analysis::Verdict;
use crate::fmt::{fmt_latency, fmt_ms, fmt_pct};
use crate::results::Change;

/// Escapes text from a scenario so it cannot break a table or inject markup.
pub fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' | '~' | '&' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn icon(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "✅",
        Verdict::Fail => "❌",
        Verdict::Regression => "📉",
        Verdict::Invalid => "⚠️",
        Verdict::Interrupted => "⏹️",
        Verdict::Unmeasured => "❔",
    }
}

/// Renders summary.md.
pub fn render(data: &RunData) -> String {
    let s = &data.summary;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## {} slabench: {} — {}\n",
        icon(s.verdict),
        md_escape(&s.scenario.name),
        s.verdict.as_str()
    );
    if let Some(d) = &s.scenario.description {
        let _ = writeln!(md, "{}\n", md_escape(d));
    }
    let _ = writeln!(
        md,
        "Started {} · seed {} · {:.0} s planned · gateway {}{}\n",
        md_escape(&s.scenario.started_at),
        s.scenario.seed,
        s.scenario.duration_s,
        md_escape(&s.scenario.gateway),
        if s.interrupted {
            " · **interrupted**"
        } else {
            ""
        }
    );
    if let Some(m) = s.verdict_meaning() {
        let _ = writeln!(md, "> **{}**: {}\n", s.verdict.as_str(), md_escape(m));
    }
    for e in &s.internal_errors {
        let _ = writeln!(
            md,
            "> **Internal error in slabench** (not the gateway): {}\n",
            md_escape(e)
        );
    }
    if let Some(e) = &s.gateway_exit {
        let _ = writeln!(
            md,
            "> **The gateway process {}**. Last lines of gateway.log:\n",
            md_escape(&e.headline())
        );
        md.push_str("~~~text\n");
        for l in &e.log_tail {
            // A fence inside the log must not end the block.
            let _ = writeln!(md, "{}", l.replace('~', "-"));
        }
        md.push_str("~~~\n\n");
    }
    for p in &s.output_problems {
        let _ = writeln!(md, "> **Output incomplete**: {}\n", md_escape(p));
    }
    checks(data, &mut md);
    gateway_did(data, &mut md);
    obedience(data, &mut md);
    key_numbers(data, &mut md);
    classes(data, &mut md);
    baseline(data, &mut md);
    md
}

/// "What the gateway did", in short: the run-wide facts, one line per
/// fault window with its state, and the gateway's account against the
/// ledger (the same words as report.html: `report::story`).
fn gateway_did(data: &RunData, md: &mut String) {
    let Some(st) = crate::report::story::story(&data.summary) else {
        return;
    };
    md.push_str("\n### What the gateway did\n\n");
    for l in &st.lead {
        let _ = writeln!(md, "- {}", md_escape(l));
    }
    for w in &st.windows {
        let _ = writeln!(
            md,
            "- **{}** · {}: {}",
            md_escape(&w.title),
            w.state.to_uppercase(),
            md_escape(&w.text)
        );
    }
    if let Some(t) = &st.account {
        md.push_str("\n| Gateway's account | It says | Ledger shows |\n|---|---:|---:|\n");
        for r in &t.rows {
            let _ = writeln!(
                md,
                "| {} |",
                r.cells
                    .iter()
                    .map(|c| md_escape(c))
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
        }
        for n in &st.account_notes {
            let _ = writeln!(md, "\n{}", md_escape(n));
        }
    }
}

fn key_numbers(data: &RunData, md: &mut String) {
    let s = &data.summary;
    let (g, r, l) = (&s.generator, &s.requests, &s.latency_ms.all);
    md.push_str("\n| Key number | Value |\n|---|---|\n");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(md, "| {k} | {v} |");
    };
    let failures = match r.failures() {
        f if f.is_empty() => String::new(),
        f => format!(" ({f})"),
    };
    row(
        "Requests",
        format!(
            "{} counted · {} ok · {} failed{failures} · {} cut off",
            r.counted, r.ok, r.failed, r.cut_off
        ),
    );
    if let Some(f) = &s.failover {
        row("Answers", md_escape(&f.answers.describe()));
    }
    row(
        "Uptime",
        format!(
            "{} (95% CI {} – {}) · error budget {:.0}% spent{}",
            fmt_pct(s.uptime.ratio),
            fmt_pct(s.uptime.ci95[0]),
            fmt_pct(s.uptime.ci95[1]),
            s.uptime.error_budget.spent * 100.0,
            s.interrupt_note()
                .map(|n| format!(" · **{}**", md_escape(&n)))
                .unwrap_or_default()
        ),
    );
    row(
        "Latency (all, OK)",
        format!(
            "p50 {} · p99 {} · max {}",
            fmt_latency(l, l.p50),
            fmt_latency(l, l.p99),
            fmt_latency(l, l.max)
        ),
    );
    row(
        "Generator",
        format!(
            "target {:.0} rpm · achieved {:.0} rpm · lag p99 {} · dropped {}{}",
            g.target_rpm,
            g.achieved_rpm,
            fmt_ms(g.lag_ms.p99),
            g.dropped,
            g.start_line()
                .map(|l| format!(" · {}", md_escape(&l)))
                .unwrap_or_default()
        ),
    );
    if let Some(f) = &s.failover {
        for (k, v) in failover_rows(s, f) {
            row(k, v);
        }
    }
    if let Some(o) = &s.gateway_overhead_ms {
        row("Gateway overhead", md_escape(&o.headline()));
    }
    if let Some(c) = &s.cost_usd {
        row(
            "Cost",
            format!(
                "${:.4} total · ${:.4} per 1k requests",
                c.total, c.per_1k_requests
            ),
        );
    }
}

/// The failover key numbers, and the errors the gateway made itself.
fn failover_rows(
    s: &crate::results::Summary,
    f: &crate::analysis::failover::Report,
) -> Vec<(&'static str, String)> {
    let mut rows = vec![(
        "Failover",
        format!(
            "{} events: {} failovers{} · {} retries · {} exhausted · never reached a provider {} · amplification {:.3}x{}",
            f.events,
            f.failovers,
            if f.group_moves > 0 {
                format!(" · {} moves inside a deployment group", f.group_moves)
            } else {
                String::new()
            },
            f.retries,
            f.exhausted,
            f.unreached,
            f.amplification,
            crate::report::terminal::amplification_note(f)
        ),
    )];
    if let Some(g) = &s.requests.gateway_errors {
        rows.push((
            "Errors the gateway made itself",
            format!(
                "{} (no provider attempt){}{} · provider errors passed through {}",
                g.count,
                if g.by_message.is_empty() { "" } else { ": " },
                md_escape(&g.lines().join("; ")),
                f.provider_errors_passed_through
            ),
        ));
    }
    if let Some(c) = &f.connections {
        rows.push((
            "Connection attempts",
            md_escape(&super::terminal::connections_line(c)),
        ));
    }
    rows
}

/// The verdict table; a failing or unmeasured check says why.
fn checks(data: &RunData, md: &mut String) {
    let t = table::checks(&data.summary).select(&["check", "target", "measured", "result"]);
    md.push_str("| Check | Target | Measured | Result |\n|---|---|---|---|\n");
    for r in &t.rows {
        let why = r
            .note
            .as_deref()
            .map(|w| format!(": {}", md_escape(w)))
            .unwrap_or_default();
        let result = match r.mark {
            Mark::Pass => "✅ pass".to_string(),
            Mark::Unmeasured => format!("❔ **{}**{why}", r.cells[3]),
            Mark::Fail | Mark::Plain => format!("❌ **FAIL**{why}"),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {result} |",
            md_escape(&r.cells[0]),
            md_escape(&r.cells[1]),
            md_escape(&r.cells[2])
        );
    }
}

/// "Did the gateway obey?": per provider and window, what it was asked
/// and what it did.
fn obedience(data: &RunData, md: &mut String) {
    let Some(t) = crate::report::obedience::table(&data.summary) else {
        return;
    };
    let _ = writeln!(
        md,
        "\n### {}\n\n| Asked to | Provider | Window | Did | Example |\n|---|---|---|---|---|",
        crate::report::obedience::TITLE
    );
    for r in &t.rows {
        let cells: Vec<String> = r.cells.iter().map(|c| md_escape(c)).collect();
        let _ = writeln!(md, "| {} |", cells.join(" | "));
    }
}

fn classes(data: &RunData, md: &mut String) {
    let s = &data.summary;
    if s.latency_ms.classes.is_empty() {
        return;
    }
    let t = table::class_latency(s, &data.classes)
        .select(&["class", "requests", "ok", "p50", "p95", "p99", "max"]);
    md.push_str("\n| Class | Requests | OK | p50 | p95 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|\n");
    for r in t.rows.iter().filter(|r| !r.detail) {
        let cells: Vec<String> = r.cells.iter().map(|c| md_escape(c)).collect();
        let _ = writeln!(md, "| {} |", cells.join(" | "));
    }
}

fn baseline(data: &RunData, md: &mut String) {
    let Some(b) = &data.summary.baseline else {
        return;
    };
    let _ = writeln!(
        md,
        "\nAgainst baseline {} ({}, {}):\n\n| Metric | Baseline | This run | Change | |\n|---|---:|---:|---:|---|",
        md_escape(&b.baseline_file),
        md_escape(&b.baseline_scenario),
        md_escape(&b.baseline_started_at)
    );
    for m in &b.metrics {
        let verdict = match m.change {
            Change::Regressed => "📉 **regressed**",
            Change::Improved => "improved",
            Change::WithinNoise => "within noise",
        };
        let _ = writeln!(
            md,
            "| {} | {:.2} {u} | {:.2} {u} | {:+.1}% | {verdict} |",
            md_escape(&m.metric),
            m.baseline,
            m.candidate,
            m.relative_change * 100.0,
            u = md_escape(&m.unit)
        );
    }
}

/// Writes summary.md.
pub fn write(data: &RunData, out: &mut dyn Write) -> anyhow::Result<()> {
    out.write_all(render(data).as_bytes())?;
    Ok(())
}
