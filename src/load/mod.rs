//! The load generator: arrival schedule, request building, client, generator health.

pub mod account;
pub mod client;
pub mod generator;
pub mod request;
pub mod schedule;
pub mod sse;
