//! The report's charts, drawn with plotters into SVG strings that the HTML
//! inlines. plotters runs without its font features (ARCHITECTURE.md: no system
//! fonts): the SVG backend emits `<text>` elements with a CSS font family
//! and the browser draws them; layout uses plotters' width estimate.
//!
//! Every chart has a title, axis descriptions with units, and a legend;
//! a chart without data draws a "no data" note instead of an empty frame.

use plotters::coord::Shift;
use plotters::prelude::*;

pub mod overhead;
pub mod spectrum;
pub mod time;

/// Chart size in SVG units; the page scales it to its width.
pub const WIDTH: u32 = 960;
pub const HEIGHT: u32 = 340;
pub const FONT: &str = "sans-serif";

/// Series colours: distinguishable, and readable on white.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
];
pub const ERROR_RED: RGBColor = RGBColor(214, 39, 40);
pub const GREY: RGBColor = RGBColor(120, 120, 120);

pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Draws into a fresh SVG of the standard size and returns it.
/// Every chart's frame: the caption, margins and label areas, ready for its axes.
pub fn frame<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    title: &str,
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(title, (FONT, 22))
        .margin(12)
        .margin_right(36)
        .x_label_area_size(44)
        .y_label_area_size(80);
    builder
}

pub fn svg(
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(buf)
}

/// plotters' errors borrow nothing but are not `Sync`; keep their text.
pub fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing a chart: {e}")
}

/// A chart that has nothing to show says so.
pub fn no_data(title: &str, why: &str) -> anyhow::Result<String> {
    svg(|root| {
        let root = root.titled(title, (FONT, 22)).map_err(err)?;
        root.draw(&Text::new(
            why.to_string(),
            (
                WIDTH as i32 / 2 - 7 * why.len() as i32 / 2,
                HEIGHT as i32 / 3,
            ),
            (FONT, 16).into_font().color(&GREY),
        ))
        .map_err(err)?;
        Ok(())
    })
}

/// `250 ms`, `1.5 s`: latency axis labels.
pub fn fmt_ms_axis(ms: f64) -> String {
    if ms >= 1000.0 {
        trim(format!("{:.2}", ms / 1000.0)) + " s"
    } else if ms >= 1.0 {
        trim(format!("{ms:.1}")) + " ms"
    } else {
        trim(format!("{ms:.3}")) + " ms"
    }
}

/// Seconds since t=0: `45 s`, or `2:30` on runs longer than three minutes.
pub fn fmt_t(s: f64, span: f64) -> String {
    if span > 180.0 {
        let s = s.round() as i64;
        format!("{}:{:02}", s / 60, s % 60)
    } else {
        trim(format!("{s:.1}")) + " s"
    }
}

pub fn t_desc(span: f64) -> &'static str {
    if span > 180.0 {
        "time since t=0 (min:s)"
    } else {
        "time since t=0"
    }
}

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Percentile axis of a spectrum: x = 1 / (1 − q), drawn on a log scale.
pub fn fmt_percentile(x: f64) -> String {
    let pct = 100.0 * (1.0 - 1.0 / x.max(1.0));
    let digits = if x >= 1000.0 {
        2
    } else if x >= 100.0 {
        1
    } else {
        0
    };
    trim(format!("{pct:.digits$}")) + "%"
}

/// Tick values for a log axis over [lo, hi]: 1-2-5 steps per decade, finer
/// on a narrow range and coarser on a wide one, so the axis always has a
/// handful of readable labels (plotters' own log ticks can leave just one).
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let ticks = |mantissas: &[f64]| -> Vec<f64> {
        let (k0, k1) = (lo.log10().floor() as i32 - 1, hi.log10().ceil() as i32 + 1);
        (k0..=k1)
            .flat_map(|k| mantissas.iter().map(move |m| m * 10f64.powi(k)))
            .filter(|v| *v >= lo && *v <= hi)
            .collect()
    };
    let mut best = ticks(&[1.0, 2.0, 5.0]);
    if best.len() < 4 {
        best = ticks(&[1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0]);
    }
    if best.len() > 12 {
        best = ticks(&[1.0]);
    }
    best
}

/// Legend box style shared by every chart.
pub fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    pos: SeriesLabelPosition,
) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .position(pos)
        .background_style(WHITE.mix(0.85))
        .border_style(GREY)
        .label_font((FONT, 15))
        .draw()
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_labels() {
        assert_eq!(fmt_ms_axis(2500.0), "2.5 s");
        assert_eq!(fmt_ms_axis(250.0), "250 ms");
        assert_eq!(fmt_ms_axis(0.5), "0.5 ms");
        assert_eq!(fmt_t(150.0, 600.0), "2:30");
        assert_eq!(fmt_t(15.0, 30.0), "15 s");
        assert_eq!(fmt_percentile(1.0), "0%");
        assert_eq!(fmt_percentile(10.0), "90%");
        assert_eq!(fmt_percentile(1000.0), "99.9%");
        assert_eq!(fmt_percentile(10000.0), "99.99%");
        assert_eq!(
            log_ticks(300.0, 2500.0),
            [300.0, 400.0, 500.0, 700.0, 1000.0, 1500.0, 2000.0]
        );
        assert_eq!(log_ticks(1.0, 1000.0).len(), 10);
    }
}
