//! Comparing a run with a stored baseline (the p99 regression gate).
