//! The built-in reference gateway: the router teams deploy in front of LLM
//! providers (a cheap default, fallbacks on errors, a premium tier), with
//! routes, retries, `Retry-After`, and a circuit breaker per provider.
//!
//! It speaks the OpenAI chat-completions API on a loopback port:
//! `POST /v1/chat/completions` and `GET /health`. The request body goes to
//! each provider unchanged, with the client's `x-slabench-request` header.
//! Every answer says what happened:
//!
//! - `x-slabench-served-by: qwen`: the provider whose answer this is;
//! - `x-slabench-attempts: flash:503,flash:timeout,qwen:200`: every attempt
//!   in order, as `provider:outcome` with outcome a status or `timeout`,
//!   `connect`, `broken`, `error_event` (a stream with an error before its
//!   first content), `malformed` (a success status whose body is not a chat
//!   completion, or a stream broken before its first content). A stream's
//!   last entry is the status its answer began with;
//!   what became of the stream afterwards cannot be in a header;
//! - `x-slabench-skipped: flash`: providers passed over with an open breaker
//!   or cooling down after a `Retry-After`;
//! - `x-slabench-provider`: passed through from the provider's answer.
//!
//! Layout: [`breaker`] is the pure state machine, `cooldown` the
//! provider-wide `Retry-After`, `classify` what an answer or the start of a
//! stream means, `upstream` one attempt on one provider, `router` the
//! route/retry/failover loop and its rules, `body` the streaming relay,
//! `reply` the responses, `server` the hyper front, `stats` what it counts
//! about itself for the live metrics ([`Watch`]).

mod body;
pub mod breaker;
mod classify;
mod cooldown;
mod reply;
mod router;
mod server;
mod stats;
mod upstream;

use std::future::Future;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use breaker::BreakerState;
pub use stats::{ProviderSnapshot, Snapshot, OTHER_MODEL};

use crate::scenario::BuiltinGateway;

// The response headers it writes are defined with the rest of the
// protocol.
pub use crate::protocol::{ATTEMPTS_HEADER, SERVED_BY_HEADER, SKIPPED_HEADER};

/// A running built-in gateway. Dropping it stops it too (in the background);
/// [`BuiltinGatewayServer::shutdown`] stops it and waits until the port is free.
pub struct BuiltinGatewayServer {
    addr: SocketAddr,
    router: Arc<router::Router>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl BuiltinGatewayServer {
    /// Binds `127.0.0.1:{cfg.port}` (0: any free port) and starts serving.
    /// `upstreams` maps provider names (as `cfg.routes` uses them) to base
    /// URLs; requests go to `{base}/v1/chat/completions`.
    pub async fn start(
        cfg: &BuiltinGateway,
        upstreams: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let router = Arc::new(router::Router::new(cfg, upstreams).context("built-in gateway")?);
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, cfg.port))
            .await
            .with_context(|| {
                let holder = match cfg.port {
                    0 => String::new(),
                    port => crate::ports::held_by(port),
                };
                format!(
                    "built-in gateway: cannot listen on 127.0.0.1:{} (gateway.port){holder}",
                    cfg.port
                )
            })?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(server::serve(listener, Arc::clone(&router), stopped));
        Ok(BuiltinGatewayServer {
            addr,
            router,
            stop,
            task,
        })
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Each provider's breaker state now, in the order `upstreams` gave them.
    pub fn breaker_states(&self) -> Vec<(String, BreakerState)> {
        self.router
            .breaker_states()
            .map(|(name, state)| (name.to_owned(), state))
            .collect()
    }

    /// Stops accepting (the port is free when this returns), lets responses
    /// being written finish for a short grace period, and ends the rest.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        // The serve task never panics; a JoinError here could only be a
        // runtime shutting down, and then there is nothing left to wait for.
        let _ = self.task.await;
    }
}

/// What a running gateway counts about itself, to read live: empty until
/// the gateway it was given to serves (the exporter is registered first).
#[derive(Clone, Default)]
pub struct Watch(Arc<OnceLock<Arc<router::Router>>>);

impl Watch {
    /// The counts so far and each provider's state now; `None` before the
    /// gateway serves.
    pub fn snapshot(&self) -> Option<Snapshot> {
        self.0.get().map(|r| r.snapshot())
    }
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let serving = self.0.get().is_some();
        f.debug_struct("Watch").field("serving", &serving).finish()
    }
}

/// `slabench gateway`: serves until `stop` completes, after printing the
/// URL (first line, alone, for scripts) and the routes to `out`; `watch`
/// reads its counters meanwhile. `stop`'s error, if any, is returned after
/// the gateway has shut down.
pub async fn serve_watched(
    cfg: &BuiltinGateway,
    upstreams: &[(String, String)],
    out: &mut impl Write,
    stop: impl Future<Output = anyhow::Result<()>>,
    watch: &Watch,
) -> anyhow::Result<()> {
    let server = BuiltinGatewayServer::start(cfg, upstreams).await?;
    let _ = watch.0.set(Arc::clone(&server.router));
    writeln!(out, "{}", server.url())?;
    for (model, providers) in &cfg.routes {
        writeln!(out, "  {model} → {}", providers.join(", "))?;
    }
    out.flush()?;
    let result = stop.await;
    server.shutdown().await;
    result
}

/// As [`serve_watched`], unwatched.
pub async fn serve_until(
    cfg: &BuiltinGateway,
    upstreams: &[(String, String)],
    out: &mut impl Write,
    stop: impl Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    serve_watched(cfg, upstreams, out, stop, &Watch::default()).await
}
