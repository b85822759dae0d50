//! The gateway's own time per request, second by second: p50 and p99 of
//! the overhead (client's service time minus the time at providers) of the
//! requests meant to leave in each second, fault windows shaded.

use plotters::prelude::*;

use super::time::{line, linear_time_chart, mesh, shade_faults};
use super::{color, err, fmt_ms_axis, fmt_t, frame, legend, no_data, svg, t_desc, FONT};
use crate::analysis::failover::OverheadSecond;
use crate::report::data::RunData;

/// Runs of consecutive seconds, as line segments of `f`.
fn segments(rows: &[OverheadSecond], f: impl Fn(&OverheadSecond) -> f64) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut last: Option<u32> = None;
    for s in rows {
        if last.is_none_or(|l| l + 1 != s.second) {
            out.push(Vec::new());
        }
        out.last_mut()
            .expect("pushed")
            .push((f64::from(s.second) + 0.5, f(s)));
        last = Some(s.second);
    }
    out
}

/// p50 and p99 of the gateway overhead per second.
pub fn per_second(data: &RunData) -> anyhow::Result<String> {
    const TITLE: &str = "Gateway overhead (client's time − time at providers)";
    let rows = match &data.summary.gateway_overhead_ms {
        Some(o) if !o.per_second.is_empty() => &o.per_second,
        Some(_) => return no_data(TITLE, "no answered request reached a provider"),
        None => return no_data(TITLE, "no provider ledger: the overhead is unknown"),
    };
    let hi = rows.iter().map(|s| s.p99).fold(0.0, f64::max).max(0.01) * 1.15;
    svg(|root| {
        let y_fmt = |y: &f64| fmt_ms_axis(*y);
        let mut chart = linear_time_chart!(root, TITLE, data, (0.0, hi), "overhead", &y_fmt);
        line(
            &mut chart,
            segments(rows, |s| s.p50),
            color(0).stroke_width(2),
            "p50",
        )?;
        line(
            &mut chart,
            segments(rows, |s| s.p99),
            color(1).stroke_width(2),
            "p99",
        )?;
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}
