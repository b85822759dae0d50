//! The report's tables: verdict, generator health, scenario, classes,
//! providers, cost and the baseline comparison.

use std::fmt::Write as _;

use super::esc;
use crate::fmt::{fmt_latency, fmt_ms, fmt_pct};
use crate::report::charts::spectrum::Mark;
use crate::report::data::RunData;
use crate::report::table::{self, Table};
use crate::results::Change;

fn opt_s(x: Option<f64>) -> String {
    x.map_or("—".into(), |v| format!("{v:.1} s"))
}

pub fn header(data: &RunData, h: &mut String) {
    let s = &data.summary;
    let sc = &s.scenario;
    let _ = write!(
        h,
        "<header>\n<h1>slabench · {}</h1>\n<div class=\"verdict v-{v}\" id=\"verdict-badge\">{v}</div>\n",
        esc(&sc.name),
        v = s.verdict.as_str()
    );
    if let Some(d) = &sc.description {
        let _ = writeln!(h, "<p>{}</p>", esc(d));
    }
    let _ = writeln!(
        h,
        "<p class=\"muted\">Started {} · seed {} · {:.0} s planned · gateway {}{}</p>\n</header>",
        esc(&sc.started_at),
        sc.seed,
        sc.duration_s,
        esc(&sc.gateway),
        if s.interrupted {
            " · <strong>interrupted</strong>: the run was stopped early"
        } else {
            ""
        }
    );
    if let Some(m) = s.verdict_meaning() {
        let _ = writeln!(
            h,
            "<p class=\"alert\">{} — {}</p>",
            s.verdict.as_str(),
            esc(m)
        );
    }
    if let Some(e) = &s.gateway_exit {
        let _ = writeln!(
            h,
            "<div class=\"alert\"><p>The gateway process {}. Last lines of gateway.log:</p><pre>{}</pre></div>",
            esc(&e.headline()),
            esc(&e.log_tail.join("\n"))
        );
    }
    for p in &s.output_problems {
        let _ = writeln!(h, "<p class=\"alert\">Output incomplete: {}</p>", esc(p));
    }
    for e in &s.internal_errors {
        let _ = writeln!(
            h,
            "<p class=\"alert\">Internal error in slabench (a bug in slabench, not in the gateway): <code>{}</code></p>",
            esc(e)
        );
    }
}

pub fn verdict(data: &RunData, h: &mut String) {
    h.push_str("<h2 id=\"checks\">Verdict</h2>\n<table>\n<tr><th>Check</th><th>Kind</th><th>Target</th><th>Measured</th><th>Result</th></tr>\n");
    for r in &table::checks(&data.summary).rows {
        let (row, cell) = match r.mark {
            table::Mark::Pass => ("", "<td class=\"pass\">✔ PASS</td>".to_string()),
            table::Mark::Unmeasured => (
                " class=\"failed\"",
                format!("<td class=\"unmeasured\">? {}</td>", esc(&r.cells[4])),
            ),
            table::Mark::Fail | table::Mark::Plain => (
                " class=\"failed\"",
                "<td class=\"fail\">✘ FAIL</td>".to_string(),
            ),
        };
        let why = r
            .note
            .as_deref()
            .map(|w| format!("<br><span class=\"muted\">{}</span>", esc(w)))
            .unwrap_or_default();
        let _ = writeln!(
            h,
            "<tr{row}><td>{}{why}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>{cell}</tr>",
            esc(&r.cells[0]),
            esc(&r.cells[1]),
            esc(&r.cells[2]),
            esc(&r.cells[3])
        );
    }
    h.push_str("</table>\n<p class=\"muted\">Verdicts: PASS; FAIL (an SLA check failed); REGRESSION (worse than the baseline); UNMEASURED (a check could not be measured); INTERRUPTED (the run was stopped before its schedule ended); INVALID (the generator could not hold the schedule, or slabench itself failed, so the numbers cannot be trusted). A check that was not measured, not reached, not exercised or not observable is never a pass; an optional one (named in [sla] optional) does not make the run UNMEASURED.</p>\n");
}

/// Right-aligned cells.
fn num_cells(cells: &[String]) -> String {
    cells
        .iter()
        .map(|c| format!("<td class=\"num\">{}</td>", esc(c)))
        .collect()
}

pub fn generator(data: &RunData, h: &mut String) {
    let g = &data.summary.generator;
    let r = &data.summary.requests;
    let _ = write!(
        h,
        "<h2 id=\"generator\">Generator health</h2>\n<table>\n\
         <tr><th>Target rate</th><th>Achieved rate</th><th>Sent</th><th>Dropped</th><th>Lag p50</th><th>Lag p99</th><th>Lag max</th><th>Cut off at the end</th></tr>\n\
         <tr><td class=\"num\">{:.0} rpm</td><td class=\"num\">{:.0} rpm</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n</table>\n",
        g.target_rpm, g.achieved_rpm, g.sent, g.dropped,
        fmt_ms(g.lag_ms.p50), fmt_ms(g.lag_ms.p99), fmt_ms(g.lag_ms.max), r.cut_off
    );
    let failures = r.failures();
    if !failures.is_empty() {
        let _ = writeln!(
            h,
            "<p>{} of {} counted requests failed, by outcome: {}.</p>",
            r.failed,
            r.counted,
            esc(&failures)
        );
    }
    if let Some(gu) = &g.gave_up {
        let _ = writeln!(
            h,
            "<p class=\"alert\">The generator gave up at {:.1} s: it held {:.0} of {:.0} rpm, and its last send was {} late.</p>",
            gu.at_s, gu.held_rpm, gu.target_rpm, fmt_ms(gu.lag_ms)
        );
    }
    if let Some(line) = g.start_line() {
        let _ = writeln!(h, "<p>Common clock: {}.</p>", esc(&line));
    }
    if let Some(host) = &g.host {
        let _ = writeln!(
            h,
            "<p class=\"muted\">Lag limit {} ({}). During the load {}.</p>",
            fmt_ms(g.lag_limit_ms),
            esc(&g.lag_limit_from),
            esc(&host.explain())
        );
    }
    if g.stages.is_empty() {
        return;
    }
    h.push_str("<table>\n<tr><th>Stage</th><th>Shape</th><th>From</th><th>To</th><th>Target</th><th>Achieved</th><th>Sent</th></tr>\n");
    for st in &g.stages {
        let _ = writeln!(
            h,
            "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{:.0} s</td><td class=\"num\">{:.0} s</td><td class=\"num\">{:.0} rpm</td><td class=\"num\">{:.0} rpm</td><td class=\"num\">{}</td></tr>",
            st.index + 1, esc(&st.shape), st.start_s, st.end_s, st.target_rpm, st.achieved_rpm, st.sent
        );
    }
    h.push_str("</table>\n");
}

pub fn scenario(data: &RunData, h: &mut String) {
    let sc = &data.summary.scenario;
    h.push_str("<h2 id=\"scenario\">Scenario</h2>\n<div class=\"grid\">\n");
    let file = sc.file.as_deref().unwrap_or("(built in code)");
    for (k, v) in [
        ("File", esc(file)),
        ("Seed", sc.seed.to_string()),
        ("Planned duration", format!("{:.0} s", sc.duration_s)),
        ("Gateway", esc(&sc.gateway)),
        ("Uptime target", fmt_pct(data.summary.uptime.target)),
    ] {
        let _ = writeln!(h, "<div class=\"muted\">{k}</div><div>{v}</div>");
    }
    h.push_str("</div>\n");
    if !sc.traffic.is_empty() {
        h.push_str("<h3>Traffic classes</h3>\n<table>\n<tr><th>Class</th><th>Weight</th><th>Model</th><th>Prompt tokens</th><th>Max tokens</th><th>Streaming</th><th>Budgets</th></tr>\n");
        for t in &sc.traffic {
            let b = [
                ("p50", t.budgets_ms.p50),
                ("p95", t.budgets_ms.p95),
                ("p99", t.budgets_ms.p99),
            ]
            .iter()
            .filter_map(|(l, v)| v.map(|v| format!("{l} ≤ {}", fmt_ms(v))))
            .collect::<Vec<_>>()
            .join(", ");
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&t.name), t.weight, esc(&t.model), t.prompt_tokens, t.max_tokens,
                if t.stream { "yes" } else { "no" },
                if b.is_empty() { "—".into() } else { esc(&b) }
            );
        }
        h.push_str("</table>\n");
    }
    if !sc.providers.is_empty() {
        h.push_str("<h3>Providers</h3>\n<table>\n<tr><th>Name</th><th>Profile</th><th>Model</th><th>Region</th><th>Price in / out (USD per M tokens)</th></tr>\n");
        for p in &sc.providers {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{:.2} / {:.2}</td></tr>",
                esc(&p.name), esc(&p.profile), esc(&p.model), esc(&p.region), p.price_input_per_m, p.price_output_per_m
            );
        }
        h.push_str("</table>\n");
    }
    if !sc.faults.is_empty() {
        h.push_str("<h3>Faults</h3>\n<table>\n<tr><th>Fault</th><th>From</th><th>Until</th><th>Hits</th></tr>\n");
        for f in &sc.faults {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"num\">{:.1} s</td><td class=\"num\">{}</td><td class=\"num\">{:.0}%</td></tr>",
                esc(&f.label), f.start_s, f.end_s.map_or("end of run".into(), |e| format!("{e:.1} s")), f.probability * 100.0
            );
        }
        h.push_str("</table>\n");
    }
}

pub fn classes(data: &RunData, h: &mut String) {
    let l = &data.summary.latency_ms;
    h.push_str("<h2 id=\"classes\">Traffic classes</h2>\n<table>\n<tr><th>Class</th><th>Requests</th><th>OK</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>p99.9</th><th>max</th><th>TTFT p50 / p99</th><th>Tokens/s</th></tr>\n");
    let cols = ["requests", "ok", "p50", "p90", "p95", "p99", "p99.9", "max"];
    let t = table::class_latency(&data.summary, &data.classes);
    let shown = t.select(&[
        "class", "requests", "ok", "p50", "p90", "p95", "p99", "p99.9", "max",
    ]);
    for r in shown.rows.iter().filter(|r| !r.detail) {
        let c = l.classes.get(&r.cells[0]);
        let ttft = c.and_then(|c| c.ttft).map_or("—".into(), |t| {
            format!("{} / {}", fmt_latency(&t, t.p50), fmt_latency(&t, t.p99))
        });
        let tps = c
            .and_then(|c| c.tokens_per_s)
            .map_or("—".into(), |t| format!("{t:.0}"));
        let _ = writeln!(
            h,
            "<tr><td>{}</td>{}<td class=\"num\">{ttft}</td><td class=\"num\">{tps}</td></tr>",
            esc(&r.cells[0]),
            num_cells(&r.cells[1..])
        );
    }
    let all = table::all_latency(&data.summary);
    let all = Table {
        columns: t.columns.clone(),
        rows: vec![all],
    }
    .select(&cols);
    let _ = writeln!(
        h,
        "<tr><th>all</th>{}<td></td><td></td></tr>\n</table>",
        num_cells(&all.rows[0].cells)
    );
    let u = &data.summary.uptime;
    let _ = writeln!(
        h,
        "<p>Uptime {} (95% CI {} – {}), target {}; error budget {:.0}% spent ({} failures of {:.1} allowed); {} minute(s) below target.</p>",
        fmt_pct(u.ratio), fmt_pct(u.ci95[0]), fmt_pct(u.ci95[1]), fmt_pct(u.target),
        u.error_budget.spent * 100.0, u.error_budget.failures, u.error_budget.allowed_failures, u.error_budget.down_minutes
    );
    if let Some(n) = data.summary.interrupt_note() {
        let _ = writeln!(
            h,
            "<p class=\"alert\">Uptime covers answered requests only: {}.</p>",
            esc(&n)
        );
    }
}

pub fn providers(data: &RunData, h: &mut String) {
    let Some(f) = &data.summary.failover else {
        h.push_str("<h2 id=\"providers\">Providers</h2>\n<p class=\"note\">No provider ledger for this run (external target without simulated providers).</p>\n");
        return;
    };
    h.push_str("<h2 id=\"providers\">Providers and failover</h2>\n<table>\n<tr><th>Provider</th><th>Attempts</th><th>First attempts</th><th>Failed attempts</th><th>Served</th><th>Tokens in / out</th></tr>\n");
    for (name, p) in &f.providers {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{} / {}</td></tr>",
            esc(name), p.attempts, p.first_attempts, p.failed_attempts, p.served, p.input_tokens, p.output_tokens
        );
    }
    let _ = writeln!(
        h,
        "</table>\n<p>{} failover events: {} failovers{}, {} retries, {} exhausted; {} failed requests reached no provider. Amplification {:.3}× ({} attempts{}). Failed-over requests p99 {} against {} for the rest.</p>",
        f.events, f.failovers, esc(&crate::report::terminal::group_moves(f)), f.retries, f.exhausted, f.unreached, f.amplification, f.attempts,
        f.refused_connections.filter(|n| *n > 0).map(|n| format!(" in the ledger, plus {n} refused connections")).unwrap_or_default(),
        fmt_latency(&f.failover_latency_ms, f.failover_latency_ms.p99), fmt_latency(&f.normal_latency_ms, f.normal_latency_ms.p99)
    );
    gateway_errors(data, f, h);
    let _ = writeln!(h, "<p>Answers: {}.</p>", esc(&f.answers.describe()));
    if f.windows.is_empty() {
        return;
    }
    h.push_str("<table>\n<tr><th>Fault window</th><th>Provider</th><th>From</th><th>Until</th><th>Time to failover</th><th>Time to recover</th><th>Requests</th><th>Errors</th><th>p99</th></tr>\n");
    for w in &f.windows {
        // Not timed: the window's state and why, never a bare dash.
        let ttf = match w.time_to_failover_s {
            Some(_) => opt_s(w.time_to_failover_s),
            None => format!(
                "{}: {}",
                w.state.label(),
                esc(w.why.as_deref().unwrap_or(""))
            ),
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{:.1} s</td><td class=\"num\">{}</td><td class=\"num\">{ttf}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}{}</td><td class=\"num\">{}</td></tr>",
            esc(&w.fault), esc(&w.provider), w.start_s, opt_s(w.end_s), opt_s(w.time_to_recover_s), w.requests, w.errors,
            if w.gateway_errors > 0 { format!(" (+{} by the gateway itself)", w.gateway_errors) } else { String::new() },
            crate::report::terminal::window_p99(w)
        );
    }
    h.push_str("</table>\n");
}

/// Errors the gateway made itself (no provider attempt), by status and
/// message, beside the provider errors it passed through.
fn gateway_errors(data: &RunData, f: &crate::analysis::failover::Report, h: &mut String) {
    let Some(g) = &data.summary.requests.gateway_errors else {
        return;
    };
    let _ = writeln!(
        h,
        "<p id=\"gateway-errors\">Errors the gateway made itself (no provider attempt): {}; provider errors passed through: {}.</p>",
        g.count, f.provider_errors_passed_through
    );
    if g.by_message.is_empty() {
        return;
    }
    h.push_str("<table>\n<tr><th>Status</th><th>Gateway's message</th><th>Requests</th></tr>\n");
    for m in &g.by_message {
        let status = m.status.map_or("—".to_string(), |s| s.to_string());
        let _ = writeln!(
            h,
            "<tr><td class=\"num\">{status}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            esc(&m.message),
            m.count
        );
    }
    h.push_str("</table>\n");
}

pub fn cost(data: &RunData, h: &mut String) {
    let Some(c) = &data.summary.cost_usd else {
        return;
    };
    let _ = write!(
        h,
        "<h2 id=\"cost\">Cost</h2>\n<p>${:.4} in total, ${:.4} per 1,000 requests; failing over added ${:.4}.</p>\n<table>\n<tr><th>By provider</th><th>USD</th></tr>\n",
        c.total, c.per_1k_requests, c.failover_added
    );
    for (k, v) in &c.by_provider {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"num\">{v:.4}</td></tr>",
            esc(k)
        );
    }
    h.push_str("<tr><th>By traffic class</th><th>USD</th></tr>\n");
    for (k, v) in &c.by_class {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"num\">{v:.4}</td></tr>",
            esc(k)
        );
    }
    h.push_str("</table>\n");
}

pub fn baseline(data: &RunData, h: &mut String) {
    let Some(b) = &data.summary.baseline else {
        return;
    };
    let _ = write!(
        h,
        "<h2 id=\"baseline\">Against the baseline</h2>\n<p>Baseline {} ({}, started {}); tolerance {:.0}%, floor {}.</p>\n<table>\n<tr><th>Metric</th><th>Baseline</th><th>This run</th><th>Change</th><th>Verdict</th><th>How</th></tr>\n",
        esc(&b.baseline_file), esc(&b.baseline_scenario), esc(&b.baseline_started_at), b.tolerance * 100.0, fmt_ms(b.floor_ms)
    );
    for m in &b.metrics {
        let (row, verdict) = match m.change {
            Change::Regressed => (" class=\"failed\"", "<td class=\"fail\">✘ regressed</td>"),
            Change::Improved => ("", "<td class=\"pass\">improved</td>"),
            Change::WithinNoise => ("", "<td>within noise</td>"),
        };
        let _ = writeln!(
            h,
            "<tr{row}><td>{}</td><td class=\"num\">{:.2} {u}</td><td class=\"num\">{:.2} {u}</td><td class=\"num\">{:+.1}%</td>{verdict}<td>{}</td></tr>",
            esc(&m.metric), m.baseline, m.candidate, m.relative_change * 100.0, esc(&m.detail), u = esc(&m.unit)
        );
    }
    h.push_str("</table>\n");
}

/// The amplification limit, from the SLA check's target (`<= 1.50x`).
pub fn amplification_limit(data: &RunData) -> Option<f64> {
    let c = data
        .summary
        .checks
        .iter()
        .find(|c| c.name == "upstream amplification")?;
    c.target
        .trim_start_matches("<=")
        .trim()
        .trim_end_matches('x')
        .parse()
        .ok()
}

/// The baseline's latency percentiles of `class`, as marks on its spectrum
/// (`chat p99` in ms → (0.99, value)).
pub fn baseline_marks(data: &RunData, class: &str) -> Vec<Mark> {
    let Some(b) = &data.summary.baseline else {
        return Vec::new();
    };
    b.metrics
        .iter()
        .filter(|m| m.class.as_deref() == Some(class) && m.unit == "ms")
        .filter_map(|m| {
            let q = match m.metric.rsplit(' ').next()? {
                "p50" => 0.50,
                "p90" => 0.90,
                "p95" => 0.95,
                "p99" => 0.99,
                "p999" | "p99.9" => 0.999,
                _ => return None,
            };
            Some(Mark {
                label: format!("baseline {}", fmt_ms(m.baseline)),
                q,
                ms: m.baseline,
            })
        })
        .collect()
}
