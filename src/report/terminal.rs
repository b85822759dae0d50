//! The summary table printed at the end of a run, and the live progress line.

use std::fmt::Write as _;

use super::table::{self, Table};
use crate::fmt::fmt_ms;
use crate::results::Summary;

/// The end-of-run summary: what happened to the run, the numbers, the
/// latency per class, then the checks and the verdict.
pub fn render(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nslabench · {} · seed {}{}",
        s.scenario.name,
        s.scenario.seed,
        if s.interrupted { " · INTERRUPTED" } else { "" }
    );
    render_problems(&mut out, s);
    render_load(&mut out, s);
    if let Some(f) = &s.failover {
        render_failover(&mut out, f);
    }
    if let Some(o) = &s.gateway_overhead_ms {
        let _ = writeln!(out, "  {}", o.headline());
    }
    if let Some(c) = &s.cost_usd {
        let _ = writeln!(
            out,
            "  cost        ${:.2} total · ${:.4} per 1k requests · failover added ${:.2}",
            c.total, c.per_1k_requests, c.failover_added
        );
    }
    let mut latency = table::class_latency(s, &s.class_names());
    latency.rows.insert(0, table::all_latency(s));
    for r in latency.rows.iter_mut().filter(|r| r.detail) {
        r.cells[0] = "  ttft".into();
    }
    out.push('\n');
    text_table(
        &mut out,
        &latency.select(&["class", "count", "p50", "p90", "p99", "p99.9", "max"]),
        "latency (ok)",
    );
    if let Some(c) = &s.baseline {
        out.push_str(&crate::report::comparison::terminal(c));
    }
    out.push('\n');
    text_table(
        &mut out,
        &table::checks(s).select(&["check", "target", "measured", "result"]),
        "check",
    );
    let _ = writeln!(
        out,
        "\n  verdict: {}{}",
        s.verdict.as_str(),
        s.verdict_meaning()
            .map(|m| format!(" ({m})"))
            .unwrap_or_default()
    );
    out
}

/// What went wrong with the run itself, before any number.
fn render_problems(out: &mut String, s: &Summary) {
    for e in &s.internal_errors {
        let _ = writeln!(
            out,
            "  INTERNAL ERROR (a bug in slabench, not the gateway): {e}"
        );
    }
    if let Some(e) = &s.gateway_exit {
        let _ = writeln!(
            out,
            "  GATEWAY DIED {}; last lines of gateway.log:",
            e.headline()
        );
        for l in &e.log_tail {
            let _ = writeln!(out, "    | {l}");
        }
    }
    for p in &s.output_problems {
        let _ = writeln!(out, "  OUTPUT      {p}");
    }
}

/// The generator, the requests and uptime.
fn render_load(out: &mut String, s: &Summary) {
    let (g, r) = (&s.generator, &s.requests);
    let _ = writeln!(
        out,
        "  generator   target {:.0} rpm, achieved {:.0} rpm · sent {} · dropped {} · lag p50 {} p99 {} max {}",
        g.target_rpm,
        g.achieved_rpm,
        g.sent,
        g.dropped,
        fmt_ms(g.lag_ms.p50),
        fmt_ms(g.lag_ms.p99),
        fmt_ms(g.lag_ms.max)
    );
    let outcomes: Vec<String> = r
        .by_outcome
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let _ = writeln!(
        out,
        "  requests    counted {} · ok {} · failed {} · cut off {}   [{}]",
        r.counted,
        r.ok,
        r.failed,
        r.cut_off,
        outcomes.join(", ")
    );
    if let Some(g) = &g.gave_up {
        let _ = writeln!(
            out,
            "  GAVE UP     at {:.1} s: held {:.0} of {:.0} rpm; the last send was {} late",
            g.at_s,
            g.held_rpm,
            g.target_rpm,
            fmt_ms(g.lag_ms)
        );
    }
    let _ = writeln!(
        out,
        "  uptime      {:.3}% (95% CI {:.3}–{:.3}%) · target {:.3}%{}",
        s.uptime.ratio * 100.0,
        s.uptime.ci95[0] * 100.0,
        s.uptime.ci95[1] * 100.0,
        s.uptime.target * 100.0,
        s.interrupt_note()
            .map(|n| format!(" · {n}"))
            .unwrap_or_default()
    );
}

/// A table as aligned text: the first column left, numbers right, the
/// result column left; a row's note on the line below it.
fn text_table(out: &mut String, t: &Table, first_title: &str) {
    let width = |i: usize, title: &str| {
        t.rows
            .iter()
            .map(|r| r.cells[i].chars().count())
            .chain([title.chars().count()])
            .max()
            .unwrap_or(0)
    };
    let titles: Vec<&str> = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| if i == 0 { first_title } else { *c })
        .collect();
    // Numbers get at least the width of `12.34 ms`, so columns line up
    // from one run to the next.
    let widths: Vec<usize> = titles
        .iter()
        .enumerate()
        .map(|(i, c)| match i > 0 && t.numeric(i) {
            true => width(i, c).max(8),
            false => width(i, c),
        })
        .collect();
    let line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths[i];
            if i == 0 || !t.numeric(i) {
                l.push_str(&format!("  {c:<w$}"));
            } else {
                l.push_str(&format!("  {c:>w$}"));
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(&titles));
    for r in &t.rows {
        let cells: Vec<&str> = r.cells.iter().map(String::as_str).collect();
        let _ = writeln!(out, "{}", line(&cells));
        if let Some(note) = &r.note {
            let _ = writeln!(out, "    ↳ {note}");
        }
    }
}

fn render_failover(out: &mut String, f: &crate::analysis::failover::Report) {
    let _ = writeln!(
        out,
        "  failover    {} events (failed over {}, retried {}, exhausted {}) · never reached a provider {} · amplification {:.3}x",
        f.events, f.failovers, f.retries, f.exhausted, f.unreached, f.amplification
    );
    for w in &f.windows {
        let end = w.end_s.map_or("end".to_string(), |e| format!("{e:.0}s"));
        if w.reach == crate::analysis::failover::Reach::NotReached {
            let _ = writeln!(
                out,
                "              {} {:.0}s–{end}: not reached (the run stopped before it)",
                w.fault, w.start_s
            );
            continue;
        }
        let left = match (w.time_to_failover_s, w.reach) {
            (Some(t), _) => format!("first attempts left {} after {t:.0} s", w.provider),
            (None, crate::analysis::failover::Reach::CutShort) => format!(
                "the run stopped inside the window with first attempts still on {}",
                w.provider
            ),
            (None, _) => format!("first attempts stayed on {}", w.provider),
        };
        let back = match w.time_to_recover_s {
            Some(t) => format!(", back {t:.0} s after the end"),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "              {} {:.0}s–{end}: {left}{back} · {} of {} requests failed · p99 {}",
            w.fault,
            w.start_s,
            w.errors,
            w.requests,
            window_p99(w)
        );
    }
    if let Some(a) = &f.gateway_account {
        render_account(out, a);
    }
}

/// The gateway's account against the ledger: totals, then each disagreement.
fn render_account(out: &mut String, a: &crate::analysis::account::AccountReport) {
    let _ = writeln!(
        out,
        "  gateway     {} says {} fallbacks, {} retries over {} requests; ledger: {} fallbacks, {} attempts{} · agrees on {}",
        a.dialects.join("+"),
        a.gateway_fallbacks,
        a.gateway_retries,
        a.requests,
        a.ledger_fallbacks,
        a.ledger_attempts,
        if a.attempts_exact { "" } else { " (the gateway reports a lower bound)" },
        a.agreeing
    );
    let d = &a.disagreements;
    let _ = writeln!(
        out,
        "              disagreements: fallbacks unreported {} · fallbacks no provider saw {} · attempts unreported {} · attempts no provider saw {} · served-by {} · explained by refused connections {} ({} first attempts attributed to the refusing provider)",
        d.fallbacks_unreported,
        d.fallbacks_unseen,
        d.attempts_unreported,
        d.attempts_unseen,
        d.served_by,
        a.explained_by_refused_connections,
        a.refused_first_attempts
    );
    for e in &a.examples {
        let _ = writeln!(
            out,
            "              {} (request {} at {:.1}s): gateway {} · ledger {}",
            e.kind.label(),
            e.seq,
            e.at_s,
            e.gateway,
            e.ledger
        );
    }
}

/// A window's p99, or a dash when no request in it succeeded.
pub fn window_p99(w: &crate::analysis::failover::Window) -> String {
    if w.errors >= w.requests {
        "—".into()
    } else {
        fmt_ms(w.p99_ms)
    }
}

/// One live progress line: `[ 42s/120s] 49,870 rpm · errors 12 · p99 812 ms · in flight 640`.
pub fn progress_line(
    elapsed: f64,
    total: f64,
    rpm: f64,
    errors: u64,
    p99_ms: f64,
    in_flight: usize,
) -> String {
    format!(
        "[{:>4.0}s/{:.0}s] {:>7.0} rpm · errors {} · p99 {} · in flight {}",
        elapsed,
        total,
        rpm,
        errors,
        fmt_ms(p99_ms),
        in_flight
    )
}
