//! report.html: one self-contained page (inline CSS, inline SVG charts, no
//! script, no external resource; a Content-Security-Policy forbids any
//! fetch), so it opens offline and can be attached to a CI run.
//!
//! Order: the verdict table, generator health, the scenario in brief,
//! per-class, per-provider and cost tables, the baseline comparison, then
//! the charts. Every string that comes from a scenario goes through
//! [`esc`].

use std::fmt::Write as _;

use super::charts::{self, spectrum};
use super::data::RunData;

mod story;
mod tables;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { --pass: #1a7f37; --fail: #cf222e; --warn: #9a6700; --muted: #57606a; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       max-width: 1100px; margin: 0 auto; padding: 16px 24px 48px; line-height: 1.45; }
h1 { font-size: 1.6rem; margin: 0.2rem 0; }
h2 { font-size: 1.2rem; border-bottom: 1px solid var(--line); padding-bottom: 4px; margin-top: 2rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 0.4rem; }
.muted { color: var(--muted); }
.verdict { display: inline-block; font-weight: 700; font-size: 1.3rem; padding: 4px 14px;
           border-radius: 6px; color: #fff; margin: 6px 0; }
.v-PASS { background: var(--pass); } .v-FAIL { background: var(--fail); }
.v-REGRESSION { background: #bc4c00; } .v-INVALID { background: var(--warn); }
.v-INTERRUPTED, .v-UNMEASURED { background: #57606a; }
.unmeasured { color: #57606a; font-weight: 700; }
.alert { border-left: 4px solid var(--fail); padding: 4px 10px; background: #fff5f5; }
table { border-collapse: collapse; margin: 0.4rem 0 0.8rem; font-size: 0.92rem; }
th, td { border: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.pass { color: var(--pass); font-weight: 700; } .fail { color: var(--fail); font-weight: 700; }
tr.failed td { background: #ffebe9; }
.grid { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; }
figure.chart { margin: 0.6rem 0 1.4rem; border: 1px solid var(--line); border-radius: 6px; padding: 4px; }
figure.chart svg { width: 100%; height: auto; display: block; }
figure.chart figcaption { font-size: 0.85rem; color: var(--muted); padding: 2px 8px 4px; }
.note { color: var(--muted); font-style: italic; }
.window h3 { margin-bottom: .2em; } .window p { margin-top: 0; }
"#;

/// Renders the page.
pub fn render(data: &RunData) -> String {
    let s = &data.summary;
    let mut h = String::with_capacity(512 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>slabench: {} — {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&s.scenario.name),
        s.verdict.as_str()
    );
    tables::header(data, &mut h);
    tables::verdict(data, &mut h);
    story::section(data, &mut h);
    story::obedience(data, &mut h);
    tables::generator(data, &mut h);
    tables::scenario(data, &mut h);
    tables::classes(data, &mut h);
    tables::providers(data, &mut h);
    tables::cost(data, &mut h);
    tables::baseline(data, &mut h);
    charts_section(data, &mut h);
    let _ = write!(
        h,
        "<p class=\"muted\">slabench {} · summary.json schema {}</p>\n</body>\n</html>\n",
        esc(&s.slabench_version),
        s.schema_version
    );
    h
}

/// One chart in a figure; a chart that fails to draw leaves a note rather
/// than taking the whole report down.
fn figure(h: &mut String, id: &str, svg: anyhow::Result<String>, caption: &str) {
    match svg {
        Ok(svg) => {
            let _ = write!(
                h,
                "<figure class=\"chart\" id=\"{id}\">\n{svg}\n<figcaption>{caption}</figcaption>\n</figure>\n"
            );
        }
        Err(e) => {
            let _ = writeln!(
                h,
                "<p class=\"note\">Chart {id} could not be drawn: {}</p>",
                esc(&format!("{e:#}"))
            );
        }
    }
}

fn charts_section(data: &RunData, h: &mut String) {
    h.push_str("<h2 id=\"charts\">Charts</h2>\n");
    if data.timeline.is_empty() {
        h.push_str("<p class=\"note\">No per-second data is stored for this run (timeseries.csv missing): time charts are left out.</p>\n");
    } else {
        figure(h, "latency-over-time", charts::time::latency(data), "Latency of requests that completed OK in each second, from their intended send instant (coordinated omission corrected). Shaded: fault windows from the scenario, labelled at the top.");
        figure(h, "throughput", charts::time::throughput(data), "Requests per minute the stages asked for (target) and that were sent (achieved), per second.");
        figure(
            h,
            "outcomes",
            charts::time::outcomes(data),
            "Completions per second, stacked by outcome class.",
        );
        figure(h, "served-by", charts::time::served_by(data), "Each provider's share of the answers completed in each second, stacked, as the answers name their provider; dots: requests whose first attempt failed (failover, retry or exhausted), by intended send second. Outlined: fault windows.");
        figure(h, "amplification", charts::time::amplification(data, tables::amplification_limit(data)), "Attempts the providers received per request sent, per second (1.0: no retries or failovers).");
        figure(h, "gateway-overhead", charts::overhead::per_second(data), "The gateway's own time per request: the client's service time minus the time its attempts spent at providers (overlapping attempts counted once), p50 and p99 of the requests meant to leave in each second. Answered requests that reached a provider only.");
        figure(h, "error-budget", charts::time::error_budget(data), "Share of the run's error budget (1 − uptime target of the counted requests) left after each second.");
    }
    h.push_str("<h3>Latency spectrum per traffic class</h3>\n");
    // The baseline's curves were loaded into the data; without them (its
    // file was not at hand) its p50/p99 are drawn as marks.
    for (i, name) in data.classes.iter().enumerate() {
        let Some(hists) = data.hists.get(i) else {
            continue;
        };
        let budgets = data
            .summary
            .scenario
            .traffic
            .iter()
            .find(|t| &t.name == name)
            .map(|t| t.budgets_ms)
            .unwrap_or_default();
        let marks = tables::baseline_marks(data, name);
        let baseline_hist = data.baseline_curves.get(i).and_then(Option::as_ref);
        figure(
            h,
            &format!("spectrum-{i}"),
            spectrum::class(name, &hists.latency, &budgets, baseline_hist, &marks),
            "Latency at each percentile over the whole run (OK requests); crosses and dashed lines: the class's SLA budgets; the baseline's curve (or, when its file is not at hand, triangles at its values).",
        );
    }
    let streaming: Vec<(usize, &String)> = data
        .classes
        .iter()
        .enumerate()
        .filter(|(i, _)| data.hists.get(*i).is_some_and(|h| h.ttft.is_some()))
        .collect();
    if streaming.is_empty() {
        return;
    }
    h.push_str("<h3>Streaming: time to first token and inter-token latency</h3>\n");
    for (id, title, pick) in [
        ("ttft", "Time to first token", 0),
        ("itl", "Inter-token latency (mean per request)", 1),
    ] {
        let curves: Vec<spectrum::Curve> = streaming
            .iter()
            .filter_map(|(i, name)| {
                let hs = &data.hists[*i];
                let hist = if pick == 0 {
                    hs.ttft.as_ref()
                } else {
                    hs.itl.as_ref()
                };
                hist.map(|hist| spectrum::Curve {
                    label: (*name).clone(),
                    hist,
                    muted: false,
                })
            })
            .collect();
        figure(
            h,
            id,
            spectrum::streaming(title, &curves),
            "Per streaming class, over the whole run, OK requests. TTFT is measured from the intended send instant.",
        );
    }
}
