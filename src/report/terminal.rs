//! The summary table printed at the end of a run (on stdout, or
//! summary.json instead with `--json`), and the live progress line.

use std::fmt::Write as _;
use std::path::Path;

use super::table::{self, Mark, Table};
use crate::analysis::verdict::Verdict;
use crate::fmt::fmt_ms;
use crate::results::Summary;
use crate::term::{self, Paint, Tone};

/// What a run or a merge prints on stdout when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Show {
    /// The summary table and where the reports are.
    #[default]
    Table,
    /// summary.json, the same bytes as the file (`--json`); where the
    /// reports are goes to stderr, unless `quiet`.
    Json { quiet: bool },
    /// Nothing (`--quiet`).
    Nothing,
}

impl Show {
    /// `--json` wins over `--quiet`: it asks for the result on stdout.
    pub fn of(json: bool, quiet: bool) -> Show {
        match (json, quiet) {
            (true, quiet) => Show::Json { quiet },
            (false, true) => Show::Nothing,
            (false, false) => Show::Table,
        }
    }
}

/// Prints the finished run's result on stdout as `show` says; `dir` is
/// its run directory. Shown even when a report could not be written
/// (the JSON is rendered as summary.json's bytes are, not read back).
pub fn show(show: Show, s: &Summary, dir: &Path) {
    match show {
        Show::Nothing => {}
        Show::Table => {
            let paint = Paint::of(term::Stream::Stdout);
            let text = format!(
                "{}  reports:  {}\n",
                render_painted(s, paint),
                dir.display()
            );
            term::result(text.as_bytes());
        }
        Show::Json { quiet } => match super::summary_json(s) {
            Ok(bytes) => {
                term::data(&bytes);
                if !quiet {
                    anstream::eprintln!("reports: {}", dir.display());
                }
            }
            Err(e) => term::warning(format_args!("cannot print summary.json: {e:#}")),
        },
    }
}

/// The end-of-run summary without escape codes.
pub fn render(s: &Summary) -> String {
    render_painted(s, Paint::PLAIN)
}

/// The end-of-run summary: what happened to the run, the numbers, the
/// latency per class, then the checks and the verdict; the verdict,
/// the checks' results and the run's own problems in colour when `paint`
/// is on.
pub fn render_painted(s: &Summary, paint: Paint) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nslabench · {} · seed {}{}",
        s.scenario.name,
        s.scenario.seed,
        if s.interrupted { " · INTERRUPTED" } else { "" }
    );
    render_problems(&mut out, s, paint);
    render_load(&mut out, s, paint);
    if let Some(f) = &s.failover {
        render_failover(&mut out, f);
        render_gateway_errors(&mut out, s, f);
        let _ = writeln!(out, "  answers     {}", f.answers.describe());
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
        paint,
    );
    if let Some(c) = &s.baseline {
        out.push_str(&crate::report::comparison::terminal(c));
    }
    if let Some(t) = super::obedience::table(s) {
        out.push('\n');
        text_table(
            &mut out,
            &obedience_compact(&t),
            super::obedience::TITLE,
            paint,
        );
    }
    out.push('\n');
    text_table(
        &mut out,
        &table::checks(s).select(&["check", "target", "measured", "result"]),
        "check",
        paint,
    );
    let _ = writeln!(
        out,
        "\n  verdict: {}{}",
        paint.paint(verdict_tone(s.verdict), s.verdict.as_str()),
        s.verdict_meaning()
            .map(|m| format!(" ({m})"))
            .unwrap_or_default()
    );
    out
}

/// PASS green, FAIL and INVALID red, the others (neither) yellow.
fn verdict_tone(v: Verdict) -> Tone {
    match v {
        Verdict::Pass => Tone::Good,
        Verdict::Fail | Verdict::Invalid => Tone::Bad,
        Verdict::Regression | Verdict::Unmeasured | Verdict::Interrupted => Tone::Doubt,
    }
}

/// A row's result cell colour, if it has one.
fn mark_tone(m: Mark) -> Option<Tone> {
    match m {
        Mark::Plain => None,
        Mark::Pass => Some(Tone::Good),
        Mark::Fail => Some(Tone::Bad),
        Mark::Unmeasured => Some(Tone::Doubt),
    }
}

/// The obedience table without its example column: each example on the
/// line below its row.
fn obedience_compact(t: &Table) -> Table {
    let mut compact = t.select(&["asked", "provider", "window", "did"]);
    for (r, full) in compact.rows.iter_mut().zip(&t.rows) {
        r.note = Some(full.cells[4].clone()).filter(|e| !e.is_empty());
    }
    compact
}

/// What went wrong with the run itself, before any number.
fn render_problems(out: &mut String, s: &Summary, paint: Paint) {
    for e in &s.internal_errors {
        let _ = writeln!(
            out,
            "  {} (a bug in slabench, not the gateway): {e}",
            paint.paint(Tone::Bad, "INTERNAL ERROR")
        );
    }
    if let Some(e) = &s.gateway_exit {
        let _ = writeln!(
            out,
            "  {} {}; last lines of gateway.log:",
            paint.paint(Tone::Bad, "GATEWAY DIED"),
            e.headline()
        );
        for l in &e.log_tail {
            let _ = writeln!(out, "    | {l}");
        }
    }
    for p in &s.output_problems {
        let _ = writeln!(out, "  {}      {p}", paint.paint(Tone::Doubt, "OUTPUT"));
    }
}

/// The generator, the requests and uptime.
fn render_load(out: &mut String, s: &Summary, paint: Paint) {
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
            "  {}     at {:.1} s: held {:.0} of {:.0} rpm; the last send was {} late",
            paint.paint(Tone::Bad, "GAVE UP"),
            g.at_s,
            g.held_rpm,
            g.target_rpm,
            fmt_ms(g.lag_ms)
        );
    }
    if let Some(line) = g.start_line() {
        let _ = writeln!(out, "  start       {line}");
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
/// result column left (in its row's colour); a row's note on the line
/// below it.
fn text_table(out: &mut String, t: &Table, first_title: &str, paint: Paint) {
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
    let line = |cells: &[&str], mark: Mark| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = " ".repeat(widths[i].saturating_sub(c.chars().count()));
            // Painted before padding, so escape codes never count as width.
            let shown = match mark_tone(mark).filter(|_| t.columns[i] == "result") {
                Some(tone) => paint.paint(tone, c),
                None => c.to_string(),
            };
            if i == 0 || !t.numeric(i) {
                l.push_str(&format!("  {shown}{pad}"));
            } else {
                l.push_str(&format!("  {pad}{shown}"));
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(&titles, Mark::Plain));
    for r in &t.rows {
        let cells: Vec<&str> = r.cells.iter().map(String::as_str).collect();
        let _ = writeln!(out, "{}", line(&cells, r.mark));
        if let Some(note) = &r.note {
            let _ = writeln!(out, "    ↳ {note}");
        }
    }
}

fn render_failover(out: &mut String, f: &crate::analysis::failover::Report) {
    let _ = writeln!(
        out,
        "  failover    {} events (failed over {}{}, retried {}, exhausted {}) · never reached a provider {} · amplification {:.3}x{}",
        f.events,
        f.failovers,
        group_moves(f),
        f.retries,
        f.exhausted,
        f.unreached,
        f.amplification,
        amplification_note(f)
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
        let back = match w.time_to_recover_s {
            Some(t) => format!(", back {t:.0} s after the end"),
            None => String::new(),
        };
        let by = match w.errors_by_outcome_text() {
            t if t.is_empty() => String::new(),
            t => format!(" ({t})"),
        };
        let _ = writeln!(
            out,
            "              {} {:.0}s–{end}: {}{back} · {} of {} requests failed{by}, {} by the gateway itself · p99 {}",
            w.fault,
            w.start_s,
            w.reaction_text(),
            w.errors,
            w.requests,
            w.gateway_errors,
            window_p99(w)
        );
    }
    if let Some(c) = &f.connections {
        let _ = writeln!(out, "  {}", connections_line(c));
    }
    if let Some(a) = &f.gateway_account {
        render_account(out, a);
    }
}

/// One line on the connection attempts watched for refuse windows (the
/// terminal and summary.md): how many each refusing provider's port got
/// in its window, or why they could not be seen.
pub fn connections_line(c: &crate::analysis::failover::ConnectionsOut) -> String {
    if !c.watched {
        return format!("refused connections not observable: {}", c.why);
    }
    let each: Vec<String> = c
        .providers
        .iter()
        .filter(|p| p.refuse_windows > 0)
        .map(|p| {
            format!(
                "{} {} in its refuse window{} ({} in all)",
                p.provider,
                p.syns_in_refuse_windows,
                if p.refuse_windows > 1 { "s" } else { "" },
                p.syns
            )
        })
        .collect();
    format!("connection attempts watched: {}", each.join(" · "))
}

/// `, moved inside a deployment group 3` when there were group moves.
pub fn group_moves(f: &crate::analysis::failover::Report) -> String {
    if f.group_moves > 0 {
        format!(", moved inside a deployment group {}", f.group_moves)
    } else {
        String::new()
    }
}

/// What amplification counts beyond the ledger's attempts.
pub fn amplification_note(f: &crate::analysis::failover::Report) -> String {
    match f.refused_connections {
        Some(n) if n > 0 => format!(" (attempts include {n} refused connections)"),
        _ => String::new(),
    }
}

/// Errors the gateway made itself, by status and message, beside the
/// provider errors it passed through.
fn render_gateway_errors(out: &mut String, s: &Summary, f: &crate::analysis::failover::Report) {
    let Some(g) = &s.requests.gateway_errors else {
        return;
    };
    let _ = writeln!(
        out,
        "  own errors  errors the gateway made itself (no provider attempt) {} · provider errors passed through {}",
        g.count, f.provider_errors_passed_through
    );
    for line in g.lines() {
        let _ = writeln!(out, "              {line}");
    }
}

/// The gateway's account against the ledger: totals, then each disagreement.
fn render_account(out: &mut String, a: &crate::analysis::account::AccountReport) {
    let _ = writeln!(
        out,
        "  gateway     {} says {} fallbacks, {} retries over {} requests; ledger: {} fallbacks (between {}), {} attempts{} · agrees on {}",
        a.dialects.join("+"),
        a.gateway_fallbacks,
        a.gateway_retries,
        a.requests,
        a.ledger_fallbacks,
        fallbacks_between(a),
        a.ledger_attempts,
        if a.attempts_exact { "" } else { " (the gateway reports a lower bound)" },
        a.agreeing
    );
    let d = &a.disagreements;
    let _ = writeln!(
        out,
        "              disagreements: fallbacks unreported {} · fallbacks no provider saw {} · attempts unreported {} · attempts no provider saw {} · served-by {} · explained by refused connections {}",
        d.fallbacks_unreported,
        d.fallbacks_unseen,
        d.attempts_unreported,
        d.attempts_unseen,
        d.served_by,
        a.explained_by_refused_connections,
    );
    if let Some(r) = &a.refusals {
        let _ = writeln!(out, "              refused connections: {}", r.explanation);
    }
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

/// `providers`, or `deployment groups` when moves inside a group are retries.
pub fn fallbacks_between(a: &crate::analysis::account::AccountReport) -> &'static str {
    match a.fallbacks_between {
        crate::analysis::account::FallbacksBetween::Providers => "providers",
        crate::analysis::account::FallbacksBetween::Groups => "deployment groups",
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
