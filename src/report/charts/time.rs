//! Charts over the run's time axis (seconds since t=0, shared with the
//! fault windows): latency percentiles, throughput, outcomes, served-by,
//! amplification and the error budget.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{
    color, err, fmt_ms_axis, fmt_t, frame, legend, no_data, svg, t_desc, ERROR_RED, FONT, GREY,
};
use crate::metrics::Outcome;
use crate::report::data::{RunData, Second};

pub(super) type Chart<'a, Y> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, Y>>;

/// Shades each fault window and labels it at the top, one label row per
/// window so that overlapping windows do not overwrite each other's label.
pub(super) fn shade_faults<'a, Y>(
    chart: &mut Chart<'a, Y>,
    data: &RunData,
    lo: f64,
    hi: f64,
) -> anyhow::Result<()>
where
    Y: Ranged<ValueType = f64>,
{
    let span = data.span_s();
    for (i, (label, start, end)) in data.fault_windows().into_iter().enumerate() {
        let end = end.unwrap_or(span).min(span);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(start, lo), (end, hi)],
                ERROR_RED.mix(0.10).filled(),
            )))
            .map_err(err)?;
        let text = EmptyElement::at((start, hi))
            + Text::new(
                label,
                (4, 4 + 17 * i as i32),
                (FONT, 14).into_font().color(&ERROR_RED),
            );
        chart.draw_series(std::iter::once(text)).map_err(err)?;
    }
    Ok(())
}

/// Axes, grid and labels of a time chart (a macro: plotters' mesh bounds
/// differ between linear and log axes).
macro_rules! mesh {
    ($chart:expr, $span:expr, $y_desc:expr, $y_fmt:expr) => {{
        let span: f64 = $span;
        let x_fmt = |x: &f64| fmt_t(*x, span);
        $chart
            .configure_mesh()
            .x_desc(t_desc(span))
            .y_desc($y_desc)
            .x_labels(12)
            .y_labels(8)
            .x_label_formatter(&x_fmt)
            .y_label_formatter($y_fmt)
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .light_line_style(RGBColor(246, 246, 246))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(err)
    }};
}

/// A linear time chart with its axes, grid and shaded fault windows: the
/// common start of the throughput, outcome, amplification and budget charts.
/// (A macro for the same reason as `mesh!`: plotters' drawing area is
/// invariant in its backend's lifetime, which a function signature cannot
/// leave to inference.)
macro_rules! linear_time_chart {
    ($root:expr, $title:expr, $data:expr, ($lo:expr, $hi:expr), $y_desc:expr, $y_fmt:expr) => {{
        let (lo, hi): (f64, f64) = ($lo, $hi);
        let span = $data.span_s();
        let mut chart = frame($root, $title)
            .build_cartesian_2d(0.0..span, lo..hi)
            .map_err(err)?;
        mesh!(chart, span, $y_desc, $y_fmt)?;
        shade_faults(&mut chart, $data, lo, hi)?;
        chart
    }};
}

// For the other time charts (`overhead.rs`).
pub(super) use {linear_time_chart, mesh};

/// Runs of consecutive seconds where `f` has a value, as line segments.
fn segments(rows: &[Second], f: impl Fn(&Second) -> Option<f64>) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut last: Option<u32> = None;
    for s in rows {
        if let Some(y) = f(s) {
            if last.is_none_or(|l| l + 1 != s.t) {
                out.push(Vec::new());
            }
            out.last_mut()
                .expect("pushed")
                .push((f64::from(s.t) + 0.5, y));
            last = Some(s.t);
        }
    }
    out
}

/// Draws `segs` as one legend entry.
pub(super) fn line<'a, Y>(
    chart: &mut Chart<'a, Y>,
    segs: Vec<Vec<(f64, f64)>>,
    style: ShapeStyle,
    label: &str,
) -> anyhow::Result<()>
where
    Y: Ranged<ValueType = f64>,
{
    let mut first = true;
    for seg in segs {
        let anno = chart
            .draw_series(LineSeries::new(seg, style))
            .map_err(err)?;
        if std::mem::take(&mut first) {
            anno.label(label.to_string())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
    }
    Ok(())
}

/// p50/p90/p99/max of OK latency per second, log scale, fault windows shaded.
pub fn latency(data: &RunData) -> anyhow::Result<String> {
    const TITLE: &str = "Latency percentiles per second (OK requests)";
    let rows: Vec<&Second> = data
        .timeline
        .iter()
        .filter(|s| s.ok() > 0 && s.p50 > 0.0)
        .collect();
    if rows.is_empty() {
        return no_data(TITLE, "no successful requests");
    }
    let lo = (rows.iter().map(|s| s.p50).fold(f64::INFINITY, f64::min) * 0.7).max(0.001);
    let hi = (rows.iter().map(|s| s.max.max(s.p99)).fold(0.0, f64::max) * 1.4).max(lo * 2.0);
    let span = data.span_s();
    svg(|root| {
        let mut chart = frame(root, TITLE)
            .build_cartesian_2d(
                0.0..span,
                (lo..hi)
                    .log_scale()
                    .with_key_points(super::log_ticks(lo, hi)),
            )
            .map_err(err)?;
        mesh!(chart, span, "latency (log scale)", &|y| fmt_ms_axis(*y))?;
        shade_faults(&mut chart, data, lo, hi)?;
        type Pick = fn(&Second) -> f64;
        let series: [(&str, Pick, ShapeStyle); 4] = [
            ("max", |s| s.max, GREY.stroke_width(1)),
            ("p99", |s| s.p99, ERROR_RED.stroke_width(2)),
            ("p90", |s| s.p90, color(1).stroke_width(2)),
            ("p50", |s| s.p50, color(0).stroke_width(2)),
        ];
        for (label, f, style) in series {
            let segs = segments(&data.timeline, |s| (s.ok() > 0 && f(s) > 0.0).then(|| f(s)));
            line(&mut chart, segs, style, label)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// Target against achieved request rate.
pub fn throughput(data: &RunData) -> anyhow::Result<String> {
    const TITLE: &str = "Request rate: target vs achieved";
    if data.timeline.is_empty() {
        return no_data(TITLE, "no timeline stored for this run");
    }
    let hi = data
        .timeline
        .iter()
        .map(|s| s.target_rpm.max(s.achieved_rpm()))
        .fold(1.0, f64::max)
        * 1.15;
    svg(|root| {
        let mut chart =
            linear_time_chart!(root, TITLE, data, (0.0, hi), "requests per minute", &|y| {
                format!("{y:.0}")
            });
        let achieved = segments(&data.timeline, |s| Some(s.achieved_rpm()));
        line(
            &mut chart,
            achieved,
            color(0).stroke_width(2),
            "achieved (sent × 60)",
        )?;
        let target: Vec<(f64, f64)> = data
            .timeline
            .iter()
            .map(|s| (f64::from(s.t) + 0.5, s.target_rpm))
            .collect();
        let style = BLACK.stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new(target, 8, 5, style))
            .map_err(err)?
            .label("target")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    })
}

/// Completions per second, stacked: OK and each error outcome class.
pub fn outcomes(data: &RunData) -> anyhow::Result<String> {
    const TITLE: &str = "Completions per second: OK vs errors by outcome";
    let present: Vec<Outcome> = Outcome::ALL
        .into_iter()
        .filter(|o| o.counted() && data.timeline.iter().any(|s| s.outcomes[o.index()] > 0))
        .collect();
    if present.is_empty() {
        return no_data(TITLE, "no completed requests");
    }
    let total = |s: &Second| present.iter().map(|o| s.outcomes[o.index()]).sum::<u64>() as f64;
    let hi = data.timeline.iter().map(total).fold(1.0, f64::max) * 1.15;
    svg(|root| {
        let mut chart =
            linear_time_chart!(root, TITLE, data, (0.0, hi), "requests per second", &|y| {
                format!("{y:.0}")
            });
        // Stacked: draw the cumulative tops from the highest down, so each
        // layer covers the one above it only where it is.
        for (k, o) in present.iter().enumerate().rev() {
            let style = if o.is_ok() {
                color(2)
            } else {
                outcome_color(k)
            };
            let tops: Vec<(f64, f64)> = data
                .timeline
                .iter()
                .map(|s| {
                    let y: u64 = present[..=k].iter().map(|o| s.outcomes[o.index()]).sum();
                    (f64::from(s.t) + 0.5, y as f64)
                })
                .collect();
            chart
                .draw_series(AreaSeries::new(tops, 0.0, style.filled()).border_style(style))
                .map_err(err)?
                .label(o.name())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], style.filled())
                });
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

fn outcome_color(k: usize) -> RGBColor {
    const ERRORS: [RGBColor; 6] = [
        RGBColor(214, 39, 40),
        RGBColor(255, 152, 0),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(90, 90, 90),
    ];
    ERRORS[k % ERRORS.len()]
}

/// Each provider's share of the answers per second, stacked, with the
/// failover events per second on a second axis.
pub fn served_by(data: &RunData) -> anyhow::Result<String> {
    const TITLE: &str = "Served by: each provider's share of answers, and failover events";
    let any = data
        .timeline
        .iter()
        .any(|s| s.share.iter().any(|x| *x > 0.0));
    if !any {
        return no_data(TITLE, "no answer named its provider");
    }
    let span = data.span_s();
    let events = |s: &Second| (s.failovers + s.retries + s.exhausted) as f64;
    // Headroom above 100% holds the legend and the fault labels, so that
    // neither hides the stacked shares.
    const TOP: f64 = 135.0;
    let ev_hi = data.timeline.iter().map(events).fold(1.0, f64::max) * 1.1 * TOP / 100.0;
    let answered: Vec<&Second> = data
        .timeline
        .iter()
        .filter(|s| s.share.iter().any(|x| *x > 0.0))
        .collect();
    svg(|root| {
        let mut chart = frame(root, TITLE)
            .right_y_label_area_size(70)
            .build_cartesian_2d(0.0..span, 0.0..TOP)
            .map_err(err)?
            .set_secondary_coord(0.0..span, 0.0..ev_hi);
        let y_fmt = |y: &f64| {
            if *y <= 100.0 {
                format!("{y:.0}%")
            } else {
                String::new()
            }
        };
        mesh!(chart, span, "share of answers", &y_fmt)?;
        chart
            .configure_secondary_axes()
            .y_desc("failover events per second")
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .draw()
            .map_err(err)?;
        for k in (0..data.providers.len()).rev() {
            let style = color(k);
            let tops: Vec<(f64, f64)> = answered
                .iter()
                .map(|s| {
                    let y: f64 = s.share.iter().take(k + 1).sum();
                    (f64::from(s.t) + 0.5, y * 100.0)
                })
                .collect();
            chart
                .draw_series(
                    AreaSeries::new(tops, 0.0, style.mix(0.85).filled()).border_style(style),
                )
                .map_err(err)?
                .label(data.providers[k].clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], style.filled())
                });
        }
        shade_faults_secondary(&mut chart, data, ev_hi)?;
        let marks: Vec<(f64, f64)> = data
            .timeline
            .iter()
            .filter(|s| events(s) > 0.0)
            .map(|s| (f64::from(s.t) + 0.5, events(s)))
            .collect();
        let style = BLACK.stroke_width(2);
        chart
            .draw_secondary_series(
                marks
                    .into_iter()
                    .map(move |p| Circle::new(p, 3, style.filled())),
            )
            .map_err(err)?
            .label("failover events /s (right axis)")
            .legend(move |(x, y)| Circle::new((x + 7, y), 3, style.filled()));
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// Fault windows over a stacked area chart: outlined (a fill would hide
/// the shares), labelled on the secondary axis' coordinates.
fn shade_faults_secondary<'a>(
    chart: &mut plotters::chart::DualCoordChartContext<
        'a,
        SVGBackend<'a>,
        Cartesian2d<RangedCoordf64, RangedCoordf64>,
        Cartesian2d<RangedCoordf64, RangedCoordf64>,
    >,
    data: &RunData,
    hi: f64,
) -> anyhow::Result<()> {
    let span = data.span_s();
    for (i, (label, start, end)) in data.fault_windows().into_iter().enumerate() {
        let end = end.unwrap_or(span).min(span);
        let style = ERROR_RED.stroke_width(2);
        chart
            .draw_secondary_series(std::iter::once(Rectangle::new(
                [(start, 0.0), (end, hi)],
                style,
            )))
            .map_err(err)?;
        let text = EmptyElement::at((start, hi))
            + Text::new(
                label,
                (4, 4 + 17 * i as i32),
                (FONT, 14).into_font().color(&ERROR_RED),
            );
        chart
            .draw_secondary_series(std::iter::once(text))
            .map_err(err)?;
    }
    Ok(())
}

/// Upstream attempts ÷ requests sent, per second, against the SLA limit.
pub fn amplification(data: &RunData, limit: Option<f64>) -> anyhow::Result<String> {
    const TITLE: &str = "Upstream amplification (provider attempts ÷ requests sent)";
    let values: Vec<f64> = data
        .timeline
        .iter()
        .filter(|s| s.sent > 0)
        .filter_map(|s| s.amplification)
        .collect();
    if values.is_empty() {
        return no_data(TITLE, "no provider ledger: amplification is unknown");
    }
    let hi = values
        .iter()
        .copied()
        .fold(limit.unwrap_or(1.0), f64::max)
        .max(1.0)
        * 1.15;
    let span = data.span_s();
    svg(|root| {
        let mut chart =
            linear_time_chart!(root, TITLE, data, (0.0, hi), "attempts per request", &|y| {
                format!("{y:.2}×")
            });
        let segs = segments(&data.timeline, |s| s.amplification.filter(|_| s.sent > 0));
        line(&mut chart, segs, color(0).stroke_width(2), "amplification")?;
        if let Some(limit) = limit {
            let style = ERROR_RED.stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(0.0, limit), (span, limit)],
                    8,
                    5,
                    style,
                ))
                .map_err(err)?
                .label(format!("SLA limit {limit:.2}×"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// What is left of the run's error budget, second by second.
pub fn error_budget(data: &RunData) -> anyhow::Result<String> {
    const TITLE: &str = "Error budget remaining";
    let allowed = data.summary.uptime.error_budget.allowed_failures;
    if data.timeline.is_empty() || allowed <= 0.0 {
        return no_data(TITLE, "no error budget (no counted requests)");
    }
    let mut spent = 0u64;
    let points: Vec<(f64, f64)> = data
        .timeline
        .iter()
        .map(|s| {
            spent += s.errors();
            (f64::from(s.t) + 1.0, 100.0 * (1.0 - spent as f64 / allowed))
        })
        .collect();
    let lo = points.iter().map(|p| p.1).fold(0.0, f64::min);
    let lo = if lo < 0.0 { lo * 1.1 } else { -5.0 };
    let span = data.span_s();
    svg(|root| {
        let mut chart = linear_time_chart!(root, TITLE, data, (lo, 105.0), "budget left", &|y| {
            format!("{y:.0}%")
        });
        let style = ERROR_RED.stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new(
                vec![(0.0, 0.0), (span, 0.0)],
                6,
                4,
                style,
            ))
            .map_err(err)?
            .label("exhausted")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        let style = color(0).stroke_width(2);
        chart
            .draw_series(LineSeries::new(
                std::iter::once((0.0, 100.0)).chain(points),
                style,
            ))
            .map_err(err)?
            .label(format!("left of {allowed:.1} allowed failures"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        legend(&mut chart, SeriesLabelPosition::LowerLeft)
    })
}
