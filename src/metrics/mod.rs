//! Latency recording (HdrHistogram), per-second timeline, outcome classes.
