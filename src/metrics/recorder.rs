//! The recorder: folds request results into histograms, counters and a
//! per-second timeline.
//!
//! Memory does not grow with the number of requests: histograms have fixed
//! bounds, and the timeline keeps one small row per second (its latency
//! percentiles come from one interval histogram that is reset every second).
//! Sends are attributed to the second they were *meant* to leave; outcomes and
//! latencies to the second they completed.

use super::accumulate::{Accumulator, ClosedSecond, Incomplete};
use super::histogram::{self, Hist, Percentiles};
use super::messages::ErrorMessages;
#[cfg(test)]
use super::request::Dialect;
use super::request::{Account, Checked, RequestResult};
use super::Outcome;

pub const OUTCOMES: usize = Outcome::ALL.len();

/// Everything measured for one traffic class.
#[derive(Debug, Clone)]
pub struct ClassStats {
    pub name: String,
    pub counts: [u64; OUTCOMES],
    /// Latency (from the intended send) by outcome; allocated on first use.
    pub latency: Vec<Option<Hist>>,
    /// Service time (from the actual send) of successful requests.
    pub service: Hist,
    /// Streaming only: time to first token and time per output token.
    pub ttft: Hist,
    pub tpot: Hist,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl ClassStats {
    fn new(name: String) -> Self {
        ClassStats {
            name,
            counts: [0; OUTCOMES],
            latency: vec![None; OUTCOMES],
            service: histogram::new(),
            ttft: histogram::new(),
            tpot: histogram::new(),
            input_tokens: 0,
            output_tokens: 0,
        }
    }

    /// Latency of successful requests.
    pub fn ok_latency(&self) -> Option<&Hist> {
        self.latency[Outcome::Ok.index()].as_ref()
    }
}

/// The gateway's own account of one request (see `load::gateway_headers`), kept
/// compactly (4 bytes); each field is `NONE` where the gateway said nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountRecord {
    /// Attempts that reached a provider, when the gateway lists them exactly.
    pub attempts: u8,
    pub fallbacks: u8,
    pub retries: u8,
    /// The provider the gateway says answered (index into the names given to
    /// [`Recorder::keep_requests`]), `UNKNOWN` for a name that is none of them.
    pub served_by: u8,
}

impl AccountRecord {
    pub const NONE: u8 = u8::MAX;
    pub const UNKNOWN: u8 = u8::MAX - 1;
    /// Counts saturate below the sentinels.
    const MAX_COUNT: u32 = u8::MAX as u32 - 2;
    pub const EMPTY: AccountRecord = AccountRecord {
        attempts: Self::NONE,
        fallbacks: Self::NONE,
        retries: Self::NONE,
        served_by: Self::NONE,
    };

    fn new(a: &Account, providers: &[String]) -> Self {
        let n = |v: Option<u32>| v.map_or(Self::NONE, |v| v.min(Self::MAX_COUNT) as u8);
        AccountRecord {
            attempts: n(a.attempts),
            fallbacks: n(a.fallbacks),
            retries: n(a.retries),
            served_by: a.served_by.as_deref().map_or(Self::NONE, |name| {
                providers
                    .iter()
                    .position(|p| p == name)
                    .filter(|&i| i < usize::from(Self::UNKNOWN))
                    .map_or(Self::UNKNOWN, |i| i as u8)
            }),
        }
    }

    /// Whether the gateway said anything about this request.
    pub fn is_reported(&self) -> bool {
        *self != Self::EMPTY
    }

    pub fn get(v: u8) -> Option<u32> {
        (v != Self::NONE).then_some(u32::from(v))
    }
}

/// The client's view of one request, kept compactly (16 bytes) for the
/// join with the providers' ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientRecord {
    /// Intended send instant, ms since t=0.
    pub intended_ms: u32,
    /// Latency from the intended send, µs (saturating).
    pub latency_us: u32,
    /// Serving provider as the answer stamped it (index into the names given
    /// to [`Recorder::keep_requests`]; scenarios have at most 100), or `NONE`.
    pub served_by: u8,
    /// The HTTP error answer's status and message (index into
    /// [`Recorder::error_messages`]), `ErrorMessages::NONE` without one.
    pub message: u8,
    pub class: u8,
    pub outcome: Outcome,
    pub account: AccountRecord,
}

impl ClientRecord {
    pub const NONE: u8 = u8::MAX;
    /// A slot for a request that was scheduled but never reported (not sent).
    pub const MISSING: ClientRecord = ClientRecord {
        intended_ms: 0,
        latency_us: 0,
        served_by: Self::NONE,
        message: ErrorMessages::NONE,
        class: u8::MAX,
        outcome: Outcome::Dropped,
        account: AccountRecord::EMPTY,
    };

    pub fn is_missing(&self) -> bool {
        self.class == u8::MAX
    }
}

/// The client's check of one answer's content (`Measured::checked`), kept
/// compactly (4 bytes) beside the request's [`ClientRecord`] for the ledger
/// join: the tokens received (24 bits) and the provider whose sequence the
/// content is (8 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerRecord(u32);

impl AnswerRecord {
    /// Not checked (no simulated providers, or no answer that ended).
    pub const NONE: AnswerRecord = AnswerRecord(u32::MAX);
    /// Token counts saturate here.
    pub const MAX_TOKENS: u32 = 0x00FF_FFFE;
    const NO_PROVIDER: u32 = 0xFF;

    pub fn new(c: &Checked) -> Self {
        let provider = c
            .provider
            .map_or(Self::NO_PROVIDER, |p| u32::from(p).min(Self::NO_PROVIDER));
        AnswerRecord(provider << 24 | c.tokens.min(Self::MAX_TOKENS))
    }

    /// Tokens received, when the answer was checked.
    pub fn tokens(self) -> Option<u32> {
        (self != Self::NONE).then_some(self.0 & 0x00FF_FFFF)
    }

    /// The provider whose sequence the content is, when exactly one's is.
    pub fn provider(self) -> Option<u16> {
        let p = self.0 >> 24;
        (self != Self::NONE && p != Self::NO_PROVIDER).then_some(p as u16)
    }
}

/// The client's own timing of one request, kept beside its [`ClientRecord`]
/// (8 bytes) for the gateway-overhead analysis: both from the actual send,
/// in µs (saturating), `NONE` where there is nothing to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTiming {
    /// From the actual send to the end of the answer (`Measured::service`).
    pub service_us: u32,
    /// Streams: from the actual send to the first content token.
    pub ttft_us: u32,
}

impl ClientTiming {
    pub const NONE: u32 = u32::MAX;
    pub const MISSING: ClientTiming = ClientTiming {
        service_us: Self::NONE,
        ttft_us: Self::NONE,
    };

    fn new(r: &RequestResult) -> Self {
        let us = |d: std::time::Duration| d.as_micros().min(u128::from(Self::NONE - 1)) as u32;
        ClientTiming {
            service_us: us(r.m.service),
            // `ttft` runs from the intended send; the lag is the rest.
            ttft_us: r.m.ttft.map_or(Self::NONE, |t| us(t.saturating_sub(r.lag))),
        }
    }

    pub fn get(v: u32) -> Option<u32> {
        (v != Self::NONE).then_some(v)
    }
}

/// One second of the run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SecondRow {
    /// Seconds since t=0.
    pub second: u32,
    /// Requests meant to leave in this second that did (not dropped).
    pub sent: u64,
    /// Completions in this second, by outcome index.
    pub outcomes: [u64; OUTCOMES],
    /// Latency of the requests that completed OK in this second.
    pub latency: Percentiles,
    /// Completions per provider (index into `Recorder::providers`).
    pub served_by: Vec<u64>,
    /// Per traffic class: p99 (ms) of the requests that completed OK in this
    /// second, 0 when none did. The baseline gate's noise test uses these.
    pub class_p99: Vec<f64>,
    /// Per traffic class: `[ok, failed]` completions in this second (cut-off
    /// requests are not counted). For timeseries.csv.
    #[serde(skip)]
    pub class_counts: Vec<[u64; 2]>,
    /// Per traffic class: p50 (ms) likewise, for the gate's p50 noise test.
    #[serde(default)]
    pub class_p50: Vec<f64>,
}

/// The recorder. Fed from one task; not shared.
#[derive(Debug)]
pub struct Recorder {
    pub classes: Vec<ClassStats>,
    /// Schedule lag of every request that was sent.
    pub lag: Hist,
    pub timeline: Vec<SecondRow>,
    /// Provider names seen in `served_by`, in order of first appearance.
    pub providers: Vec<String>,
    /// Requests sent (not dropped) per stage, by intended send instant.
    pub stage_sent: Vec<u64>,
    /// End of each stage, seconds since t=0.
    stage_ends: Vec<f64>,
    /// Per-request records by request number, when a ledger join will need them.
    pub requests: Option<Vec<ClientRecord>>,
    /// The check of each answer's content, by request number, beside
    /// `requests` (a separate vector, so `ClientRecord` keeps its shape).
    pub answers: Vec<AnswerRecord>,
    /// The client's timing of each request, beside `requests` (same index).
    pub timings: Option<Vec<ClientTiming>>,
    /// Where each request's row goes instead of the vectors above, when
    /// set (`keep_requests_in`): memory then does not grow with the run.
    pub store: Option<Box<dyn RequestStore>>,
    /// Provider names for `ClientRecord::served_by`.
    request_providers: Vec<String>,
    /// Which gateways' accounts were seen (`Dialect::bit`s).
    pub account_dialects: u8,
    /// The (status, message) pairs of HTTP error answers, for
    /// `ClientRecord::message`.
    pub error_messages: ErrorMessages,
    interval: Hist,
    /// The open interval per traffic class.
    class_interval: Vec<Hist>,
    /// The streamed outputs, fed every result and every closed second.
    outputs: Vec<Box<dyn Accumulator>>,
    /// Outputs dropped because they panicked (the panic hook has the
    /// message): the run and the other outputs go on.
    broken: Vec<Incomplete>,
    open_second: u32,
}

/// Hands something to every output; an output that panics is dropped and
/// reported as incomplete, so a bug in one file's writer cannot cost the
/// run (the panic is recorded, and the run is INVALID for it).
fn feed(
    outputs: &mut Vec<Box<dyn Accumulator>>,
    broken: &mut Vec<Incomplete>,
    mut f: impl FnMut(&mut dyn Accumulator),
) {
    let mut i = 0;
    while i < outputs.len() {
        let o = &mut outputs[i];
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(o.as_mut()))).is_ok();
        if ok {
            i += 1;
        } else {
            let o = outputs.remove(i);
            broken.push(Incomplete {
                file: o.file(),
                error: anyhow::anyhow!("its writer failed inside slabench (a panic)"),
            });
        }
    }
}

impl std::fmt::Debug for dyn Accumulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Accumulator")
    }
}

impl Recorder {
    pub fn new(class_names: impl IntoIterator<Item = String>) -> Self {
        let classes: Vec<ClassStats> = class_names.into_iter().map(ClassStats::new).collect();
        Recorder {
            class_interval: classes.iter().map(|_| histogram::new()).collect(),
            outputs: Vec::new(),
            broken: Vec::new(),
            classes,
            lag: histogram::new(),
            timeline: Vec::new(),
            providers: Vec::new(),
            stage_sent: Vec::new(),
            stage_ends: Vec::new(),
            requests: None,
            answers: Vec::new(),
            timings: None,
            store: None,
            request_providers: Vec::new(),
            account_dialects: 0,
            error_messages: ErrorMessages::default(),
            interval: histogram::new(),
            open_second: 0,
        }
    }

    /// Keeps a [`ClientRecord`], an [`AnswerRecord`] and a [`ClientTiming`]
    /// per request (28 bytes in all) for the ledger join; `providers` names
    /// the scenario's providers in order.
    pub fn keep_requests(mut self, providers: Vec<String>) -> Self {
        self.requests = Some(Vec::new());
        self.timings = Some(Vec::new());
        self.request_providers = providers;
        self
    }

    /// Hands each request's row (the same three records) to `store` instead of
    /// keeping it: the recorder's memory then does not grow with the run.
    pub fn keep_requests_in(
        mut self,
        providers: Vec<String>,
        store: Box<dyn RequestStore>,
    ) -> Self {
        self.store = Some(store);
        self.request_providers = providers;
        self
    }

    /// Feeds `output` every result and every closed second from now on.
    pub fn with_output(mut self, output: Box<dyn Accumulator>) -> Self {
        self.outputs.push(output);
        self
    }

    /// Counts sends per stage; `ends` are the stages' end instants in seconds.
    pub fn with_stages(mut self, ends: Vec<f64>) -> Self {
        self.stage_sent = vec![0; ends.len()];
        self.stage_ends = ends;
        self
    }

    pub fn record(&mut self, r: &RequestResult) {
        let class = &mut self.classes[r.class];
        let i = r.outcome.index();
        class.counts[i] += 1;
        histogram::record(
            class.latency[i].get_or_insert_with(histogram::new),
            r.m.latency,
        );
        if r.outcome.is_ok() {
            histogram::record(&mut class.service, r.m.service);
            if let Some(t) = r.m.ttft {
                histogram::record(&mut class.ttft, t);
            }
            if let Some(t) = r.m.tpot {
                histogram::record(&mut class.tpot, t);
            }
        }
        class.input_tokens += u64::from(r.m.input_tokens);
        class.output_tokens += u64::from(r.m.output_tokens);

        if !matches!(r.outcome, Outcome::Dropped) {
            histogram::record(&mut self.lag, r.lag);
            self.row(r.intended.as_secs() as u32).sent += 1;
            let at = r.intended.as_secs_f64();
            if let Some(i) = self.stage_ends.iter().position(|end| at < *end) {
                self.stage_sent[i] += 1;
            }
        }
        let done = (r.intended + r.m.latency).as_secs() as u32;
        if done > self.open_second {
            self.close_interval(done);
        }
        self.keep(r);
        let provider = r.m.served_by.as_deref().map(|p| self.provider_index(p));
        let classes = self.classes.len();
        let row = self.row(done);
        row.outcomes[i] += 1;
        if r.outcome.counted() {
            if row.class_counts.len() < classes {
                row.class_counts.resize(classes, [0, 0]);
            }
            row.class_counts[r.class][usize::from(!r.outcome.is_ok())] += 1;
        }
        if let Some(p) = provider {
            if row.served_by.len() <= p {
                row.served_by.resize(p + 1, 0);
            }
            row.served_by[p] += 1;
        }
        // A result for a second already closed (it arrived late) is in the
        // totals and its row's counts, but not in a later second's percentiles.
        if r.outcome.is_ok() && done >= self.open_second {
            histogram::record(&mut self.interval, r.m.latency);
            histogram::record(&mut self.class_interval[r.class], r.m.latency);
        }
        feed(&mut self.outputs, &mut self.broken, |o| o.record(r));
    }

    /// Closes the open interval (its percentiles go to its row) and opens `second`.
    pub fn close_interval(&mut self, second: u32) {
        if second <= self.open_second {
            return;
        }
        let p = Percentiles::of(&self.interval);
        let class_p99: Vec<f64> = self
            .class_interval
            .iter()
            .map(|h| histogram::quantile_ms(h, 0.99))
            .collect();
        let class_p50: Vec<f64> = self
            .class_interval
            .iter()
            .map(|h| histogram::quantile_ms(h, 0.50))
            .collect();
        let open = self.open_second;
        let row = self.row(open);
        row.latency = p;
        row.class_p99 = class_p99;
        row.class_p50 = class_p50;
        let closed = ClosedSecond {
            second: open,
            classes: &self.class_interval,
            all: &self.interval,
            latency: p,
        };
        feed(&mut self.outputs, &mut self.broken, |o| o.second(&closed));
        for h in &mut self.class_interval {
            h.reset();
        }
        self.interval.reset();
        self.open_second = second;
    }

    /// Finishes the timeline at the end of the run, and the streamed
    /// outputs: returns what they could not write.
    pub fn finish(&mut self) -> Vec<Incomplete> {
        let next = self.open_second + 1;
        self.close_interval(next);
        if let Some(store) = self.store.as_mut() {
            store.flush();
        }
        let mut failed = std::mem::take(&mut self.broken);
        failed.extend(self.outputs.iter_mut().filter_map(|o| o.finish()));
        failed
    }

    /// p99 of the last closed second, in ms (for the live progress line).
    pub fn rolling_p99_ms(&self) -> f64 {
        let last = self.open_second.checked_sub(1).map(|s| s as usize);
        last.and_then(|s| self.timeline.get(s))
            .map_or(0.0, |r| r.latency.p99)
    }

    pub fn total_counts(&self) -> [u64; OUTCOMES] {
        let mut total = [0; OUTCOMES];
        for c in &self.classes {
            for (t, n) in total.iter_mut().zip(c.counts) {
                *t += n;
            }
        }
        total
    }

    /// Latency of successful requests over all classes.
    pub fn ok_latency(&self) -> Hist {
        let mut all = histogram::new();
        for h in self.classes.iter().filter_map(ClassStats::ok_latency) {
            all.add(h).expect("same bounds");
        }
        all
    }

    fn provider_index(&mut self, name: &str) -> usize {
        match self.providers.iter().position(|p| p == name) {
            Some(i) => i,
            None => {
                self.providers.push(name.to_string());
                self.providers.len() - 1
            }
        }
    }

    fn row(&mut self, second: u32) -> &mut SecondRow {
        let s = second as usize;
        while self.timeline.len() <= s {
            let second = self.timeline.len() as u32;
            self.timeline.push(SecondRow {
                second,
                ..SecondRow::default()
            });
        }
        &mut self.timeline[s]
    }
}

#[path = "recorder_keep.rs"]
mod keep;
pub use keep::{RequestRow, RequestStore};

#[path = "recorder_state.rs"]
mod state;
pub use state::{ClassState, MessageState, RecorderState, SecondState};

#[cfg(test)]
#[path = "recorder_tests.rs"]
mod tests;
