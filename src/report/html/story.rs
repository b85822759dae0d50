//! "What the gateway did", near the top of the page: per fault window one
//! paragraph with the numbers, then the gateway's own account against the
//! ledger (the words come from `report::story`, shared with summary.md).

use std::fmt::Write as _;

use super::esc;
use crate::report::data::RunData;
use crate::report::story::{story, Story};
use crate::report::table::Mark;

pub fn section(data: &RunData, h: &mut String) {
    let Some(st) = story(&data.summary) else {
        return;
    };
    h.push_str("<h2 id=\"gateway\">What the gateway did</h2>\n");
    for l in &st.lead {
        let _ = writeln!(h, "<p>{}</p>", esc(l));
    }
    windows(&st, h);
    account(&st, h);
}

fn windows(st: &Story, h: &mut String) {
    if st.windows.is_empty() {
        h.push_str("<p class=\"note\">The scenario has no fault window.</p>\n");
        return;
    }
    for w in &st.windows {
        let class = match w.mark {
            Mark::Pass => "pass",
            Mark::Fail => "fail",
            Mark::Unmeasured => "unmeasured",
            Mark::Plain => "muted",
        };
        let _ = writeln!(
            h,
            "<div class=\"window\"><h3>{} <span class=\"{class}\">{}</span></h3>\n<p>{}</p></div>",
            esc(&w.title),
            esc(&w.state.to_uppercase()),
            esc(&w.text)
        );
    }
}

fn account(st: &Story, h: &mut String) {
    let Some(t) = &st.account else {
        h.push_str("<p class=\"note\">The gateway's answers carried no account of what it did (no LiteLLM, Portkey or built-in headers), so there is nothing to hold against the ledger.</p>\n");
        return;
    };
    h.push_str("<h3>The gateway's own account against the providers' ledger</h3>\n<table>\n<tr>");
    for c in &t.columns {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr>\n");
    for r in &t.rows {
        let row = if r.mark == Mark::Fail {
            " class=\"failed\""
        } else {
            ""
        };
        let _ = write!(h, "<tr{row}><td>{}</td>", esc(&r.cells[0]));
        for c in &r.cells[1..] {
            let _ = write!(h, "<td class=\"num\">{}</td>", esc(c));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    for n in &st.account_notes {
        let _ = writeln!(h, "<p class=\"muted\">{}</p>", esc(n));
    }
}

/// "Did the gateway obey?": per provider and window, what the providers
/// asked and what the gateway did (`report::obedience`).
pub fn obedience(data: &RunData, h: &mut String) {
    let Some(t) = crate::report::obedience::table(&data.summary) else {
        return;
    };
    let _ = writeln!(
        h,
        "<h2 id=\"obedience\">{}</h2>\n<table>\n<tr><th>Asked to</th><th>Provider</th><th>Window</th><th>Did</th><th>Example</th></tr>",
        crate::report::obedience::TITLE
    );
    for r in &t.rows {
        let class = if r.mark == Mark::Unmeasured {
            " class=\"unmeasured\""
        } else {
            ""
        };
        let _ = write!(h, "<tr{class}>");
        for c in &r.cells {
            let _ = write!(h, "<td>{}</td>", esc(c));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}
