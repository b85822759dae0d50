//! Simulated LLM providers: fault model, server, ledger, OpenAI bodies, SSE.

pub mod ledger;
