//! Failover analysis, uptime, cost and the SLA verdict.
