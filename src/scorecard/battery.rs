//! The scorecard's battery: each case is one fault against the fixed
//! topology, what a correct gateway does about it, and which criteria
//! decide its score.

use super::score::Criterion::{self, *};

/// When a case's fault acts, as fractions of the load's duration (so a
/// shortened battery keeps the same shape).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub start: f64,
    pub end: f64,
}

/// The usual window: from a quarter to three quarters of the load
/// (3 s to 9 s of 12 s).
pub const MIDDLE: Window = Window {
    start: 0.25,
    end: 0.75,
};

/// One scenario of the battery.
#[derive(Debug, Clone)]
pub struct Case {
    /// Kebab-case name: the `--only` key and the run directory's name.
    pub name: &'static str,
    /// What a correct gateway does, in one sentence.
    pub statement: &'static str,
    /// The `[[faults]]` tables' keys except `start` and `duration` (one
    /// string per fault).
    pub faults: &'static [&'static str],
    pub window: Window,
    /// The uptime this case asks for.
    pub uptime: f64,
    /// The `[sla]` keys this case needs measured (the other obedience and
    /// failover keys are written too, but optional).
    pub required: &'static [&'static str],
    /// The criteria that decide pass or fail; the others make at most a
    /// partial.
    pub primary: &'static [Criterion],
}

impl Case {
    /// Every criterion shown for this case: the primary ones, then the
    /// secondary ones every case has (reacted only with a time limit).
    pub fn criteria(&self) -> Vec<Criterion> {
        let mut out: Vec<Criterion> = self.primary.to_vec();
        // Reacted only where there is a time limit to react within.
        let timed = self
            .required
            .iter()
            .any(|k| *k == "max_time_to_failover" || *k == "p99");
        for c in [Survived, NoBadSuccess, Obeyed, Reacted, Amplification] {
            if !out.contains(&c) && (c != Reacted || timed) {
                out.push(c);
            }
        }
        out
    }
}

const FAILOVER: &[&str] = &["max_time_to_failover"];
const RETRY_AFTER: &[&str] = &["max_retry_after_violations"];
const NON_RETRYABLE: &[&str] = &["max_non_retryable_retries", "max_rewritten_errors"];

macro_rules! case {
    ($name:literal, $st:literal, [$($f:literal),+], $up:literal, $req:expr, [$($p:ident),+]) => {
        case!($name, $st, [$($f),+], MIDDLE, $up, $req, [$($p),+])
    };
    ($name:literal, $st:literal, [$($f:literal),+], $w:expr, $up:literal, $req:expr, [$($p:ident),+]) => {
        Case {
            name: $name,
            statement: $st,
            faults: &[$($f),+],
            window: $w,
            uptime: $up,
            required: $req,
            primary: &[$($p),+],
        }
    };
}

/// The battery, in the order it runs.
pub fn battery() -> Vec<Case> {
    let mut out = vec![
        case!("outage-503", "a correct gateway fails over from a provider answering 503 within seconds and loses almost no request.",
            ["provider = \"flash\"\nkind = \"outage\"\nstatus = 503"], 0.99, FAILOVER, [Survived, Reacted, Amplification]),
        case!("error-burst-5xx", "a correct gateway retries or fails over the half of requests a provider answers with 500 and loses almost none.",
            ["provider = \"flash\"\nkind = \"error_burst\"\nstatus = 500\nprobability = 0.5"], 0.99, &[], [Survived, Amplification]),
        case!("hang", "a correct gateway gives up on a provider that accepts and never answers, within its attempt timeout, and fails over.",
            ["provider = \"flash\"\nkind = \"outage\"\nas = \"hang\""], 0.98, FAILOVER, [Survived, Reacted]),
        case!("refused", "a correct gateway fails over at once from a provider that refuses connections.",
            ["provider = \"flash\"\nkind = \"outage\"\nas = \"refuse\""], 0.99, FAILOVER, [Survived, Reacted]),
        case!("resets", "a correct gateway fails over from a provider that resets its connections.",
            ["provider = \"flash\"\nkind = \"outage\"\nas = \"reset\""], 0.99, FAILOVER, [Survived, Reacted]),
        case!("retry-after-long", "a correct gateway sends nothing to a provider inside the 5 s Retry-After it sent, and answers from another one meanwhile.",
            ["provider = \"flash\"\nkind = \"error_burst\"\nstatus = 429\nretry_after = \"5s\"\nprobability = 0.5"], 0.99, RETRY_AFTER, [Survived, Obeyed]),
        case!("spend-cap", "a correct gateway relays a spent quota (429 insufficient_quota) to the client as received: retrying cannot fix it, so no retry and no failover.",
            ["provider = \"flash\"\nkind = \"error_burst\"\nstatus = 429\nerror_code = \"insufficient_quota\"\nprobability = 0.3"], 0.85, NON_RETRYABLE, [Obeyed, NoBadSuccess]),
        case!("context-length", "a correct gateway passes a 400 context_length_exceeded to the client unchanged, without retrying or failing it over.",
            ["provider = \"flash\"\nkind = \"error_burst\"\nstatus = 400\nerror_code = \"context_length_exceeded\"\nprobability = 0.2"], 0.8, NON_RETRYABLE, [Obeyed, NoBadSuccess]),
        case!("overloaded-529", "a correct gateway fails over from Anthropic's 529 overloaded answers.",
            ["provider = \"flash\"\nkind = \"outage\"\nstatus = 529\ndialect = \"anthropic\""], 0.99, FAILOVER, [Survived, Reacted]),
        case!("overloaded-529-stream", "a correct gateway fails over a stream whose provider sends an overloaded error event before the first token.",
            ["provider = \"flash\"\nkind = \"stream_error\"\nafter_tokens = 0\nerror_type = \"overloaded_error\"\ndialect = \"anthropic\""], 0.99, &[], [Survived, NoBadSuccess]),
        case!("error-event-mid-stream", "a correct gateway cannot fail over an error event after content went out, and must not pass the broken stream off as a success.",
            ["provider = \"flash\"\nkind = \"stream_error\"\nafter_tokens = [3, 8]\nprobability = 0.5"], 0.9, &[], [NoBadSuccess]),
        case!("stream-cut", "a correct gateway ends a stream cut without [DONE] with an error the client sees, never as a complete answer.",
            ["provider = \"flash\"\nkind = \"stream_cut\"\nafter_tokens = [3, 8]\nprobability = 0.5"], 0.9, &[], [NoBadSuccess]),
        case!("stream-stall", "a correct gateway lets a stream that stalls for 3 s resume and finish, with a complete answer.",
            ["provider = \"flash\"\nkind = \"stream_stall\"\npause = \"3s\"\nprobability = 0.5"], 0.99, &[], [Survived, NoBadSuccess]),
        case!("cold-start", "a correct gateway does not let a 14 s first token eat the client's time: it times the attempt out and fails over.",
            ["provider = \"flash\"\nkind = \"slow_first_token\"\ndelay = \"14s\"\nprobability = 0.3"], 0.98, &[], [Survived]),
        case!("malformed", "a correct gateway never passes a 200 with a broken JSON body as a good answer: it fails over or answers an error.",
            ["provider = \"flash\"\nkind = \"malformed\"\nwhat = \"invalid_json\"\nprobability = 0.3"], 0.95, &[], [NoBadSuccess, Survived]),
        case!("latency-spike", "a correct gateway keeps answering through a 5x latency spike on the default tier without a retry storm.",
            ["provider = \"flash\"\nkind = \"latency_spike\"\nmultiplier = 5"], 0.99, &[], [Survived, Amplification]),
        case!("regional-outage", "a correct gateway fails over from every provider of a region that went down (flash and r1) to the other region.",
            ["region = \"us-east\"\nkind = \"outage\"\nstatus = 503"], 0.99, FAILOVER, [Survived, Reacted]),
        case!("flapping", "a correct gateway keeps a provider that flaps every second out of rotation with few probes, and loses almost no request.",
            ["provider = \"flash\"\nkind = \"flapping\"\nperiod = \"2s\"\nduty = 0.5\nas = \"5xx\""], 0.98, &["max_flapping_probes"], [Survived, Obeyed]),
        case!("recovery", "a correct gateway fails over during a 3 s outage and sends traffic back to the provider once it recovers.",
            ["provider = \"flash\"\nkind = \"outage\"\nstatus = 503"], Window { start: 0.25, end: 0.5 }, 0.99, FAILOVER, [Survived, Reacted, Recovered]),
        case!("cascade", "a correct gateway with both default deployments down and the fallback squeezed to 60 RPM moves on to the premium tier instead of hammering the fallback.",
            ["provider = \"flash\"\nkind = \"outage\"\nstatus = 503",
             "provider = \"flash-b\"\nkind = \"outage\"\nstatus = 503",
             "provider = \"qwen\"\nkind = \"rate_limit\"\nrpm = 60"], 0.97, &[], [Survived, Amplification]),
    ];
    out.push(all_down());
    out
}

fn all_down() -> Case {
    case!("all-down", "a correct gateway with every provider down answers errors fast (client p99 within 3 s), without a retry storm.",
        ["provider = \"flash\"\nkind = \"outage\"\nstatus = 503",
         "provider = \"flash-b\"\nkind = \"outage\"\nstatus = 503",
         "provider = \"qwen\"\nkind = \"outage\"\nstatus = 503",
         "provider = \"r1\"\nkind = \"outage\"\nstatus = 503"], 0.1, &["p99"], [Amplification, Reacted])
}

/// The cases `--only` names, in the battery's order; an unknown name is
/// an error naming the known ones.
pub fn select(only: Option<&[String]>) -> Result<Vec<Case>, String> {
    let all = battery();
    let Some(names) = only else { return Ok(all) };
    if let Some(bad) = names
        .iter()
        .find(|n| !all.iter().any(|c| c.name == n.as_str()))
    {
        let known: Vec<&str> = all.iter().map(|c| c.name).collect();
        return Err(format!(
            "no scorecard case named {bad:?}; the cases are: {}",
            known.join(", ")
        ));
    }
    Ok(all
        .into_iter()
        .filter(|c| names.iter().any(|n| n == c.name))
        .collect())
}

/// The amplification limit: 2.0 where every provider is down (each
/// request may try two), 1.5 elsewhere.
pub fn amplification_limit(case: &Case) -> f64 {
    if case.name == "all-down" {
        2.0
    } else {
        1.5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_battery_has_21_distinct_kebab_case_names_with_statements() {
        let b = battery();
        assert!(b.len() >= 21);
        for (i, c) in b.iter().enumerate() {
            assert!(c
                .name
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-'));
            assert!(c.statement.starts_with("a correct gateway"), "{}", c.name);
            assert!(b[..i].iter().all(|o| o.name != c.name));
            assert!(!c.primary.is_empty());
        }
    }

    #[test]
    fn only_keeps_the_battery_order_and_refuses_unknown_names() {
        let only = vec!["hang".to_string(), "outage-503".to_string()];
        let names: Vec<_> = select(Some(&only))
            .unwrap()
            .iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["outage-503", "hang"]);
        let err = select(Some(&["nope".to_string()])).unwrap_err();
        assert!(err.contains("\"nope\"") && err.contains("outage-503"));
    }
}
