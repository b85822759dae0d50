//! Live metrics for Prometheus (`--metrics-addr`): an HTTP endpoint that
//! serves OpenMetrics text at `/metrics` while a run (or a mock, or the
//! built-in gateway) goes on, and for a linger after it.
//!
//! The exposition format is prometheus-client's; what it shows comes from
//! the same data the reports are built from: a run's counters and
//! latency histograms are fed by the run's one recording loop
//! (`run.rs`, an [`crate::metrics::accumulate::Accumulator`]), and its
//! final values (verdict, attempts, failover events, error budget) from
//! the finished `Summary`. A series that was not measured is absent, never
//! a zero.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub mod gateway;
pub mod gauges;
pub mod providers;
pub mod run;

/// The content type of OpenMetrics text, which Prometheus asks for first.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long the endpoint stays up after the work ends by default, so
/// that the last scrape sees the final values: one default Prometheus
/// scrape interval (15 s in its example configuration).
pub const DEFAULT_LINGER: Duration = Duration::from_secs(15);

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExporterError {
    #[error("--metrics-addr {addr} is not a loopback address")]
    NotLoopback { addr: SocketAddr },
    #[error("--metrics-addr {addr}: cannot listen there")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl crate::exit::Advice for ExporterError {
    fn help(&self) -> Option<String> {
        match self {
            ExporterError::NotLoopback { .. } => Some(
                "use 127.0.0.1:PORT or [::1]:PORT, or pass --metrics-allow-remote to serve \
                 the metrics to other machines"
                    .into(),
            ),
            ExporterError::Bind { .. } => Some(
                "pick a free port (`ss -ltn` lists the ones in use), or port 0 for any free one"
                    .into(),
            ),
        }
    }
}

/// The running endpoint.
pub struct Exporter {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Exporter {
    /// Serves `registry` on `addr`. Only loopback unless `allow_remote`.
    pub async fn start(
        addr: SocketAddr,
        allow_remote: bool,
        registry: Registry,
    ) -> Result<Exporter, ExporterError> {
        if !allow_remote && !addr.ip().is_loopback() {
            return Err(ExporterError::NotLoopback { addr });
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ExporterError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ExporterError::Bind { addr, source })?;
        let (shutdown, stop) = watch::channel(false);
        let task = tokio::spawn(accept(listener, Arc::new(registry), stop));
        Ok(Exporter {
            addr,
            shutdown,
            task,
        })
    }

    /// Where it listens (the real port when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Keeps serving for `linger` after the work ended, or until `until`
    /// completes (an interrupt after the work), then stops and frees the port.
    pub async fn linger(self, linger: Duration, until: impl std::future::Future<Output = ()>) {
        if !linger.is_zero() {
            eprintln!(
                "metrics: final values at http://{}/metrics for {} (--metrics-linger; Ctrl-C ends it)",
                self.addr,
                humantime::format_duration(linger)
            );
            tokio::select! {
                _ = tokio::time::sleep(linger) => {}
                _ = until => {}
            }
        }
        self.stop().await;
    }

    /// Stops at once.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// Completes with the next change of `stop` after now: an interrupt after
/// the work (an interrupted run lingers too, so that a shard stopped by
/// SIGTERM still shows its INTERRUPTED verdict).
pub fn next_change<T>(mut stop: watch::Receiver<T>) -> impl std::future::Future<Output = ()> {
    stop.borrow_and_update();
    async move {
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Completes once `stop` is true (at once if it is); never if its sender
/// is gone without it.
async fn turns_true(mut stop: watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

async fn accept(listener: TcpListener, registry: Arc<Registry>, stop: watch::Receiver<bool>) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors, say: the next scrape retries.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = turns_true(stop.clone()) => return,
        };
        let registry = registry.clone();
        let service = service_fn(move |req| {
            let registry = registry.clone();
            async move { Ok::<_, Infallible>(answer(&req, &registry)) }
        });
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer(req: &Request<Incoming>, registry: &Registry) -> Response<Full<Bytes>> {
    let reply = |status, kind: &str, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", kind)
            .body(Full::new(Bytes::from(body)))
            .expect("static headers are valid")
    };
    match req.uri().path() {
        "/metrics" => {
            let mut body = String::with_capacity(16 * 1024);
            match prometheus_client::encoding::text::encode(&mut body, registry) {
                Ok(()) => reply(StatusCode::OK, CONTENT_TYPE, body),
                Err(_) => reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    "encoding the metrics failed\n".into(),
                ),
            }
        }
        "/" => reply(
            StatusCode::OK,
            "text/plain",
            "slabench metrics: GET /metrics\n".into(),
        ),
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}
