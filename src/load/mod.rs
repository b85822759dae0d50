//! The load generator: arrival schedule, request building, client, generator health.

pub mod client;
pub mod gateway_headers;
pub mod generator;
pub mod request;
pub mod schedule;
pub mod sse;
