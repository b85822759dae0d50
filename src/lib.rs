//! slabench: load-testing and SLA verification for LLM API gateways.
//!
//! The pipeline is `scenario` → (`providers`, `gateway`, `stack`, `load`)
//! → `metrics` → `analysis` → `results` → (`report`, `baseline`); [`run`]
//! drives it so that integration tests can run the whole tool in-process,
//! and `commands` maps each subcommand to exit codes (`exit`).
//! ARCHITECTURE.md in the repository is the map: what each module owns and
//! must not depend on, and the invariants.

pub mod analysis;
pub mod answer;
pub mod atomic_file;
pub mod baseline;
pub mod capacity;
pub mod cli;
pub mod cli_docs;
pub mod clock;
pub mod commands;
pub mod connwatch;
pub mod crash;
pub mod exit;
pub mod exporter;
pub mod fmt;
pub mod gateway;

pub mod load;
pub mod merge;
pub mod metrics;
pub mod openai;
pub mod ports;
pub mod protocol;
pub mod providers;
pub mod report;
pub mod results;
pub mod run;
pub mod scenario;
pub mod scorecard;
pub mod shard;
pub mod stack;
pub mod term;
