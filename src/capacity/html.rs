//! capacity.html: self-contained (inline SVG, a CSP that forbids every
//! fetch), the conclusion, the capacity curve (each probe's peak RPM
//! against p99, uptime, amplification and time to failover, the SLA's
//! limits dashed, the capacity and the lowest failing load as vertical
//! lines; INVALID, interrupted and unmade probes are left off, their
//! numbers measure no load asked), and the probe table with a link to
//! every probe's report.html.

use std::fmt::Write as _;

use plotters::prelude::*;

use super::probe::Probe;
use super::render::{gate, interval, left_out, rows, COLUMNS};
use super::search::Outcome;
use super::{rpm, Capacity};
use crate::report::charts::{self, err, frame, legend, ERROR_RED, FONT, GREY, PALETTE};
use crate::report::html::esc;

/// One panel of the curve: what it plots and its SLA limit.
struct Panel {
    title: &'static str,
    y_desc: &'static str,
    value: fn(&Probe) -> Option<f64>,
    limit: fn(&Probe) -> Option<f64>,
    fmt: fn(f64) -> String,
    /// Where the legend hides the fewest points: a limit the values stay
    /// under keeps the upper corner free; uptime's lower one is.
    legend: SeriesLabelPosition,
}

const PANELS: [Panel; 4] = [
    Panel {
        title: "p99 latency against load",
        y_desc: "p99 of successes",
        value: |p| p.p99_ms,
        limit: |p| p.p99_limit_ms,
        fmt: |v| charts::fmt_ms_axis(v),
        legend: SeriesLabelPosition::UpperLeft,
    },
    Panel {
        title: "uptime against load",
        y_desc: "uptime",
        value: |p| p.uptime.map(|u| u * 100.0),
        limit: |p| p.uptime_target.map(|u| u * 100.0),
        fmt: |v| format!("{v:.2}%"),
        legend: SeriesLabelPosition::LowerLeft,
    },
    Panel {
        title: "amplification against load",
        y_desc: "provider attempts per request",
        value: |p| p.amplification,
        limit: |p| p.amplification_limit,
        fmt: |v| format!("{v:.2}×"),
        legend: SeriesLabelPosition::UpperLeft,
    },
    Panel {
        title: "time to failover against load",
        y_desc: "slowest time to failover",
        value: |p| p.time_to_failover_s,
        limit: |p| p.time_to_failover_limit_s,
        fmt: |v| format!("{v:.1} s"),
        legend: SeriesLabelPosition::UpperLeft,
    },
];

/// The y range of a panel: its values and its limit, with a margin.
fn y_range(values: &[f64], limit: Option<f64>) -> (f64, f64) {
    let all = values.iter().copied().chain(limit);
    let (lo, hi) = all.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let pad = ((hi - lo) * 0.1).max(hi.abs() * 0.01).max(1e-3);
    ((lo - pad).max(0.0), hi + pad)
}

/// One panel's SVG.
fn panel(cap: &Capacity, p: &Panel) -> anyhow::Result<String> {
    let pts: Vec<(f64, f64, bool)> = cap
        .probes
        .iter()
        .filter(|pr| left_out(pr).is_none())
        .filter_map(|pr| {
            Some((
                pr.target_peak_rpm,
                (p.value)(pr)?,
                pr.outcome == Outcome::Pass,
            ))
        })
        .collect();
    if pts.is_empty() {
        return charts::no_data(p.title, "no probe measured this");
    }
    let limit = cap.probes.iter().find_map(|pr| (p.limit)(pr));
    let xs = pts.iter().map(|p| p.0);
    let (x0, x1) = xs.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let xpad = ((x1 - x0) * 0.08).max(x1 * 0.05);
    let ys: Vec<f64> = pts.iter().map(|p| p.1).collect();
    let (y0, y1) = y_range(&ys, limit);
    let (xr, yr) = ((x0 - xpad).max(0.0)..x1 + xpad, y0..y1);
    charts::svg(|root| {
        let mut chart = frame(root, p.title)
            .build_cartesian_2d(xr.clone(), yr.clone())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("peak load asked (RPM)")
            .y_desc(p.y_desc)
            .x_labels(10)
            .y_labels(8)
            .x_label_formatter(&|v| rpm(*v))
            .y_label_formatter(&|v| (p.fmt)(*v))
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .light_line_style(RGBColor(246, 246, 246))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(err)?;
        if let Some(l) = limit {
            let style = ERROR_RED.stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(xr.start, l), (xr.end, l)],
                    8,
                    5,
                    style,
                ))
                .map_err(err)?
                .label("SLA limit")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        marks(&mut chart, cap, &pts, yr.clone())?;
        legend(&mut chart, p.legend.clone())
    })
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// The capacity and the lowest failing load as vertical lines, and the
/// probes as points, passed or not.
fn marks(
    chart: &mut Chart,
    cap: &Capacity,
    pts: &[(f64, f64, bool)],
    yr: std::ops::Range<f64>,
) -> anyhow::Result<()> {
    for (x, label, color) in [
        (cap.capacity_rpm, "capacity", PALETTE[2]),
        (cap.interval_rpm[1], "lowest load that did not pass", GREY),
    ] {
        let Some(x) = x else { continue };
        let style = color.stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x, yr.start), (x, yr.end)],
                4,
                4,
                style,
            ))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    for (pass, label, color) in [
        (true, "probe passed", PALETTE[0]),
        (false, "probe did not pass", ERROR_RED),
    ] {
        let style = color.filled();
        chart
            .draw_series(
                pts.iter()
                    .filter(|p| p.2 == pass)
                    .map(move |p| Circle::new((p.0, p.1), 5, style)),
            )
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, style));
    }
    Ok(())
}

const STYLE: &str = r#"
:root { --pass: #1a7f37; --fail: #cf222e; --muted: #57606a; --line: #d0d7de; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       max-width: 1100px; margin: 0 auto; padding: 16px 24px 48px; line-height: 1.45; }
h1 { font-size: 1.6rem; margin: 0.2rem 0; }
.muted { color: var(--muted); }
.headline { font-size: 1.15rem; font-weight: 600; }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.85rem; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.PASS { color: var(--pass); font-weight: 600; }
td.FAIL, td.INVALID, td.UNMEASURED, td.INTERRUPTED { color: var(--fail); font-weight: 600; }
svg { width: 100%; height: auto; }
"#;

/// The page.
pub fn html(cap: &Capacity) -> String {
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>slabench capacity: {n}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>slabench capacity: {n}</h1>\n<p class=\"muted\">seed {seed} · slabench {v} · started {t} · \
         the scenario's own peak {peak} RPM</p>\n<p class=\"headline\">{c}</p>\n<ul>\n<li>interval {i}</li>\n<li>{g}</li>\n",
        n = esc(&cap.scenario),
        seed = cap.seed,
        v = esc(&cap.slabench_version),
        t = esc(&cap.started_at),
        peak = rpm(cap.scenario_peak_rpm),
        c = esc(&cap.conclusion),
        i = esc(&interval(cap)),
        g = esc(&gate(cap)),
    );
    if let Some(l) = &cap.limiting_check {
        let _ = writeln!(h, "<li>limited by: {}</li>", esc(l));
    }
    h.push_str("</ul>\n<h2>Capacity curve</h2>\n");
    for p in &PANELS {
        match panel(cap, p) {
            Ok(svg) => h.push_str(&svg),
            Err(e) => {
                let _ = write!(
                    h,
                    "<p class=\"muted\">{}: {}</p>",
                    p.title,
                    esc(&format!("{e:#}"))
                );
            }
        }
        h.push('\n');
    }
    let off = cap.probes.iter().filter(|p| left_out(p).is_some()).count();
    if off > 0 {
        let _ = writeln!(
            h,
            "<p class=\"muted\" id=\"left-out\">{off} probe(s) left off the curve: INVALID, \
             interrupted or not run, their numbers do not measure the load asked (see the table).</p>"
        );
    }
    table(cap, &mut h);
    h.push_str(
        "<p class=\"muted\">Each probe is an ordinary run of the scenario with every stage's RPM \
         times the factor (faults, classes and SLA unchanged); it passes only when its run's verdict \
         is PASS, and a check that could not be measured is never a pass. The capacity is the \
         highest load at which every repeat passed.</p>\n</body>\n</html>\n",
    );
    h
}

fn table(cap: &Capacity, h: &mut String) {
    h.push_str("<h2>Probes</h2>\n<table>\n<tr>");
    for c in COLUMNS {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr>\n");
    for (p, r) in cap.probes.iter().zip(rows(cap)) {
        let _ = write!(
            h,
            "<tr><td><a href=\"{}\">{}</a></td>",
            esc(&p.report),
            esc(&r[0])
        );
        for (i, c) in r.iter().enumerate().skip(1) {
            let class = if i == 3 { esc(c) } else { String::new() };
            let _ = write!(h, "<td class=\"{class}\">{}</td>", esc(c));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}
