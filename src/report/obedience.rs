//! "Did the gateway obey?": one table for the terminal, Markdown and HTML,
//! from summary.json's `obedience`: per provider and fault window, whether
//! the gateway waited out Retry-After, left non-retryable errors alone,
//! kept the providers' error statuses and types, and how hard it probed a
//! flapping provider. A part with nothing to judge says so and why; the
//! checks (and the verdict) are in the checks table. From a partly read
//! ledger every part is not measured, whatever its counts.

use super::table::{Mark, Row, Table};
use crate::analysis::obedience::{FlappingOut, Obedience};
use crate::analysis::CheckState;
use crate::results::Summary;

/// The table's title in every output.
pub const TITLE: &str = "Did the gateway obey?";

/// The table, or `None` when the run had no ledger.
pub fn table(s: &Summary) -> Option<Table> {
    let o = s.obedience.as_ref()?;
    let mut rows = Vec::new();
    if let Some(why) = &o.incomplete_why {
        incomplete(o, why, &mut rows);
    } else {
        measured(o, &mut rows);
    }
    Some(Table {
        columns: vec!["asked", "provider", "window", "did", "example"],
        rows,
    })
}

/// Every part as not measured, with why (the ledger was only partly read).
fn incomplete(o: &Obedience, why: &str, rows: &mut Vec<Row>) {
    let not = CheckState::NotMeasured;
    for asked in [WAIT, LEAVE, KEEP] {
        rows.push(unmeasured(asked, not, Some(why)));
    }
    for f in &o.flapping {
        let mut r = unmeasured(PROBE, not, Some(why));
        r.cells[1] = f.provider.clone();
        r.cells[2] = f.window.clone();
        rows.push(r);
    }
}

fn measured(o: &Obedience, rows: &mut Vec<Row>) {
    retry_after(o, rows);
    non_retryable(o, rows);
    rewritten(o, rows);
    for f in &o.flapping {
        rows.push(flapping(f));
    }
}

fn row(asked: &str, provider: &str, window: &str, did: String, example: String) -> Row {
    Row {
        cells: vec![asked.into(), provider.into(), window.into(), did, example],
        mark: Mark::Plain,
        note: None,
        detail: false,
    }
}

/// A part with nothing to judge: its state and why, in one row.
fn unmeasured(asked: &str, state: CheckState, why: Option<&str>) -> Row {
    let mut r = row(
        asked,
        "—",
        "—",
        state.label().unwrap_or("").to_lowercase(),
        why.unwrap_or("").to_string(),
    );
    r.mark = Mark::Unmeasured;
    r
}

const WAIT: &str = "wait out Retry-After";
const LEAVE: &str = "leave non-retryable errors alone";
const KEEP: &str = "keep the provider's error";
const PROBE: &str = "probe a flapping provider sparingly";

fn retry_after(o: &Obedience, rows: &mut Vec<Row>) {
    let r = &o.retry_after;
    if r.state != CheckState::Measured {
        return rows.push(unmeasured(WAIT, r.state, r.why.as_deref()));
    }
    for x in &r.rows {
        let did = format!(
            "{} of {} not waited for; {} early attempt(s) ({} same request, {} others)",
            x.not_waited, x.answers, x.violations, x.same_request, x.other_requests
        );
        let example = x.worst.as_ref().map_or(String::new(), |w| w.text());
        rows.push(row(WAIT, &x.provider, &x.window, did, example));
    }
}

fn non_retryable(o: &Obedience, rows: &mut Vec<Row>) {
    let n = &o.non_retryable;
    if n.state != CheckState::Measured {
        return rows.push(unmeasured(LEAVE, n.state, n.why.as_deref()));
    }
    for x in &n.rows {
        let did = format!(
            "{} request(s): {} retried, {} failed over",
            x.requests, x.retried, x.failed_over
        );
        rows.push(row(LEAVE, &x.provider, &x.window, did, String::new()));
    }
    let mut got = format!(
        "the client got: {} the provider's error, {} a success, {} another error",
        n.client_got_provider_error, n.client_got_success, n.client_got_other
    );
    if n.client_got_unknown > 0 {
        got += &format!(
            ", {} an error whose status its table could not keep",
            n.client_got_unknown
        );
    }
    if n.unobservable > 0 {
        got += &format!(
            "; {} with no later attempt seen were in flight while a provider refused \
             connections (a retry there leaves no ledger entry)",
            n.unobservable
        );
    }
    let example = n.example.clone().unwrap_or_default();
    rows.push(row(LEAVE, "all", "all", got, example));
}

fn rewritten(o: &Obedience, rows: &mut Vec<Row>) {
    let w = &o.rewritten;
    if w.state != CheckState::Measured {
        return rows.push(unmeasured(KEEP, w.state, w.why.as_deref()));
    }
    for x in &w.rows {
        let did = format!("{} of {} rewritten", x.rewritten, x.compared);
        rows.push(row(KEEP, &x.provider, &x.window, did, String::new()));
    }
    let mut did = format!(
        "{} status changed, {} type changed",
        w.status_changed, w.type_changed
    );
    if w.status_only > 0 {
        did += &format!(
            "; {} compared by status only (the client's error had no type)",
            w.status_only
        );
    }
    let refusing = w.not_comparable_refusing;
    if refusing > 0 {
        did += &format!("; {refusing} {}", crate::analysis::obedience::REFUSING);
    }
    if w.not_comparable_unknown > 0 {
        did += &format!(
            "; {} not comparable: the client's error status was past its table's end",
            w.not_comparable_unknown
        );
    }
    let pairs: Vec<String> = w.pairs.iter().take(3).map(|p| p.text()).collect();
    rows.push(row(KEEP, "all", "all", did, pairs.join("; ")));
}

fn flapping(f: &FlappingOut) -> Row {
    if f.state != CheckState::Measured {
        let mut r = unmeasured(PROBE, f.state, f.why.as_deref());
        r.cells[1] = f.provider.clone();
        r.cells[2] = f.window.clone();
        return r;
    }
    let did = format!(
        "{} of {} down phase(s) met; probes per met phase: max {}, mean {:.1}",
        f.down_phases_met, f.down_phases, f.probes_max, f.probes_mean
    );
    let back = match f.return_median_s {
        Some(m) => format!(
            "traffic back in {} of {} up phase(s), median {m:.1} s after the up start",
            f.up_phases_returned, f.up_phases
        ),
        None => format!("traffic back in 0 of {} up phase(s)", f.up_phases),
    };
    row(PROBE, &f.provider, &f.window, did, back)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::synthetic::{run_data, Shape};

    #[test]
    fn every_part_has_a_row_and_unjudged_parts_say_why() {
        let mut data = run_data(&Shape::default());
        let t = table(&data.summary).expect("a ledger");
        assert_eq!(t.columns.len(), 5);
        assert!(t.rows.iter().all(|r| r.cells.len() == 5));
        let waited = &t.rows[0];
        assert_eq!(waited.cells[0], WAIT);
        assert!(
            waited.cells[4].contains("early (Retry-After 1 s)"),
            "{waited:?}"
        );
        let left = t.rows.iter().find(|r| r.cells[0] == LEAVE).unwrap();
        assert_eq!(left.mark, Mark::Unmeasured);
        assert_eq!(left.cells[3], "not exercised");
        assert!(t
            .rows
            .iter()
            .any(|r| r.cells[0] == KEEP && r.cells[4].contains("→")));
        // Every human output shows it.
        assert!(crate::report::terminal::render(&data.summary).contains(TITLE));
        assert!(crate::report::markdown::render(&data).contains(TITLE));
        let html = crate::report::html::render(&data);
        assert!(html.contains("<h2 id=\"obedience\">Did the gateway obey?</h2>"));
        data.summary.obedience = None;
        assert!(table(&data.summary).is_none());
        let md = crate::report::markdown::render(&data);
        assert!(!md.contains(TITLE));
    }

    #[test]
    fn a_partly_read_ledger_shows_every_part_not_measured_with_why() {
        let mut data = run_data(&Shape::default());
        let o = data.summary.obedience.clone().expect("a ledger");
        let measured = table(&data.summary).unwrap();
        assert!(measured.rows.iter().any(|r| r.mark == Mark::Plain));
        data.summary.obedience = Obedience::of_run(Some(&o), Some("truncated record"));
        let t = table(&data.summary).unwrap();
        assert_eq!(t.rows.len(), 3 + o.flapping.len());
        for r in &t.rows {
            assert_eq!(r.mark, Mark::Unmeasured, "{r:?}");
            assert_eq!(r.cells[3], "not measured");
            assert!(r.cells[4].contains("only partly read"), "{r:?}");
        }
        let md = crate::report::markdown::render(&data);
        assert!(md.contains("only partly read (truncated record)"));
        assert!(!md.contains("early (Retry-After 1 s)"), "{md}");
        let json = serde_json::to_value(&data.summary).unwrap();
        assert_eq!(json["obedience"]["retry_after"]["state"], "not_measured");
        assert!(json["obedience"]["incomplete_why"].is_string());
    }
}
