//! The built-in gateway's live metrics, for `slabench gateway`: what it
//! answered, what it sent to each provider and what came back, its
//! retries, failovers and skips, and each provider's breaker and
//! cool-down now, read from the gateway's own counters
//! ([`crate::gateway::Watch`]) at each scrape.

use std::fmt::Error;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use super::gauges::{self, Labels};
use crate::gateway::{BreakerState, Snapshot, Watch};

/// The gateway's collector: nothing until the gateway serves.
#[derive(Debug, Clone, Default)]
pub struct GatewayCollector {
    pub watch: Watch,
}

impl Collector for GatewayCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), Error> {
        match self.watch.snapshot() {
            Some(s) => encode(&mut enc, &s),
            None => Ok(()),
        }
    }
}

fn provider(name: &str) -> Labels {
    vec![("provider", name.to_owned())]
}

/// Writes every family of `s`.
pub fn encode(enc: &mut DescriptorEncoder, s: &Snapshot) -> Result<(), Error> {
    encode_counters(enc, s)?;
    encode_state(enc, s)
}

fn encode_counters(enc: &mut DescriptorEncoder, s: &Snapshot) -> Result<(), Error> {
    let requests = s.requests.iter().map(|(model, status, n)| {
        let labels: Labels = vec![("model", model.clone()), ("status", status.to_string())];
        (labels, *n)
    });
    gauges::counter(
        enc,
        "slabench_gateway_requests",
        "Chat requests the gateway answered, by the requested model (`other`: a model \
         without a route, or a body that is not a chat request) and the status it sent",
        requests,
    )?;
    let ps = &s.providers;
    let attempts = ps.iter().flat_map(|p| {
        p.attempts.iter().map(|(outcome, n)| {
            let labels: Labels = vec![("provider", p.name.clone()), ("outcome", outcome.clone())];
            (labels, *n)
        })
    });
    gauges::counter(
        enc,
        "slabench_gateway_attempts",
        "Attempts the gateway sent, by provider and outcome as in x-slabench-attempts \
         (the status, or error_event, malformed, timeout, connect, broken)",
        attempts,
    )?;
    gauges::counter(
        enc,
        "slabench_gateway_retries",
        "Attempts that retried a provider already tried for the same request",
        ps.iter().map(|p| (provider(&p.name), p.retries)),
    )?;
    let failovers = ps.iter().flat_map(|p| {
        p.failovers_from.iter().map(|(from, n)| {
            let labels: Labels = vec![("from", from.clone()), ("to", p.name.clone())];
            (labels, *n)
        })
    });
    gauges::counter(
        enc,
        "slabench_gateway_failovers",
        "Requests whose answer (any status) came from another provider (to) than the one \
         their first attempt went to (from)",
        failovers,
    )?;
    let skipped = ps.iter().flat_map(|p| {
        [
            ("breaker_open", p.skipped_breaker_open),
            ("cooling_down", p.skipped_cooling_down),
        ]
        .map(|(reason, n)| {
            let labels: Labels = vec![("provider", p.name.clone()), ("reason", reason.into())];
            (labels, n)
        })
    });
    gauges::counter(
        enc,
        "slabench_gateway_skipped",
        "Requests that passed a provider of their route over: its breaker open (or half-open \
         with every probe slot taken), or cooling down after a Retry-After",
        skipped,
    )
}

fn encode_state(enc: &mut DescriptorEncoder, s: &Snapshot) -> Result<(), Error> {
    let ps = &s.providers;
    let open = |b: BreakerState| f64::from(u8::from(b != BreakerState::Closed));
    gauges::gauge(
        enc,
        "slabench_gateway_breaker_open",
        "1 while the provider's circuit breaker is not closed (open, or half-open: only \
         probes go through), 0 while closed",
        ps.iter().map(|p| (provider(&p.name), open(p.breaker))),
    )?;
    let states = ps.iter().flat_map(|p| {
        [
            BreakerState::Closed,
            BreakerState::Open,
            BreakerState::HalfOpen,
        ]
        .map(|st| {
            let labels: Labels = vec![("provider", p.name.clone()), ("state", st.as_str().into())];
            (labels, f64::from(u8::from(st == p.breaker)))
        })
    });
    gauges::gauge(
        enc,
        "slabench_gateway_breaker_state",
        "1 for the state the provider's circuit breaker is in (closed, open, half_open), \
         0 for the others",
        states,
    )?;
    gauges::gauge(
        enc,
        "slabench_gateway_cooldown_seconds",
        "How long the provider still cools down after a Retry-After (no attempt goes to it \
         until then); 0 when it does not",
        ps.iter()
            .map(|p| (provider(&p.name), p.cooldown.as_secs_f64())),
    )?;
    gauges::gauge(
        enc,
        "slabench_gateway_in_flight",
        "Chat requests being routed: read, and their answer's headers not sent yet",
        [(Labels::new(), s.in_flight as f64)],
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::gateway::ProviderSnapshot;

    fn text(c: GatewayCollector) -> String {
        let mut reg = prometheus_client::registry::Registry::default();
        reg.register_collector(Box::new(c));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &reg).unwrap();
        out
    }

    #[test]
    fn nothing_is_written_before_the_gateway_serves() {
        let out = text(GatewayCollector::default());
        assert!(!out.contains("slabench_gateway"), "{out}");
    }

    #[test]
    fn a_snapshot_is_written_with_its_labels() {
        let p = |name: &str, from: &str, breaker, cooldown_ms| ProviderSnapshot {
            name: name.into(),
            attempts: vec![("200".into(), 3), ("timeout".into(), 1)],
            retries: 1,
            skipped_breaker_open: 2,
            skipped_cooling_down: 0,
            failovers_from: vec![(from.into(), 4)],
            breaker,
            cooldown: Duration::from_millis(cooldown_ms),
        };
        let s = Snapshot {
            requests: vec![("default".into(), 200, 5), ("other".into(), 404, 1)],
            in_flight: 2,
            providers: vec![
                p("flash", "qwen", BreakerState::HalfOpen, 1500),
                p("qwen", "flash", BreakerState::Closed, 0),
            ],
        };
        let mut reg = prometheus_client::registry::Registry::default();
        #[derive(Debug)]
        struct Fixed(Snapshot);
        impl Collector for Fixed {
            fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), Error> {
                encode(&mut enc, &self.0)
            }
        }
        reg.register_collector(Box::new(Fixed(s)));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &reg).unwrap();
        for line in [
            "# TYPE slabench_gateway_requests counter",
            "slabench_gateway_requests_total{model=\"default\",status=\"200\"} 5",
            "slabench_gateway_requests_total{model=\"other\",status=\"404\"} 1",
            "slabench_gateway_attempts_total{provider=\"flash\",outcome=\"200\"} 3",
            "slabench_gateway_attempts_total{provider=\"qwen\",outcome=\"timeout\"} 1",
            "slabench_gateway_retries_total{provider=\"qwen\"} 1",
            "slabench_gateway_failovers_total{from=\"qwen\",to=\"flash\"} 4",
            "slabench_gateway_skipped_total{provider=\"flash\",reason=\"breaker_open\"} 2",
            "slabench_gateway_skipped_total{provider=\"flash\",reason=\"cooling_down\"} 0",
            "# TYPE slabench_gateway_breaker_open gauge",
            "slabench_gateway_breaker_open{provider=\"flash\"} 1.0",
            "slabench_gateway_breaker_open{provider=\"qwen\"} 0.0",
            "slabench_gateway_breaker_state{provider=\"flash\",state=\"half_open\"} 1.0",
            "slabench_gateway_breaker_state{provider=\"flash\",state=\"open\"} 0.0",
            "slabench_gateway_cooldown_seconds{provider=\"flash\"} 1.5",
            "slabench_gateway_cooldown_seconds{provider=\"qwen\"} 0.0",
            "slabench_gateway_in_flight 2.0",
        ] {
            assert!(out.lines().any(|l| l == line), "no {line:?} in\n{out}");
        }
    }
}
