//! The scorecard's three outputs: scorecard.json (schema in
//! schema/scorecard.schema.json), scorecard.md (one table for a CI job
//! summary) and scorecard.html (self-contained, the matrix of cases ×
//! criteria in colour and words, each case linking to its report).

use std::fmt::Write as _;
use std::path::Path;

use super::score::{Criterion, Mark, Score, State};
use super::{CaseOut, Scorecard};
use crate::report::html::esc;

/// scorecard.json's text: what the file holds, and what `--json` prints.
pub fn json(card: &Scorecard) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(card)? + "\n")
}

/// Writes all three files into `dir`, each complete or absent.
pub fn write_all(card: &Scorecard, dir: &Path) -> anyhow::Result<()> {
    for (name, text) in [
        ("scorecard.json", json(card)?),
        ("scorecard.md", markdown(card)),
        ("scorecard.html", html(card)),
    ] {
        crate::atomic_file::write_file(&dir.join(name), |w| Ok(w.write_all(text.as_bytes())?))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e:#}", dir.join(name).display()))?;
    }
    Ok(())
}

fn mark_of(case: &CaseOut, c: Criterion) -> Option<&Mark> {
    case.criteria.iter().find(|m| m.name == c)
}

fn state_word(m: &Mark) -> &'static str {
    match m.state {
        State::Pass => "pass",
        State::Fail => "FAIL",
        State::NotMeasured => "not measured",
    }
}

fn score_word(s: Score) -> &'static str {
    match s {
        Score::Pass => "PASS",
        Score::Partial => "PARTIAL",
        Score::Fail => "FAIL",
        Score::NotMeasured => "NOT MEASURED",
    }
}

/// Counts of pass, partial and fail, and whether the battery finished.
fn tally(card: &Scorecard) -> String {
    let n = |s| card.scenarios.iter().filter(|c| c.score == s).count();
    let mut t = format!(
        "{} pass, {} partial, {} fail, {} not measured",
        n(Score::Pass),
        n(Score::Partial),
        n(Score::Fail),
        n(Score::NotMeasured)
    );
    if !card.complete {
        t.push_str(" — INCOMPLETE: the battery was stopped before its last case");
    }
    t
}

/// What `slabench scorecard` prints on stdout at the end: each case's
/// score and why (the progress lines on stderr said the same as the cases
/// ran), then the tally and where the scorecard is.
pub fn terminal(card: &Scorecard, dir: &Path) -> String {
    let width = card
        .scenarios
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    let mut s = String::new();
    for c in &card.scenarios {
        let _ = writeln!(
            s,
            "  {:<width$}  {:<12}  {:>5.1} s  {}",
            c.name,
            score_word(c.score),
            c.seconds,
            c.reason.lines().next().unwrap_or_default()
        );
    }
    let pass = card
        .scenarios
        .iter()
        .filter(|c| c.score == Score::Pass)
        .count();
    let _ = writeln!(
        s,
        "scorecard: {pass} of {} case(s) passed ({}); {}",
        card.scenarios.len(),
        tally(card),
        dir.join("scorecard.html").display()
    );
    s
}

/// One Markdown table; a primary criterion's mark is in bold.
pub fn markdown(card: &Scorecard) -> String {
    let mut s = format!(
        "## slabench scorecard: `{}`\n\n{} (slabench {})\n\n| case | score |",
        card.gateway.replace('`', "'"),
        tally(card),
        card.slabench_version
    );
    for c in Criterion::ALL {
        let _ = write!(s, " {} |", c.name());
    }
    s.push_str(" why |\n|---|---|");
    s.push_str(&"---|".repeat(Criterion::ALL.len() + 1));
    s.push('\n');
    for case in &card.scenarios {
        let _ = write!(s, "| {} | **{}** |", case.name, score_word(case.score));
        for c in Criterion::ALL {
            match mark_of(case, c) {
                Some(m) if m.primary => {
                    let _ = write!(s, " **{}** |", state_word(m));
                }
                Some(m) => {
                    let _ = write!(s, " {} |", state_word(m));
                }
                None => s.push_str(" — |"),
            }
        }
        let _ = writeln!(s, " {} |", one_line(&case.reason));
    }
    s.push_str("\nBold: the case's primary criteria (they decide pass or fail). `not measured` is never a pass.\n");
    numbers(card, &mut s);
    s
}

/// Text that fits one Markdown table cell or list line.
fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "/")
}

/// The numbers behind every mark, folded (GitHub renders `<details>` in
/// a job summary), so the table stays one screen.
fn numbers(card: &Scorecard, s: &mut String) {
    s.push_str("\n<details><summary>The numbers behind every mark</summary>\n\n");
    for case in &card.scenarios {
        let _ = writeln!(
            s,
            "**{}** ({}, verdict {}): {}",
            case.name,
            score_word(case.score),
            case.verdict.as_deref().unwrap_or("none"),
            one_line(&case.reason)
        );
        for m in &case.criteria {
            let measured = if m.measured.is_empty() {
                "no numbers".to_string()
            } else {
                one_line(&m.measured)
            };
            let _ = writeln!(
                s,
                "- {}{}: {} · {} · {}",
                m.name.name(),
                if m.primary { " (primary)" } else { "" },
                state_word(m),
                measured,
                one_line(&m.reason)
            );
        }
        s.push('\n');
    }
    s.push_str("</details>\n");
}

const STYLE: &str = r#"
:root { --pass: #1a7f37; --fail: #cf222e; --warn: #9a6700; --muted: #57606a; --line: #d0d7de; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       max-width: 1300px; margin: 0 auto; padding: 16px 24px 48px; line-height: 1.45; }
h1 { font-size: 1.6rem; margin: 0.2rem 0; }
.muted { color: var(--muted); }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.9rem; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
.pass { background: #dafbe1; color: var(--pass); font-weight: 600; }
.fail { background: #ffebe9; color: var(--fail); font-weight: 700; }
.partial, .not_measured { background: #fff8c5; color: var(--warn); font-weight: 600; }
.primary { outline: 2px solid #1f2328; outline-offset: -3px; }
td.pass a, td.fail a, td.partial a, td.not_measured a { color: inherit; }
.detail { display: block; font-weight: 400; color: #1f2328; font-size: 0.8rem; }
"#;

/// The page: a matrix of cases × criteria.
pub fn html(card: &Scorecard) -> String {
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>slabench scorecard: {g}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>slabench scorecard</h1>\n<p>Gateway file <code>{g}</code> · slabench {v} · started {t}</p>\n\
         <p><strong>{tally}</strong></p>\n<table>\n<tr><th>case</th><th>score</th>",
        g = esc(&card.gateway),
        v = esc(&card.slabench_version),
        t = esc(&card.started_at),
        tally = esc(&tally(card)),
    );
    for c in Criterion::ALL {
        let _ = write!(h, "<th>{}</th>", c.name());
    }
    h.push_str("</tr>\n");
    for case in &card.scenarios {
        row(case, &mut h);
    }
    h.push_str(
        "</table>\n<p class=\"muted\">Framed cells are the case's primary criteria: they decide pass or fail; \
         a failed secondary criterion makes it partial; an unmeasured primary one, a fault that never fired, \
         or a run that could not be made, was INVALID or interrupted makes it not measured. \
         A case passes only on a run whose own verdict is PASS. \
         A criterion that could not be measured is never a pass. Each case links to its full report.</p>\n\
         </body>\n</html>\n",
    );
    h
}

fn row(case: &CaseOut, h: &mut String) {
    let cls = case.score.as_str().replace(' ', "_");
    let _ = write!(
        h,
        "<tr><td><a href=\"{}\">{}</a><span class=\"detail\">{}</span></td>\
         <td class=\"{cls}\">{}<span class=\"detail\">{}</span></td>",
        esc(&case.report),
        esc(&case.name),
        esc(&case.statement),
        score_word(case.score),
        esc(&case.reason)
    );
    for c in Criterion::ALL {
        match mark_of(case, c) {
            Some(m) => {
                let state = serde_json::to_value(m.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                let primary = if m.primary { " primary" } else { "" };
                let _ = write!(
                    h,
                    "<td class=\"{state}{primary}\" title=\"{}\"><a href=\"{}\">{}</a><span class=\"detail\">{}</span></td>",
                    esc(&m.measured),
                    esc(&case.report),
                    state_word(m),
                    esc(&m.reason)
                );
            }
            None => h.push_str("<td class=\"muted\">—</td>"),
        }
    }
    h.push_str("</tr>\n");
}
