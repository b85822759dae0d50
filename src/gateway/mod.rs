//! The built-in reference gateway: routes, retries, circuit breaker.

pub mod breaker;
