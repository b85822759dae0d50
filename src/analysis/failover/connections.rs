//! What the run saw of connection attempts to the providers, for
//! summary.json's `failover.connections`: per provider, the SYNs its port
//! received in all and in the seconds its refuse windows cover.

use serde::{Deserialize, Serialize};

use super::{Connections, Input};
use crate::scenario::Fault;

/// `failover.connections`: present when the scenario has a refuse window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionsOut {
    /// Whether loopback was watched for connection attempts.
    pub watched: bool,
    /// What was watched, or why it could not be (e.g. no CAP_NET_RAW).
    pub why: String,
    /// Per provider, in the scenario's order; empty when not watched.
    #[serde(default)]
    pub providers: Vec<ProviderSyns>,
}

/// Connection attempts (TCP SYNs) one provider's port received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderSyns {
    pub provider: String,
    /// From t=0 to the end of the load.
    pub syns: u64,
    /// In the seconds its refuse windows cover (whole seconds that overlap
    /// a window): attempts the kernel refused, which the ledger never sees.
    pub syns_in_refuse_windows: u64,
    /// How many refuse windows hit this provider.
    pub refuse_windows: u32,
}

/// What was watched (see [`Input::connections`]); `None` when the scenario
/// has no refuse window (nothing is refused, the ledger sees everything).
pub fn summarize(input: &Input) -> Option<ConnectionsOut> {
    let refuse: Vec<&Fault> = input.faults.iter().filter(|f| f.refuses()).collect();
    if refuse.is_empty() {
        return None;
    }
    Some(match input.connections {
        Connections::NotObservable(why) => ConnectionsOut {
            watched: false,
            why: why.to_string(),
            providers: Vec::new(),
        },
        Connections::Seen(counts) => ConnectionsOut {
            watched: true,
            why: "TCP SYNs to each provider's port on loopback, counted per second".into(),
            providers: (0..input.providers.len())
                .map(|p| provider_syns(input.providers, p, counts, &refuse))
                .collect(),
        },
    })
}

fn provider_syns(
    names: &[String],
    p: usize,
    counts: &[Vec<u32>],
    refuse: &[&Fault],
) -> ProviderSyns {
    let windows: Vec<&&Fault> = refuse.iter().filter(|f| f.providers.contains(&p)).collect();
    let (mut syns, mut inside) = (0u64, 0u64);
    // Bounded by the timeline (the counts' rows), whatever the windows say.
    for (second, row) in counts.iter().enumerate() {
        let n = u64::from(row.get(p).copied().unwrap_or(0));
        syns += n;
        if windows.iter().any(|f| covers(f, second)) {
            inside += n;
        }
    }
    ProviderSyns {
        provider: names[p].clone(),
        syns,
        syns_in_refuse_windows: inside,
        refuse_windows: windows.len() as u32,
    }
}

/// Whether the second `[s, s+1)` overlaps the fault's window.
fn covers(f: &Fault, s: usize) -> bool {
    let (from, to) = (s as f64, s as f64 + 1.0);
    let start = f.start.as_secs_f64();
    let end = f.end().map_or(f64::INFINITY, |e| e.as_secs_f64());
    start < to && from < end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::FaultKind;
    use std::time::Duration;

    fn fault(provider: usize, kind: FaultKind, start: u64, len: Option<u64>) -> Fault {
        Fault {
            providers: vec![provider],
            target_label: format!("provider p{provider}"),
            start: Duration::from_secs(start),
            duration: len.map(Duration::from_secs),
            probability: 1.0,
            kind,
            error: Default::default(),
            after_tokens: None,
        }
    }

    fn input<'a>(names: &'a [String], faults: &'a [Fault], c: Connections<'a>) -> Input<'a> {
        Input {
            providers: names,
            prices: &[],
            class_names: &[],
            faults,
            requests: &[],
            duration_s: 10,
            sent_until_s: 10.0,
            account_dialects: 0,
            dialects: &[],
            messages: &[],
            connections: c,
            groups: &[],
        }
    }

    #[test]
    fn syns_are_summed_in_all_and_inside_each_providers_refuse_windows() {
        let names = vec!["p0".to_string(), "p1".to_string()];
        let faults = [
            fault(0, FaultKind::OutageRefuse, 2, Some(2)),
            fault(1, FaultKind::OutageHang, 0, None),
        ];
        let counts: Vec<Vec<u32>> = (0..6).map(|s| vec![10 + s, 1]).collect();
        let out = summarize(&input(&names, &faults, Connections::Seen(&counts))).unwrap();
        assert!(out.watched);
        assert_eq!(out.providers[0].syns, 10 + 11 + 12 + 13 + 14 + 15);
        // Seconds 2 and 3 only.
        assert_eq!(out.providers[0].syns_in_refuse_windows, 12 + 13);
        assert_eq!(out.providers[0].refuse_windows, 1);
        assert_eq!(out.providers[1].syns, 6);
        assert_eq!(out.providers[1].syns_in_refuse_windows, 0);
        assert_eq!(out.providers[1].refuse_windows, 0);
    }

    #[test]
    fn a_window_to_the_end_or_across_seconds_covers_what_it_overlaps() {
        let mut open = fault(0, FaultKind::OutageRefuse, 4, None);
        assert!(!covers(&open, 3) && covers(&open, 4) && covers(&open, 1000));
        open.start = Duration::from_millis(2500);
        open.duration = Some(Duration::from_millis(1000));
        assert!(!covers(&open, 1) && covers(&open, 2) && covers(&open, 3) && !covers(&open, 4));
    }

    #[test]
    fn unwatched_says_why_and_no_refuse_window_says_nothing() {
        let names = vec!["p0".to_string()];
        let refuse = [fault(0, FaultKind::OutageRefuse, 1, Some(1))];
        let why = "needs CAP_NET_RAW";
        let out = summarize(&input(&names, &refuse, Connections::NotObservable(why))).unwrap();
        assert!(!out.watched);
        assert_eq!(out.why, why);
        assert!(out.providers.is_empty());
        let other = [fault(0, FaultKind::OutageHang, 1, Some(1))];
        let counts = vec![vec![3u32]];
        assert_eq!(
            summarize(&input(&names, &other, Connections::Seen(&counts))),
            None
        );
    }
}
