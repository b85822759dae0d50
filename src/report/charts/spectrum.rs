//! Percentile spectra, HdrHistogram style: latency against percentile on a
//! log axis of 1 / (1 − q), out to 99.99%, so the tail gets as much room as
//! the median. Per traffic class with its SLA budgets (and the baseline's
//! numbers when the run was compared with one); TTFT and inter-token
//! latency for streaming classes.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{
    color, err, fmt_ms_axis, fmt_percentile, frame, legend, no_data, svg, ERROR_RED, FONT, GREY,
};
use crate::metrics::histogram::Hist;
use crate::results::BudgetsMs;

/// Deepest percentile drawn: 99.99%.
const X_MAX: f64 = 10_000.0;

/// A spectrum's axes: x = 1 / (1 − q) on a log scale, y in ms.
type Chart<'a> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<LogCoord<f64>, RangedCoordf64>>;

/// (x, ms) points of `h`'s spectrum, x = 1 / (1 − q).
fn curve(h: &Hist) -> Vec<(f64, f64)> {
    const STEPS: u32 = 120;
    (0..=STEPS)
        .map(|k| {
            let x = X_MAX.powf(f64::from(k) / f64::from(STEPS));
            let q = 1.0 - 1.0 / x;
            (x, h.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect()
}

fn x_of(q: f64) -> f64 {
    1.0 / (1.0 - q).max(1.0 / X_MAX)
}

/// A named spectrum to draw.
pub struct Curve<'a> {
    pub label: String,
    pub hist: &'a Hist,
    /// Drawn grey and dashed beneath the others (a baseline).
    pub muted: bool,
}

/// A point to mark on a spectrum: (label, percentile 0..1, ms).
pub struct Mark {
    pub label: String,
    pub q: f64,
    pub ms: f64,
}

fn draw(
    title: &str,
    curves: &[Curve],
    budgets: &[Mark],
    baseline: &[Mark],
) -> anyhow::Result<String> {
    let curves: Vec<(&Curve, Vec<(f64, f64)>)> = curves
        .iter()
        .filter(|c| !c.hist.is_empty())
        .map(|c| (c, curve(c.hist)))
        .collect();
    if curves.is_empty() {
        return no_data(title, "no successful requests");
    }
    let top = curves
        .iter()
        .flat_map(|(_, pts)| pts.iter().map(|p| p.1))
        .chain(budgets.iter().chain(baseline).map(|m| m.ms))
        .fold(0.0, f64::max)
        * 1.12;
    svg(|root| {
        let mut chart = frame(root, title)
            .build_cartesian_2d((1.0..X_MAX).log_scale(), 0.0..top.max(0.01))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("percentile (log scale of 1 / (1 − q))")
            .y_desc("latency")
            .x_label_formatter(&|x| fmt_percentile(*x))
            .y_label_formatter(&|y| fmt_ms_axis(*y))
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .light_line_style(RGBColor(246, 246, 246))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(err)?;
        draw_curves(&mut chart, &curves)?;
        draw_budgets(&mut chart, budgets)?;
        draw_baseline(&mut chart, baseline)?;
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    })
}

/// The muted curves (a baseline's) first, grey and dashed, so that the
/// run's curves are drawn over them.
fn draw_curves(chart: &mut Chart, curves: &[(&Curve, Vec<(f64, f64)>)]) -> anyhow::Result<()> {
    for (c, pts) in curves.iter().filter(|(c, _)| c.muted) {
        let style = GREY.stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new(pts.clone(), 7, 4, style))
            .map_err(err)?
            .label(c.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    for (i, (c, pts)) in curves.iter().filter(|(c, _)| !c.muted).enumerate() {
        let style = color(i).stroke_width(2);
        chart
            .draw_series(LineSeries::new(pts.clone(), style))
            .map_err(err)?
            .label(c.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    Ok(())
}

/// Each budget as a dashed red line across the chart and a cross at its
/// percentile; labels alternate between two rows so neighbours stay legible.
fn draw_budgets(chart: &mut Chart, budgets: &[Mark]) -> anyhow::Result<()> {
    for (i, m) in budgets.iter().enumerate() {
        let style = ERROR_RED.stroke_width(1);
        let x = x_of(m.q);
        chart
            .draw_series(DashedLineSeries::new(
                vec![(1.0, m.ms), (X_MAX, m.ms)],
                6,
                4,
                style,
            ))
            .map_err(err)?;
        let mark = EmptyElement::at((x, m.ms))
            + Cross::new((0, 0), 6, ERROR_RED.stroke_width(2))
            + Text::new(
                m.label.clone(),
                (-8, -18 - 14 * (i as i32 % 2)),
                (FONT, 14).into_font().color(&ERROR_RED),
            );
        let anno = chart.draw_series(std::iter::once(mark)).map_err(err)?;
        if i == 0 {
            anno.label("SLA budget")
                .legend(move |(x, y)| Cross::new((x + 7, y), 5, ERROR_RED.stroke_width(2)));
        }
    }
    Ok(())
}

/// The baseline's numbers as grey triangles, when its whole curve is not
/// at hand.
fn draw_baseline(chart: &mut Chart, baseline: &[Mark]) -> anyhow::Result<()> {
    for (i, m) in baseline.iter().enumerate() {
        let style = GREY.stroke_width(2);
        let mark = EmptyElement::at((x_of(m.q), m.ms))
            + TriangleMarker::new((0, 0), 6, style)
            + Text::new(m.label.clone(), (8, 4), (FONT, 14).into_font().color(&GREY));
        let anno = chart.draw_series(std::iter::once(mark)).map_err(err)?;
        if i == 0 {
            anno.label("baseline")
                .legend(move |(x, y)| TriangleMarker::new((x + 7, y), 5, style));
        }
    }
    Ok(())
}

/// The latency spectrum of one traffic class with its budgets, and the
/// baseline's: its whole curve when its histogram is at hand, else its marks.
pub fn class(
    name: &str,
    hist: &Hist,
    budgets: &BudgetsMs,
    baseline_curve: Option<&Hist>,
    baseline: &[Mark],
) -> anyhow::Result<String> {
    let marks: Vec<Mark> = [
        ("p50", 0.50, budgets.p50),
        ("p95", 0.95, budgets.p95),
        ("p99", 0.99, budgets.p99),
    ]
    .into_iter()
    .filter_map(|(l, q, b)| {
        b.map(|ms| Mark {
            label: format!("{l} ≤ {}", fmt_ms_axis(ms)),
            q,
            ms,
        })
    })
    .collect();
    let mut curves = vec![Curve {
        label: format!("{name} (OK, from intended send)"),
        hist,
        muted: false,
    }];
    if let Some(b) = baseline_curve {
        curves.push(Curve {
            label: format!("{name}, baseline"),
            hist: b,
            muted: true,
        });
    }
    let marks_of_baseline = if baseline_curve.is_some() {
        &[][..]
    } else {
        baseline
    };
    draw(
        &format!("Latency spectrum: {name}"),
        &curves,
        &marks,
        marks_of_baseline,
    )
}

/// Spectra of several streaming classes for one measure (TTFT or ITL).
pub fn streaming(title: &str, curves: &[Curve]) -> anyhow::Result<String> {
    draw(title, curves, &[], &[])
}
