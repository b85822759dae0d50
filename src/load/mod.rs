//! The load generator: arrival schedule, request building, client, generator health.

pub mod client;
mod conn;
pub mod gateway_headers;
pub mod generator;
mod lane;
pub mod request;
pub mod schedule;
pub mod shard;
pub mod sse;
mod timer;
