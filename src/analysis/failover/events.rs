//! Classification: what became of each request, and the failover events
//! (requests whose first attempt failed) with the latency each kind paid;
//! the requests that failed with no provider attempt (errors the gateway
//! made itself), by status and message.

use serde::{Deserialize, Serialize};

use super::facts::Fact;
use crate::analysis::groups::Groups;
use crate::metrics::histogram::{self, Hist, Percentiles};
use crate::metrics::Outcome;

/// How a request whose first attempt failed ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Answered by another provider (of another deployment group, when
    /// groups are declared).
    Failover,
    /// Answered by another deployment of the first provider's group
    /// (`group = ...`): not a failover to another model.
    GroupMove,
    /// Answered by the same provider again.
    Retry,
    /// Every attempt failed.
    Exhausted,
}

/// One failover event (failovers.csv has one row per event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub class: String,
    pub at_s: f64,
    pub kind: EventKind,
    pub first_provider: String,
    pub served_by: Option<String>,
    pub attempts: u16,
    pub latency_ms: f64,
    pub outcome: Outcome,
}

/// What became of one sent request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    /// It failed and no provider received it: an error the gateway made
    /// itself (`gateway_error`: a 429 "No deployments available", a gateway
    /// that gave up or was down).
    Unreached,
    /// No provider received it and it did not fail: answered without a
    /// provider, or cut off before any attempt.
    Unattempted,
    /// Still in flight at the end of the run: reported, not counted, and not
    /// an event (its last attempt may still have been under way).
    CutOff,
    /// The first attempt succeeded (later ones, if any, were duplicates
    /// such as hedged requests).
    Normal,
    /// The first attempt failed.
    Event(EventKind),
}

/// What became of the request `f`; `groups` tells a move inside a
/// deployment group from a failover.
pub(super) fn classify(f: &Fact, groups: &Groups) -> Class {
    let (rec, j) = (f.rec, &f.joined);
    if f.gateway_error() {
        return Class::Unreached;
    }
    if !f.attempted() {
        return Class::Unattempted;
    }
    if !rec.outcome.counted() {
        return Class::CutOff;
    }
    // A duplicate attempt after a success (e.g. a hedged request) is not an
    // event; a failed request whose single first attempt succeeded is not one
    // either (the failure happened past the provider).
    if j.first_ok && (j.attempts == 1 || rec.outcome.is_ok()) {
        return Class::Normal;
    }
    Class::Event(if !rec.outcome.is_ok() {
        EventKind::Exhausted
    } else if f.served == j.first_provider {
        EventKind::Retry
    } else if groups.same(j.first_provider, f.served) {
        EventKind::GroupMove
    } else {
        EventKind::Failover
    })
}

/// Requests that failed with no provider attempt, for one (message, outcome):
/// `message` indexes the recorder's `ErrorMessages` (`NONE`: no HTTP answer,
/// then `outcome` says what happened instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayErrorCount {
    pub message: u8,
    pub outcome: Outcome,
    pub count: u64,
}

/// Collects the events, the requests no provider received, and the latency
/// of the answers with and without a failed first attempt.
pub(super) struct EventLog<'a> {
    providers: &'a [String],
    class_names: &'a [String],
    events: Vec<Event>,
    unreached: u64,
    passed_through: u64,
    gateway_errors: Vec<GatewayErrorCount>,
    failover: Hist,
    normal: Hist,
}

/// The finished `EventLog`.
pub(super) struct Events {
    pub list: Vec<Event>,
    pub unreached: u64,
    /// Failed (counted) requests that reached at least one provider: the
    /// provider errors the gateway passed through, and failures past a
    /// provider's answer (a truncated or wrong answer, a timeout). With
    /// `unreached`, every failed sent request.
    pub passed_through: u64,
    /// The unreached requests by message, in order of first appearance.
    pub gateway_errors: Vec<GatewayErrorCount>,
    pub failover_latency_ms: Percentiles,
    pub normal_latency_ms: Percentiles,
}

impl Events {
    pub fn count(&self, kind: EventKind) -> u64 {
        self.list.iter().filter(|e| e.kind == kind).count() as u64
    }
}

impl<'a> EventLog<'a> {
    pub fn new(providers: &'a [String], class_names: &'a [String]) -> Self {
        EventLog {
            providers,
            class_names,
            events: Vec::new(),
            unreached: 0,
            passed_through: 0,
            gateway_errors: Vec::new(),
            failover: histogram::new(),
            normal: histogram::new(),
        }
    }

    pub fn add(&mut self, f: &Fact, class: Class) {
        let rec = f.rec;
        let latency = std::time::Duration::from_micros(u64::from(rec.latency_us));
        if f.attempted() && rec.outcome.counted() && !rec.outcome.is_ok() {
            self.passed_through += 1;
        }
        match class {
            Class::Unreached => {
                self.unreached += 1;
                self.gateway_error(rec.message, rec.outcome);
            }
            Class::Unattempted | Class::CutOff => {}
            Class::Normal if rec.outcome.is_ok() => histogram::record(&mut self.normal, latency),
            Class::Normal => {}
            Class::Event(kind) => {
                if rec.outcome.is_ok() {
                    histogram::record(&mut self.failover, latency);
                }
                self.events.push(self.event(f, kind));
            }
        }
    }

    fn gateway_error(&mut self, message: u8, outcome: Outcome) {
        let found = self
            .gateway_errors
            .iter_mut()
            .find(|g| g.message == message && g.outcome == outcome);
        match found {
            Some(g) => g.count += 1,
            None => self.gateway_errors.push(GatewayErrorCount {
                message,
                outcome,
                count: 1,
            }),
        }
    }

    fn event(&self, f: &Fact, kind: EventKind) -> Event {
        let rec = f.rec;
        let name = |i: u16| self.providers.get(i as usize).cloned();
        Event {
            seq: f.seq as u64,
            class: self
                .class_names
                .get(rec.class as usize)
                .cloned()
                .unwrap_or_default(),
            at_s: f64::from(rec.intended_ms) / 1000.0,
            kind,
            first_provider: name(f.joined.first_provider).unwrap_or_default(),
            served_by: if rec.outcome.is_ok() {
                name(f.served)
            } else {
                None
            },
            attempts: f.joined.attempts,
            latency_ms: f64::from(rec.latency_us) / 1000.0,
            outcome: rec.outcome,
        }
    }

    pub fn finish(self) -> Events {
        Events {
            list: self.events,
            unreached: self.unreached,
            passed_through: self.passed_through,
            gateway_errors: self.gateway_errors,
            failover_latency_ms: Percentiles::of(&self.failover),
            normal_latency_ms: Percentiles::of(&self.normal),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::failover::join::Joined;
    use crate::metrics::messages::ErrorMessages;
    use crate::metrics::recorder::{AccountRecord, ClientRecord};

    fn rec(outcome: Outcome) -> ClientRecord {
        ClientRecord {
            intended_ms: 2500,
            latency_us: 40_000,
            served_by: ClientRecord::NONE,
            message: ErrorMessages::NONE,
            class: 1,
            outcome,
            account: AccountRecord::EMPTY,
        }
    }

    /// First attempt at flash (0), `first_ok`, `attempts` in all.
    fn joined(first_ok: bool, attempts: u16) -> Joined {
        Joined {
            first_arrival_us: 2_500_000,
            first_provider: 0,
            first_ok,
            attempts,
            ..Joined::EMPTY
        }
    }

    fn fact<'a>(rec: &'a ClientRecord, joined: Joined, served: u16) -> Fact<'a> {
        Fact {
            seq: 7,
            rec,
            ledger: joined.view(),
            joined,
            served,
        }
    }

    #[test]
    fn every_request_has_one_class() {
        let (ok, failed, cut) = (
            rec(Outcome::Ok),
            rec(Outcome::Timeout),
            rec(Outcome::CutOff),
        );
        let none = Groups::new(&[], 2);
        let class = |r, ok1, n, served| classify(&fact(r, joined(ok1, n), served), &none);
        assert_eq!(class(&failed, false, 0, 0), Class::Unreached);
        assert_eq!(class(&ok, false, 0, 0), Class::Unattempted);
        assert_eq!(class(&cut, false, 0, 0), Class::Unattempted);
        assert_eq!(class(&cut, false, 2, 1), Class::CutOff);
        assert_eq!(class(&ok, true, 1, 0), Class::Normal);
        // A hedge: a second attempt after a successful first.
        assert_eq!(class(&ok, true, 2, 1), Class::Normal);
        // The provider answered; the request failed past it.
        assert_eq!(class(&failed, true, 1, 0), Class::Normal);
        assert_eq!(
            class(&failed, true, 2, 0),
            Class::Event(EventKind::Exhausted)
        );
        assert_eq!(class(&ok, false, 2, 0), Class::Event(EventKind::Retry));
        assert_eq!(class(&ok, false, 2, 1), Class::Event(EventKind::Failover));
        assert_eq!(
            class(&failed, false, 3, 1),
            Class::Event(EventKind::Exhausted)
        );
    }

    #[test]
    fn a_move_inside_a_deployment_group_is_not_a_failover() {
        // flash (0) and qwen (1) deploy "default"; r1 (2) has no group.
        let groups = Groups::new(&[Some("default".into()), Some("default".into())], 3);
        let (ok, failed) = (rec(Outcome::Ok), rec(Outcome::Http5xx));
        let class = |r, served| classify(&fact(r, joined(false, 2), served), &groups);
        assert_eq!(class(&ok, 1), Class::Event(EventKind::GroupMove));
        assert_eq!(class(&ok, 2), Class::Event(EventKind::Failover));
        assert_eq!(class(&ok, 0), Class::Event(EventKind::Retry));
        assert_eq!(class(&failed, 1), Class::Event(EventKind::Exhausted));
        assert_eq!(
            serde_json::to_string(&EventKind::GroupMove).unwrap(),
            "\"group_move\""
        );
    }

    #[test]
    fn errors_with_no_provider_attempt_are_counted_by_message() {
        let names = ["flash".to_string()];
        let mut log = EventLog::new(&names, &[]);
        let mut gw429 = rec(Outcome::Http429);
        gw429.message = 3;
        let mut gw503 = rec(Outcome::Http5xx);
        gw503.message = 4;
        let refused = rec(Outcome::Refused);
        let none = Groups::new(&[], 1);
        for r in [&gw429, &gw503, &gw429, &refused, &gw429] {
            let f = fact(r, Joined::EMPTY, u16::MAX);
            log.add(&f, classify(&f, &none));
        }
        // A provider error passed through is an event, not a gateway error.
        let passed = rec(Outcome::Http5xx);
        let f = fact(&passed, joined(false, 1), u16::MAX);
        log.add(&f, classify(&f, &none));
        let e = log.finish();
        assert_eq!(e.unreached, 5);
        let g = |message, outcome, count| GatewayErrorCount {
            message,
            outcome,
            count,
        };
        assert_eq!(
            e.gateway_errors,
            [
                g(3, Outcome::Http429, 3),
                g(4, Outcome::Http5xx, 1),
                g(ErrorMessages::NONE, Outcome::Refused, 1)
            ]
        );
        assert_eq!(e.count(EventKind::Exhausted), 1);
    }

    #[test]
    fn the_log_keeps_events_unreached_and_both_latencies() {
        let names = ["flash".to_string(), "qwen".into()];
        let classes = ["chat".to_string(), "batch".into()];
        let mut log = EventLog::new(&names, &classes);
        let (ok, failed) = (rec(Outcome::Ok), rec(Outcome::Http5xx));
        for (r, j, served) in [
            (&ok, joined(false, 2), 1),
            (&failed, joined(false, 2), 1),
            (&failed, joined(false, 0), 0),
            (&ok, joined(true, 1), 0),
        ] {
            let f = fact(r, j, served);
            log.add(&f, classify(&f, &Groups::new(&[], 2)));
        }
        let e = log.finish();
        assert_eq!(
            e.list[0],
            Event {
                seq: 7,
                class: "batch".into(),
                at_s: 2.5,
                kind: EventKind::Failover,
                first_provider: "flash".into(),
                served_by: Some("qwen".into()),
                attempts: 2,
                latency_ms: 40.0,
                outcome: Outcome::Ok,
            }
        );
        assert_eq!(
            (e.list[1].kind, e.list[1].served_by.as_deref()),
            (EventKind::Exhausted, None)
        );
        assert_eq!(
            (e.count(EventKind::Failover), e.count(EventKind::Retry)),
            (1, 0)
        );
        assert_eq!(e.unreached, 1);
        // Only answers have a latency: one after a failover, one normal.
        assert_eq!(
            (e.failover_latency_ms.count, e.normal_latency_ms.count),
            (1, 1)
        );
    }
}
