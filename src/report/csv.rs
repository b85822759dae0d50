//! The CSV files: timeseries.csv (one row per second), failovers.csv (one
//! row per failover event) and requests.csv (one row per request, streamed
//! during the run), plus reading timeseries.csv back for `slabench report`.
//!
//! RFC 4180: comma-separated, a header row, fields quoted when they hold a
//! comma, a quote or a line break. Columns named after a traffic class or a
//! provider carry a prefix (`ok:chat`, `share:flash`), so a class called
//! `p50` cannot collide with a fixed column.

use std::io::Write;

use anyhow::{bail, Context};

use super::data::{RunData, Second};
use crate::analysis::failover::{Event, EventKind};
use crate::metrics::request::RequestResult;
use crate::metrics::Outcome;

/// Writes one CSV record.
pub fn record<S: AsRef<str>>(out: &mut dyn Write, fields: &[S]) -> std::io::Result<()> {
    let mut line = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        push_field(&mut line, f.as_ref());
    }
    line.push('\n');
    out.write_all(line.as_bytes())
}

fn push_field(line: &mut String, f: &str) {
    if f.contains([',', '"', '\n', '\r']) {
        line.push('"');
        line.push_str(&f.replace('"', "\"\""));
        line.push('"');
    } else {
        line.push_str(f);
    }
}

/// Splits one CSV line (no embedded line breaks: none of ours have them
/// outside scenario names, which timeseries.csv does not carry in fields).
pub fn parse_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().expect("non-empty").push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().expect("non-empty").push(c),
        }
    }
    fields
}

/// Outcome classes that are errors, in column order.
fn error_outcomes() -> impl Iterator<Item = Outcome> {
    Outcome::ALL.into_iter().filter(|o| !o.is_ok())
}

fn num(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.3}")
    }
}

/// timeseries.csv.
pub fn timeseries(data: &RunData, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut header: Vec<String> = ["second", "target_rpm", "achieved_rpm", "ok", "errors"]
        .map(String::from)
        .to_vec();
    header.extend(error_outcomes().map(|o| o.name().to_string()));
    for c in &data.classes {
        header.push(format!("ok:{c}"));
        header.push(format!("errors:{c}"));
    }
    header.extend(["p50_ms", "p90_ms", "p99_ms", "max_ms"].map(String::from));
    header.extend(data.providers.iter().map(|p| format!("share:{p}")));
    header.extend(
        [
            "attempts",
            "amplification",
            "failovers",
            "retries",
            "exhausted",
        ]
        .map(String::from),
    );
    record(out, &header)?;
    let opt = |x: Option<String>| x.unwrap_or_default();
    for s in &data.timeline {
        let mut row = vec![
            s.t.to_string(),
            num(s.target_rpm),
            num(s.achieved_rpm()),
            s.ok().to_string(),
            s.errors().to_string(),
        ];
        row.extend(error_outcomes().map(|o| s.outcomes[o.index()].to_string()));
        for (ok, err) in s.class_ok.iter().zip(&s.class_errors) {
            row.push(ok.to_string());
            row.push(err.to_string());
        }
        row.extend([s.p50, s.p90, s.p99, s.max].map(num));
        row.extend(s.share.iter().map(|x| format!("{x:.4}")));
        row.push(opt(s.attempts.map(|a| a.to_string())));
        row.push(opt(s.amplification.map(|a| format!("{a:.3}"))));
        row.extend([s.failovers, s.retries, s.exhausted].map(|n| n.to_string()));
        record(out, &row)?;
    }
    Ok(())
}

/// Reads timeseries.csv back: the rows, the class names and the provider
/// names, from the header.
pub fn read_timeseries(text: &str) -> anyhow::Result<(Vec<Second>, Vec<String>, Vec<String>)> {
    let mut lines = text.lines().filter(|l| !l.is_empty());
    let header = parse_line(lines.next().context("timeseries.csv is empty")?);
    let col = |name: &str| header.iter().position(|h| h == name);
    let named = |prefix: &str| -> Vec<(String, usize)> {
        header
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.strip_prefix(prefix).map(|n| (n.to_string(), i)))
            .collect()
    };
    let (class_ok, class_err, shares) = (named("ok:"), named("errors:"), named("share:"));
    let fixed =
        |name: &str| col(name).with_context(|| format!("timeseries.csv has no {name} column"));
    let (second, target, achieved) = (
        fixed("second")?,
        fixed("target_rpm")?,
        fixed("achieved_rpm")?,
    );
    let (p50, p90) = (fixed("p50_ms")?, fixed("p90_ms")?);
    let (p99, max) = (fixed("p99_ms")?, fixed("max_ms")?);
    let outcome_cols: Vec<(usize, Option<usize>)> = Outcome::ALL
        .iter()
        .map(|o| (o.index(), col(o.name())))
        .collect();
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate() {
        let f = parse_line(line);
        let get = |i: usize| -> anyhow::Result<f64> {
            let v = f.get(i).map(String::as_str).unwrap_or("");
            v.parse::<f64>()
                .with_context(|| format!("timeseries.csv line {}: {:?} is not a number", n + 2, v))
        };
        let opt = |i: Option<usize>| -> Option<f64> {
            i.and_then(|i| f.get(i)).and_then(|v| v.parse::<f64>().ok())
        };
        let mut s = Second {
            t: get(second)? as u32,
            target_rpm: get(target)?,
            sent: (get(achieved)? / 60.0).round() as u64,
            p50: get(p50)?,
            p90: get(p90)?,
            p99: get(p99)?,
            max: get(max)?,
            attempts: opt(col("attempts")).map(|a| a as u64),
            amplification: opt(col("amplification")),
            failovers: opt(col("failovers")).unwrap_or(0.0) as u64,
            retries: opt(col("retries")).unwrap_or(0.0) as u64,
            exhausted: opt(col("exhausted")).unwrap_or(0.0) as u64,
            ..Second::default()
        };
        for (i, c) in &outcome_cols {
            s.outcomes[*i] = opt(*c).unwrap_or(0.0) as u64;
        }
        s.class_ok = class_ok
            .iter()
            .map(|(_, i)| get(*i).map(|x| x as u64))
            .collect::<Result<_, _>>()?;
        s.class_errors = class_err
            .iter()
            .map(|(_, i)| get(*i).map(|x| x as u64))
            .collect::<Result<_, _>>()?;
        s.share = shares
            .iter()
            .map(|(_, i)| get(*i))
            .collect::<Result<_, _>>()?;
        rows.push(s);
    }
    if class_ok
        .iter()
        .map(|c| &c.0)
        .ne(class_err.iter().map(|c| &c.0))
    {
        bail!("timeseries.csv: the ok:<class> and errors:<class> columns do not match");
    }
    let names = |v: Vec<(String, usize)>| v.into_iter().map(|(n, _)| n).collect();
    Ok((rows, names(class_ok), names(shares)))
}

fn kind(k: EventKind) -> &'static str {
    match k {
        EventKind::Failover => "failover",
        EventKind::GroupMove => "group_move",
        EventKind::Retry => "retry",
        EventKind::Exhausted => "exhausted",
    }
}

/// failovers.csv: one row per failover event, in request order.
pub fn failovers(events: &[Event], out: &mut dyn Write) -> anyhow::Result<()> {
    record(
        out,
        &[
            "request",
            "at_s",
            "class",
            "kind",
            "first_provider",
            "served_by",
            "attempts",
            "latency_ms",
            "outcome",
        ],
    )?;
    for e in events {
        record(
            out,
            &[
                e.seq.to_string(),
                format!("{:.3}", e.at_s),
                e.class.clone(),
                kind(e.kind).to_string(),
                e.first_provider.clone(),
                e.served_by.clone().unwrap_or_default(),
                e.attempts.to_string(),
                format!("{:.3}", e.latency_ms),
                e.outcome.name().to_string(),
            ],
        )?;
    }
    Ok(())
}

/// The header of requests.csv.
pub const REQUESTS_HEADER: [&str; 13] = [
    "request",
    "class",
    "intended_s",
    "lag_ms",
    "outcome",
    "status",
    "latency_ms",
    "service_ms",
    "ttft_ms",
    "tpot_ms",
    "input_tokens",
    "output_tokens",
    "served_by",
];

/// One row of requests.csv.
pub fn request_row(r: &RequestResult, class: &str, out: &mut dyn Write) -> std::io::Result<()> {
    let ms = |d: std::time::Duration| format!("{:.3}", d.as_secs_f64() * 1000.0);
    let m = &r.m;
    record(
        out,
        &[
            r.seq.to_string(),
            class.to_string(),
            format!("{:.3}", r.intended.as_secs_f64()),
            ms(r.lag),
            r.outcome.name().to_string(),
            m.status.to_string(),
            ms(m.latency),
            ms(m.service),
            m.ttft.map(ms).unwrap_or_default(),
            m.tpot.map(ms).unwrap_or_default(),
            m.input_tokens.to_string(),
            m.output_tokens.to_string(),
            m.served_by.clone().unwrap_or_default(),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips() {
        let mut out = Vec::new();
        record(&mut out, &["a", "b,c", "say \"hi\"", ""]).unwrap();
        let line = String::from_utf8(out).unwrap();
        assert_eq!(line, "a,\"b,c\",\"say \"\"hi\"\"\",\n");
        assert_eq!(parse_line(line.trim_end()), ["a", "b,c", "say \"hi\"", ""]);
    }
}
