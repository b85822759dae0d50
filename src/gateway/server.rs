//! The HTTP front: hyper 1 (HTTP/1.1, keep-alive) on a loopback port,
//! dispatching `POST /v1/chat/completions` and `GET /health`, and shutting
//! down on request.
//!
//! Shutdown closes the listener first (the port is free once `shutdown`
//! returns), asks every connection to finish the response it is writing and
//! close, and aborts whatever still runs after [`SHUTDOWN_GRACE`]: by the
//! time a run stops its gateway, the generator has already given up on
//! anything still in flight.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::body::GatewayBody;
use super::reply;
use super::router::Router;

pub(crate) const CHAT_PATH: &str = "/v1/chat/completions";
pub(crate) const HEALTH_PATH: &str = "/health";
/// Request bodies above this are refused (413).
const MAX_BODY: usize = 16 << 20;
/// How long in-flight responses may still finish after shutdown begins.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_millis(250);

/// Accepts connections until `stop` changes (or its sender is dropped), then
/// shuts down as described in the module comment.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Arc<Router>,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    conns.spawn(connection(stream, Arc::clone(&router), stop.clone()));
                }
                // Out of file descriptors and the like: the connection is
                // lost, the gateway is not. Pause so a persistent error does
                // not spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            },
            // Reap finished connections so the set stays the size of the
            // open ones.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drained = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drained).await.is_err() {
        conns.shutdown().await;
    }
}

async fn connection(stream: TcpStream, router: Arc<Router>, mut stop: watch::Receiver<bool>) {
    // Small writes (SSE chunks, short JSON) must not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |req| {
        let router = Arc::clone(&router);
        async move { Ok::<_, Infallible>(handle(&router, req).await) }
    });
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        // A connection error (client went away) ends only this connection.
        _ = conn.as_mut() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

async fn handle(router: &Router, req: Request<Incoming>) -> Response<GatewayBody> {
    match (req.method(), req.uri().path()) {
        (&Method::POST, CHAT_PATH) => {
            let (parts, body) = req.into_parts();
            match read_body(body).await {
                Ok(body) => router.chat(&parts.headers, body).await,
                Err(resp) => {
                    router.refused(resp.status());
                    resp
                }
            }
        }
        (&Method::GET, HEALTH_PATH) => health(router),
        (_, CHAT_PATH | HEALTH_PATH) => {
            let msg = format!("method {} is not allowed here", req.method());
            reply::invalid_request(StatusCode::METHOD_NOT_ALLOWED, &msg, "method_not_allowed")
        }
        (_, path) => {
            let msg =
                format!("unknown path {path}; this gateway serves {CHAT_PATH} and {HEALTH_PATH}");
            reply::invalid_request(StatusCode::NOT_FOUND, &msg, "not_found")
        }
    }
}

async fn read_body(body: Incoming) -> Result<Bytes, Response<GatewayBody>> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            let msg = format!("request body is larger than {MAX_BODY} bytes");
            Err(reply::invalid_request(
                StatusCode::PAYLOAD_TOO_LARGE,
                &msg,
                "body_too_large",
            ))
        }
        Err(e) => {
            let msg = format!("could not read the request body: {e}");
            Err(reply::invalid_request(
                StatusCode::BAD_REQUEST,
                &msg,
                "invalid_body",
            ))
        }
    }
}

/// `{"status":"ok","providers":{"flash":"closed",...}}`: the gateway is up;
/// the breaker states are there for whoever is curious.
fn health(router: &Router) -> Response<GatewayBody> {
    let providers: serde_json::Map<_, _> = router
        .breaker_states()
        .map(|(name, state)| (name.to_owned(), state.as_str().into()))
        .collect();
    let body = serde_json::json!({ "status": "ok", "providers": providers }).to_string();
    let mut resp = Response::new(GatewayBody::full(body));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}
