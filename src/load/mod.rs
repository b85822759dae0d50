//! The load generator: arrival schedule, request building, client, generator health.
