//! How numbers look wherever slabench shows them: durations in ms or s,
//! ratios as percentages, and a dash for a percentile of nothing. One place,
//! so that the terminal, Markdown, HTML and JUnit agree.

use crate::metrics::histogram::Percentiles;

/// `850 ms`, `2.50 s`.
pub fn fmt_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// A percentile of a latency set: `fmt_ms`, or a dash when the set is
/// empty (a percentile of nothing is not 0 ms).
pub fn fmt_latency(p: &Percentiles, ms: f64) -> String {
    if p.count == 0 {
        "—".into()
    } else {
        fmt_ms(ms)
    }
}

/// `99.950%`.
pub fn fmt_pct(ratio: f64) -> String {
    format!("{:.3}%", ratio * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(fmt_ms(2500.0), "2.50 s");
        assert_eq!(fmt_ms(850.4), "850 ms");
        assert_eq!(fmt_ms(1.234), "1.23 ms");
        assert_eq!(fmt_pct(0.9995), "99.950%");
        assert_eq!(fmt_latency(&Percentiles::default(), 0.0), "—");
    }
}
