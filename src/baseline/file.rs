//! The baseline file: one run in the compact form the gate compares.
//!
//! It holds what the comparison needs and nothing that grows with the number
//! of requests: per traffic class the ok-latency histogram (HdrHistogram V2 +
//! deflate, base64) and the per-second p50/p99 series (the noise test
//! resamples seconds), the uptime counts, time to failover per fault window,
//! and the run's summary with its per-request lists left out. A fingerprint of
//! what makes two runs comparable (scenario name, stages, arrival process,
//! traffic classes) guards against comparing unlike runs; provider profiles
//! and faults are deliberately not in it, since a slower provider is exactly
//! the change the gate must catch.
//!
//! Every run writes one into its directory as `baseline.json`, so
//! `slabench compare` accepts a run directory as the candidate and any run
//! can be promoted to the baseline by copying that file.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use super::error::BaselineError;
use crate::metrics::histogram::Hist;
use crate::metrics::recorder::Recorder;
use crate::results::Summary;
use crate::scenario::{Arrival, Scenario};

/// Bumped when a field the comparison reads changes meaning or shape.
pub const SCHEMA_VERSION: u32 = 1;
/// The `format` value that marks a baseline file.
pub const FORMAT: &str = "slabench-baseline";
/// A run directory's copy of the run in baseline form.
pub const RUN_FILE: &str = "baseline.json";

/// One run, as the gate stores and compares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub format: String,
    pub schema_version: u32,
    pub slabench_version: String,
    pub scenario: String,
    pub seed: u64,
    pub started_at: String,
    pub fingerprint: Fingerprint,
    /// The scenario's `[gate]`, the default for `slabench compare`.
    pub gate: GateSettings,
    pub classes: Vec<ClassRecord>,
    pub uptime: UptimeCounts,
    /// Fault windows of the built-in analysis; empty without simulated providers.
    pub failover_windows: Vec<WindowRecord>,
    /// The run's summary.json, without its per-event and per-second lists.
    pub summary: serde_json::Value,
}

/// What must be equal for two runs to be compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub scenario: String,
    /// `hold 1200 rpm for 15s`, `ramp 0 → 600 rpm over 30s`.
    pub stages: Vec<String>,
    pub arrival: String,
    /// `chat: weight 80, model default, 300 → 120 tokens, not streamed`.
    pub classes: Vec<String>,
    /// FNV-1a 64 of the above, for a quick look.
    pub digest: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GateSettings {
    pub tolerance: f64,
    pub floor_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassRecord {
    pub name: String,
    /// Latency of successful requests, µs: V2 + deflate, base64.
    pub ok_latency: String,
    /// Per second since t=0: p50 and p99 (ms) of the requests that completed
    /// OK in that second; 0 where none did.
    pub p50_per_second: Vec<f64>,
    pub p99_per_second: Vec<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UptimeCounts {
    pub ok: u64,
    pub counted: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowRecord {
    pub provider: String,
    pub fault: String,
    pub start_s: f64,
    pub end_s: Option<f64>,
    /// `None`: first attempts never left the provider (when `state` is
    /// measured or never).
    pub time_to_failover_s: Option<f64>,
    /// Whether there was a reaction to time (absent in baselines written
    /// before window states: read as measured).
    #[serde(default)]
    pub state: crate::analysis::failover::WindowState,
}

impl Fingerprint {
    pub fn of(sc: &Scenario) -> Self {
        let stages = crate::scenario::describe_stages(&sc.load.stages);
        let arrival = match sc.load.arrival {
            Arrival::Constant => "constant",
            Arrival::Poisson => "poisson",
        }
        .to_string();
        let classes = sc
            .traffic
            .iter()
            .map(|c| {
                format!(
                    "{}: weight {}, model {}, {} → {} tokens, {}",
                    c.name,
                    c.weight,
                    c.model,
                    c.prompt_tokens,
                    c.max_tokens,
                    if c.stream { "streamed" } else { "not streamed" }
                )
            })
            .collect();
        let mut f = Fingerprint {
            scenario: sc.name.clone(),
            stages,
            arrival,
            classes,
            digest: String::new(),
        };
        f.digest = f.compute_digest();
        f
    }

    fn compute_digest(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let parts = std::iter::once(&self.scenario)
            .chain(&self.stages)
            .chain(std::iter::once(&self.arrival))
            .chain(&self.classes);
        for part in parts {
            for b in part.bytes().chain(std::iter::once(0)) {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        format!("{h:016x}")
    }

    /// What differs, in words; empty when the runs are comparable.
    pub fn differences(&self, other: &Fingerprint) -> Vec<String> {
        let mut out = Vec::new();
        if self.scenario != other.scenario {
            out.push(format!(
                "scenario: baseline \"{}\", this run \"{}\"",
                self.scenario, other.scenario
            ));
        }
        let mut list = |what: &str, a: &[String], b: &[String]| {
            if a != b {
                out.push(format!(
                    "{what}: baseline [{}], this run [{}]",
                    a.join("; "),
                    b.join("; ")
                ));
            }
        };
        list("stages", &self.stages, &other.stages);
        list(
            "arrival",
            std::slice::from_ref(&self.arrival),
            std::slice::from_ref(&other.arrival),
        );
        list("traffic classes", &self.classes, &other.classes);
        out
    }
}

impl Baseline {
    /// The run in baseline form.
    pub fn of_run(sc: &Scenario, rec: &Recorder, summary: &Summary) -> anyhow::Result<Self> {
        let classes = rec
            .classes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let series = |pick: fn(&crate::metrics::recorder::SecondRow) -> &Vec<f64>| {
                    rec.timeline
                        .iter()
                        .map(|row| pick(row).get(i).copied().unwrap_or(0.0))
                        .collect()
                };
                Ok(ClassRecord {
                    name: c.name.clone(),
                    ok_latency: encode(
                        c.ok_latency().unwrap_or(&crate::metrics::histogram::new()),
                    )?,
                    p50_per_second: series(|r| &r.class_p50),
                    p99_per_second: series(|r| &r.class_p99),
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let failover_windows = summary
            .failover
            .iter()
            .flat_map(|f| &f.windows)
            .map(|w| WindowRecord {
                provider: w.provider.clone(),
                fault: w.fault.clone(),
                start_s: w.start_s,
                end_s: w.end_s,
                time_to_failover_s: w.time_to_failover_s,
                state: w.state,
            })
            .collect();
        let mut json = serde_json::to_value(summary)?;
        if let Some(f) = json.get_mut("failover").and_then(|f| f.as_object_mut()) {
            f.remove("event_list");
            f.remove("per_second");
        }
        Ok(Baseline {
            format: FORMAT.into(),
            schema_version: SCHEMA_VERSION,
            slabench_version: env!("CARGO_PKG_VERSION").into(),
            scenario: sc.name.clone(),
            seed: sc.seed,
            started_at: summary.scenario.started_at.clone(),
            fingerprint: Fingerprint::of(sc),
            gate: GateSettings {
                tolerance: sc.gate.tolerance,
                floor_ms: sc.gate.floor.as_secs_f64() * 1000.0,
            },
            classes,
            uptime: UptimeCounts {
                ok: summary.requests.ok,
                counted: summary.requests.counted,
            },
            failover_windows,
            summary: json,
        })
    }

    /// Reads a baseline file, or a run directory's `baseline.json`; checks
    /// the format and schema version before anything else, so that a file
    /// from another version is refused for its version, not for a field.
    pub fn load(path: &Path) -> Result<(Self, PathBuf), BaselineError> {
        let file = if path.is_dir() {
            path.join(RUN_FILE)
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|source| BaselineError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        let not = |reason: String| BaselineError::NotABaseline {
            file: file.clone(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| not(format!("invalid JSON ({e})")))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(not(format!("it has no \"format\": \"{FORMAT}\"")));
        }
        let version = value.get("schema_version").and_then(|v| v.as_u64());
        match version {
            Some(v) if v == u64::from(SCHEMA_VERSION) => {}
            Some(found) => {
                return Err(BaselineError::SchemaVersion {
                    file,
                    found,
                    supported: SCHEMA_VERSION,
                })
            }
            None => return Err(not("it has no integer \"schema_version\"".into())),
        }
        let baseline: Baseline = serde_json::from_value(value).map_err(|e| not(e.to_string()))?;
        for c in &baseline.classes {
            decode(&c.ok_latency).map_err(|e| not(format!("class {}: {e}", c.name)))?;
        }
        Ok((baseline, file))
    }

    /// Writes the baseline as pretty JSON (it is meant to be committed and diffed).
    pub fn save(&self, file: &Path) -> Result<(), BaselineError> {
        let write = |source| BaselineError::Write {
            file: file.to_path_buf(),
            source,
        };
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(write)?;
        }
        let json = serde_json::to_vec_pretty(self).expect("a baseline serialises");
        // Complete or absent under its name: a full disk must not leave a
        // truncated baseline that the next run would read.
        crate::atomic_file::write_file(file, |out| Ok(out.write_all(&json)?))
            .map_err(|e| write(std::io::Error::other(format!("{e:#}"))))
    }

    /// The ok-latency histogram of class `i`.
    /// Each class's whole-run latency histogram, in `classes` order
    /// (`None` for a class the baseline does not have).
    pub fn curves(&self, classes: &[String]) -> Vec<Option<Hist>> {
        classes
            .iter()
            .map(|name| {
                self.classes
                    .iter()
                    .position(|c| &c.name == name)
                    .map(|k| self.histogram(k))
            })
            .collect()
    }

    pub fn histogram(&self, i: usize) -> Hist {
        decode(&self.classes[i].ok_latency).expect("checked when loaded or built")
    }
}

/// A histogram as V2 + deflate, base64 (standard alphabet, padded).
pub fn encode(h: &Hist) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .map_err(|e| anyhow::anyhow!("serialising a histogram: {e:?}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The inverse of [`encode`].
pub fn decode(s: &str) -> Result<Hist, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| format!("histogram is not base64: {e}"))?;
    let h: Hist = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("histogram does not decode: {e:?}"))?;
    // Bring it to the project's bounds so it merges and compares exactly.
    let mut out = crate::metrics::histogram::new();
    out.add(&h)
        .map_err(|e| format!("histogram out of bounds: {e:?}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Stage;
    use std::time::Duration;

    #[test]
    fn histograms_round_trip_exactly() {
        let mut h = crate::metrics::histogram::new();
        for ms in 1..=2000u64 {
            crate::metrics::histogram::record(&mut h, Duration::from_micros(ms * 997));
        }
        let back = decode(&encode(&h).unwrap()).unwrap();
        assert_eq!(back, h);
        assert!(decode("not base64!").is_err());
        assert!(decode("aGVsbG8=").is_err());
    }

    #[test]
    fn fingerprints_name_what_differs() {
        let a = crate::providers::testing::scenario(1, 1);
        let mut b = a.clone();
        assert!(Fingerprint::of(&a)
            .differences(&Fingerprint::of(&b))
            .is_empty());
        b.name = "other".into();
        b.load.stages = vec![Stage::Hold {
            rpm: 120.0,
            duration: Duration::from_secs(10),
        }];
        let diff = Fingerprint::of(&a).differences(&Fingerprint::of(&b));
        assert_eq!(diff.len(), 2, "{diff:?}");
        assert!(diff[0].contains("\"providers-test\"") && diff[0].contains("\"other\""));
        assert!(diff[1].contains("hold 60 rpm for 10s") && diff[1].contains("hold 120 rpm"));
        assert_ne!(Fingerprint::of(&a).digest, Fingerprint::of(&b).digest);
        // Seeds and provider profiles do not make runs incomparable.
        b = a.clone();
        b.seed = 99;
        b.providers[0].profile.ttft = crate::scenario::LatencyDist::Fixed(Duration::from_secs(1));
        assert_eq!(Fingerprint::of(&a), Fingerprint::of(&b));
    }
}
