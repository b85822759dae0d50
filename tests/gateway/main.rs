//! The built-in gateway over real sockets, with wiremock servers (and, where
//! wiremock cannot go, a raw TCP provider) as the providers behind it.
//! Assertions are about outcomes, headers and what providers received; time
//! only ever appears as a generous bound.

mod api;
mod breaker;
mod failover;
mod obedience;
mod sim;
mod streaming;
mod support;
