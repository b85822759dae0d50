//! Simulated LLM providers: fault model, server, ledger, OpenAI bodies, SSE.

pub mod fault;
pub mod ledger;
pub mod rate_limit;
pub mod sample;
pub mod testing;
