//! Failover analysis, uptime, cost and the SLA verdict.

pub mod account;
pub mod budget;
pub mod failover;
pub mod gateway_errors;
pub mod groups;
pub mod obedience;
pub mod refusals;
pub mod sla;
pub mod start;
pub mod uptime;
pub mod verdict;

pub use verdict::{Check, CheckKind, CheckState, Verdict};
