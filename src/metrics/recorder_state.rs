//! The recorder's measurements as plain data, for a run's `shard/` folder
//! (`recorder.json`, see docs/shard-layout.md): histograms as V2 + deflate
//! base64 (exact), counts, tokens, the per-second rows, the sends per
//! stage, the providers seen and the error-message table. A recorder read
//! back from it is the one that was written ([`Recorder::from_state`]), and
//! recorders of shards of one schedule add up exactly ([`Recorder::merge`]).

use serde::{Deserialize, Serialize};

use super::{ClassStats, Recorder, SecondRow};
use crate::metrics::histogram::{self, Hist, Percentiles};
use crate::metrics::messages::{ErrorMessage, ErrorMessages};
use crate::metrics::Outcome;

/// A [`Recorder`]'s measurements (not its streamed outputs or open interval).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecorderState {
    /// `Outcome` names in index order: every `counts`/`outcomes` array
    /// below is in this order (a reader refuses another order).
    pub outcomes: Vec<String>,
    pub classes: Vec<ClassState>,
    /// Schedule lag of every request sent.
    pub lag: String,
    pub timeline: Vec<SecondState>,
    /// Provider names in `served_by` order.
    pub providers: Vec<String>,
    pub stage_sent: Vec<u64>,
    pub stage_ends: Vec<f64>,
    /// The names `ClientRecord::served_by` indexes.
    pub request_providers: Vec<String>,
    pub account_dialects: u8,
    /// The table `ClientRecord::message` indexes.
    pub error_messages: Vec<MessageState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassState {
    pub name: String,
    pub counts: Vec<u64>,
    /// Latency by outcome (`null`: none recorded).
    pub latency: Vec<Option<String>>,
    pub service: String,
    pub ttft: String,
    pub tpot: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// One second: the row, with its per-class counts (which summary.json
/// leaves out of the row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecondState {
    pub row: SecondRow,
    pub class_counts: Vec<[u64; 2]>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageState {
    pub status: u16,
    pub error_type: String,
    pub message: String,
}

fn names() -> Vec<String> {
    Outcome::ALL.iter().map(|o| o.name().to_string()).collect()
}

fn counts_of(v: &[u64], what: &str) -> Result<[u64; super::OUTCOMES], String> {
    v.try_into().map_err(|_| {
        format!(
            "{what} has {} outcome counts, not {}",
            v.len(),
            super::OUTCOMES
        )
    })
}

impl ClassStats {
    fn state(&self) -> ClassState {
        ClassState {
            name: self.name.clone(),
            counts: self.counts.to_vec(),
            latency: self
                .latency
                .iter()
                .map(|h| h.as_ref().map(histogram::encode))
                .collect(),
            service: histogram::encode(&self.service),
            ttft: histogram::encode(&self.ttft),
            tpot: histogram::encode(&self.tpot),
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
        }
    }

    fn from_state(s: &ClassState) -> Result<ClassStats, String> {
        let at = |e: String| format!("class {}: {e}", s.name);
        if s.latency.len() != super::OUTCOMES {
            return Err(at(format!("{} latency histograms", s.latency.len())));
        }
        Ok(ClassStats {
            name: s.name.clone(),
            counts: counts_of(&s.counts, &format!("class {}", s.name))?,
            latency: s
                .latency
                .iter()
                .map(|h| h.as_deref().map(histogram::decode).transpose())
                .collect::<Result<_, _>>()
                .map_err(at)?,
            service: histogram::decode(&s.service).map_err(at)?,
            ttft: histogram::decode(&s.ttft).map_err(at)?,
            tpot: histogram::decode(&s.tpot).map_err(at)?,
            input_tokens: s.input_tokens,
            output_tokens: s.output_tokens,
        })
    }

    fn add(&mut self, o: &ClassStats) {
        for (a, b) in self.counts.iter_mut().zip(o.counts) {
            *a += b;
        }
        for (a, b) in self.latency.iter_mut().zip(&o.latency) {
            if let Some(b) = b {
                a.get_or_insert_with(histogram::new)
                    .add(b)
                    .expect("same bounds");
            }
        }
        for (a, b) in [
            (&mut self.service, &o.service),
            (&mut self.ttft, &o.ttft),
            (&mut self.tpot, &o.tpot),
        ] {
            a.add(b).expect("same bounds");
        }
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
    }
}

impl Recorder {
    /// The measurements, as data.
    pub fn to_state(&self) -> RecorderState {
        RecorderState {
            outcomes: names(),
            classes: self.classes.iter().map(ClassStats::state).collect(),
            lag: histogram::encode(&self.lag),
            timeline: self
                .timeline
                .iter()
                .map(|r| SecondState {
                    row: r.clone(),
                    class_counts: r.class_counts.clone(),
                })
                .collect(),
            providers: self.providers.clone(),
            stage_sent: self.stage_sent.clone(),
            stage_ends: self.stage_ends.clone(),
            request_providers: self.request_providers.clone(),
            account_dialects: self.account_dialects,
            error_messages: self
                .error_messages
                .entries()
                .iter()
                .map(|e| MessageState {
                    status: e.status,
                    error_type: e.error_type.clone(),
                    message: e.message.clone(),
                })
                .collect(),
        }
    }

    /// The recorder `to_state` was taken from (finished: no open interval,
    /// no outputs, no per-request store); the error says what is wrong.
    pub fn from_state(s: &RecorderState) -> Result<Recorder, String> {
        if s.outcomes != names() {
            return Err(format!(
                "its outcomes are {:?}, this slabench's are {:?}",
                s.outcomes,
                names()
            ));
        }
        let mut rec = Recorder::new(s.classes.iter().map(|c| c.name.clone()));
        rec.classes = s
            .classes
            .iter()
            .map(ClassStats::from_state)
            .collect::<Result<_, _>>()?;
        rec.lag = histogram::decode(&s.lag).map_err(|e| format!("lag: {e}"))?;
        rec.timeline = s
            .timeline
            .iter()
            .map(|t| SecondRow {
                class_counts: t.class_counts.clone(),
                ..t.row.clone()
            })
            .collect();
        rec.providers = s.providers.clone();
        rec.stage_sent = s.stage_sent.clone();
        rec.stage_ends = s.stage_ends.clone();
        rec.request_providers = s.request_providers.clone();
        rec.account_dialects = s.account_dialects;
        rec.error_messages = ErrorMessages::from_entries(
            s.error_messages
                .iter()
                .map(|m| ErrorMessage {
                    status: m.status,
                    message: m.message.clone(),
                    error_type: m.error_type.clone(),
                })
                .collect(),
        );
        rec.open_second = rec.timeline.len() as u32;
        Ok(rec)
    }

    /// Adds another shard's measurements of the same scenario: histograms
    /// added, counts, tokens, rows and sends per stage summed, the
    /// providers seen joined (rows' `served_by` follow this recorder's
    /// order). The error-message table is not merged here (the rows'
    /// indices need remapping: [`ErrorMessages::absorb`]). Per-second
    /// percentiles are left to [`Recorder::set_second`].
    pub fn merge(&mut self, o: &Recorder) -> Result<(), String> {
        let mine: Vec<&str> = self.classes.iter().map(|c| c.name.as_str()).collect();
        let theirs: Vec<&str> = o.classes.iter().map(|c| c.name.as_str()).collect();
        if mine != theirs {
            return Err(format!("traffic classes {theirs:?}, not {mine:?}"));
        }
        for (a, b) in self.classes.iter_mut().zip(&o.classes) {
            a.add(b);
        }
        self.lag.add(&o.lag).expect("same bounds");
        let column: Vec<usize> = o.providers.iter().map(|p| self.provider_index(p)).collect();
        for r in &o.timeline {
            self.add_row(r, &column);
        }
        if self.stage_sent.len() < o.stage_sent.len() {
            self.stage_sent.resize(o.stage_sent.len(), 0);
        }
        for (a, b) in self.stage_sent.iter_mut().zip(&o.stage_sent) {
            *a += b;
        }
        if self.stage_ends.is_empty() {
            self.stage_ends = o.stage_ends.clone();
        }
        self.account_dialects |= o.account_dialects;
        self.open_second = self.open_second.max(o.open_second);
        Ok(())
    }

    fn add_row(&mut self, r: &SecondRow, column: &[usize]) {
        let row = self.row(r.second);
        row.sent += r.sent;
        for (a, b) in row.outcomes.iter_mut().zip(r.outcomes) {
            *a += b;
        }
        for (i, n) in r.served_by.iter().enumerate() {
            let c = column[i];
            if row.served_by.len() <= c {
                row.served_by.resize(c + 1, 0);
            }
            row.served_by[c] += n;
        }
        if row.class_counts.len() < r.class_counts.len() {
            row.class_counts.resize(r.class_counts.len(), [0, 0]);
        }
        for (a, b) in row.class_counts.iter_mut().zip(&r.class_counts) {
            a[0] += b[0];
            a[1] += b[1];
        }
    }

    /// Sets second `second`'s latency percentiles from its per-class
    /// interval histograms (OK latency of what completed in it), as the
    /// recorder does when it closes a second.
    pub fn set_second(&mut self, second: u32, classes: &[Hist]) {
        let mut all = histogram::new();
        for h in classes {
            all.add(h).expect("same bounds");
        }
        let q = |p: f64| -> Vec<f64> {
            classes
                .iter()
                .map(|h| histogram::quantile_ms(h, p))
                .collect()
        };
        let (p99, p50) = (q(0.99), q(0.50));
        let row = self.row(second);
        row.latency = Percentiles::of(&all);
        row.class_p99 = p99;
        row.class_p50 = p50;
    }
}

#[cfg(test)]
#[path = "recorder_state_tests.rs"]
mod tests;
