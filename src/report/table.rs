//! The tables that several outputs show, built once from the Summary: the
//! checks, and latency per traffic class. The terminal, Markdown and HTML
//! renderers only lay a [`Table`] out (choosing columns where a format
//! shows fewer), so the same numbers and words appear everywhere.

use crate::analysis::Check;
use crate::fmt::fmt_latency;
use crate::metrics::histogram::Percentiles;
use crate::results::Summary;

/// How a row came out, for formats that colour or mark rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Nothing to mark (a data row).
    Plain,
    Pass,
    Fail,
    /// Not measured, or not reached: never a pass.
    Unmeasured,
}

/// One row: its cells in column order, and an optional note (why a check
/// failed or could not be measured).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub cells: Vec<String>,
    pub mark: Mark,
    pub note: Option<String>,
    /// A detail row under the one before it (a class's TTFT), which
    /// compact formats leave out.
    pub detail: bool,
}

/// A table with named columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Column ids, which are also their titles.
    pub columns: Vec<&'static str>,
    pub rows: Vec<Row>,
}

impl Table {
    /// The same table with only `columns`, in that order (unknown ids are
    /// a programming error, caught by the tests).
    pub fn select(&self, columns: &[&'static str]) -> Table {
        let index: Vec<usize> = columns
            .iter()
            .map(|c| {
                self.columns
                    .iter()
                    .position(|x| x == c)
                    .unwrap_or_else(|| panic!("no column {c:?}"))
            })
            .collect();
        Table {
            columns: columns.to_vec(),
            rows: self
                .rows
                .iter()
                .map(|r| Row {
                    cells: index.iter().map(|&i| r.cells[i].clone()).collect(),
                    ..r.clone()
                })
                .collect(),
        }
    }

    /// Whether column `i` holds numbers (right-aligned).
    pub fn numeric(&self, i: usize) -> bool {
        !matches!(
            self.columns[i],
            "check"
                | "kind"
                | "class"
                | "result"
                | "asked"
                | "provider"
                | "window"
                | "did"
                | "example"
        )
    }
}

/// The verdict table: every check with its target, what was measured and
/// the result (`PASS`, `FAIL`, `NOT MEASURED`, `NOT REACHED`).
pub fn checks(s: &Summary) -> Table {
    Table {
        columns: vec!["check", "kind", "target", "measured", "result"],
        rows: s.checks.iter().map(check_row).collect(),
    }
}

fn check_row(c: &Check) -> Row {
    let kind = serde_json::to_value(c.kind)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    Row {
        cells: vec![
            c.name.clone(),
            kind,
            c.target.clone(),
            c.measured.clone(),
            // An optional check that could not be measured says so: its
            // state stays, "optional" only explains why the verdict spared it.
            if c.optional && c.state.label().is_some() {
                format!("{} (optional)", c.result_label())
            } else {
                c.result_label().to_string()
            },
        ],
        mark: match (c.state.label(), c.pass) {
            (Some(_), _) => Mark::Unmeasured,
            (None, true) => Mark::Pass,
            (None, false) => Mark::Fail,
        },
        note: (!c.pass).then(|| c.why.clone()).flatten(),
        detail: false,
    }
}

/// Latency of OK requests per traffic class, in `classes` order: counts,
/// then percentiles (a dash where a class had no successful request).
/// Streaming classes are followed by a `<class> ttft` row.
pub fn class_latency(s: &Summary, classes: &[String]) -> Table {
    let mut rows = Vec::new();
    for name in classes {
        let Some(c) = s.latency_ms.classes.get(name) else {
            continue;
        };
        rows.push(latency_row(name, c.requests, c.ok, &c.latency));
        if let Some(t) = &c.ttft {
            let mut ttft = latency_row(&format!("{name} ttft"), t.count, t.count, t);
            ttft.detail = true;
            rows.push(ttft);
        }
    }
    Table {
        columns: vec![
            "class", "requests", "ok", "count", "p50", "p90", "p95", "p99", "p99.9", "max",
        ],
        rows,
    }
}

/// The all-classes row of [`class_latency`]'s columns.
pub fn all_latency(s: &Summary) -> Row {
    let r = &s.requests;
    latency_row("all", r.counted, r.ok, &s.latency_ms.all)
}

fn latency_row(name: &str, requests: u64, ok: u64, p: &Percentiles) -> Row {
    Row {
        cells: vec![
            name.to_string(),
            requests.to_string(),
            ok.to_string(),
            p.count.to_string(),
            fmt_latency(p, p.p50),
            fmt_latency(p, p.p90),
            fmt_latency(p, p.p95),
            fmt_latency(p, p.p99),
            fmt_latency(p, p.p999),
            fmt_latency(p, p.max),
        ],
        mark: Mark::Plain,
        note: None,
        detail: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::synthetic::{run_data, Shape};

    #[test]
    fn every_renderer_column_exists_and_rows_follow_the_checks() {
        let data = run_data(&Shape::default());
        let t = checks(&data.summary);
        assert_eq!(t.rows.len(), data.summary.checks.len());
        let shown = t.select(&["check", "target", "measured", "result"]);
        assert_eq!(shown.rows[0].cells.len(), 4);
        let l = class_latency(&data.summary, &data.classes);
        let md = l.select(&["class", "requests", "ok", "p50", "p95", "p99", "max"]);
        assert_eq!(
            md.rows.iter().filter(|r| !r.detail).count(),
            data.classes.len()
        );
        let term = l.select(&["class", "count", "p50", "p90", "p99", "p99.9", "max"]);
        assert_eq!(term.columns.len(), 7);
    }

    #[test]
    fn a_class_without_successes_shows_dashes() {
        let mut data = run_data(&Shape::default());
        let name = data.classes[0].clone();
        let c = data.summary.latency_ms.classes.get_mut(&name).unwrap();
        c.latency = Percentiles::default();
        let t = class_latency(&data.summary, &data.classes);
        assert_eq!(t.rows[0].cells[4], "—");
    }
}
