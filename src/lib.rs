//! slabench: load-testing and SLA verification for LLM API gateways.
//!
//! The pipeline is `scenario` → (`providers`, `gateway`, `load`) → `metrics`
//! → `analysis` → `report`; [`run`] drives it so that integration tests can
//! run the whole tool in-process.

pub mod analysis;
pub mod atomic_file;
pub mod baseline;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod crash;
pub mod exit;
pub mod fmt;
pub mod gateway;

pub mod load;
pub mod metrics;
pub mod openai;
pub mod ports;
pub mod protocol;
pub mod providers;
pub mod report;
pub mod results;
pub mod run;
pub mod scenario;
pub mod stack;
