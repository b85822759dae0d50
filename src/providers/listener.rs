//! A provider's port: accepting connections, serving them with hyper, and
//! the connection-level faults (refused connections and TCP resets).
//!
//! Refusing is real: for an `outage as = "refuse"` window, and for each
//! down part of a flapping provider `as = "refuse"`, the listener is
//! closed, so connects fail with ECONNREFUSED, and the same port is bound
//! again (SO_REUSEADDR) when the span ends. The spans come one at a time
//! from [`Fault::refuse_span_after`], so a long run of short periods costs
//! nothing up front. At the window start every open
//! connection is asked to close (idle keep-alive ones at once, busy ones after
//! their current answer), so a gateway's pooled connections cannot slip
//! requests through the outage.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use socket2::{Domain, SockRef, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::server::{handle, ProviderCtx};
use crate::scenario::Fault;

/// How long shutdown waits for answers in progress before cutting them off.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// How often the accept loop looks whether the run clock has started.
const CLOCK_POLL: Duration = Duration::from_millis(2);

/// Binds `ip:port` (a run: `127.0.0.1`; `slabench mock --bind`; port 0:
/// any free port) with SO_REUSEADDR, so the port can be bound again right
/// after a refuse window.
pub fn bind(ip: IpAddr, port: u16) -> anyhow::Result<std::net::TcpListener> {
    let addr = SocketAddr::from((ip, port));
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, None).context("creating a socket")?;
    socket.set_reuse_address(true)?;
    if let Err(e) = socket.bind(&addr.into()) {
        if e.kind() == std::io::ErrorKind::AddrInUse && port != 0 {
            anyhow::bail!(
                "{addr} is already in use{}; stop that process (a gateway or provider left \
                 from an earlier run?) or pin another port",
                crate::ports::held_by(port)
            );
        }
        return Err(e).with_context(|| format!("binding {addr}"));
    }
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Per-connection control: lets a request handler reset its connection.
pub struct ConnCtl {
    /// A duplicate of the connection's socket, to set SO_LINGER on.
    socket: std::net::TcpStream,
    reset: Notify,
}

impl ConnCtl {
    /// Resets the connection: SO_LINGER 0, then the connection task drops the
    /// socket, and the kernel sends RST instead of FIN.
    pub fn reset(&self) {
        let _ = SockRef::from(&self.socket).set_linger(Some(Duration::ZERO));
        self.reset.notify_one();
    }
}

/// The faults that refuse connections (outages and flapping as `"refuse"`).
pub fn refusing(faults: &[Fault]) -> Vec<Fault> {
    faults.iter().filter(|f| f.refuses()).cloned().collect()
}

enum PortState {
    /// Accepting; look again at this instant (`None`: nothing scheduled).
    Open(Option<Instant>),
    /// Refusing until this instant (`None`: until shutdown).
    Refusing(Option<Instant>),
}

fn port_state(ctx: &ProviderCtx, faults: &[Fault]) -> PortState {
    let Some(origin) = ctx.clock.origin() else {
        return PortState::Open(Some(Instant::now() + CLOCK_POLL));
    };
    let now = Instant::now();
    let t = now.saturating_duration_since(origin);
    let before_origin = now < origin;
    // Overlapping spans: refuse until the latest end.
    let mut until: Option<Option<Duration>> = None;
    let mut next: Option<Duration> = None;
    for (start, end) in faults.iter().filter_map(|f| f.refuse_span_after(t)) {
        if before_origin || start > t {
            next = Some(next.map_or(start, |n| n.min(start)));
            continue;
        }
        until = Some(match (until, end) {
            (Some(None), _) | (_, None) => None,
            (Some(Some(a)), Some(b)) => Some(a.max(b)),
            (None, Some(b)) => Some(b),
        });
    }
    match until {
        Some(end) => PortState::Refusing(end.map(|e| origin + e)),
        None => PortState::Open(next.map(|s| origin + s)),
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Serves one provider until `shutdown` turns true (or its sender is dropped).
pub async fn serve(
    ctx: Arc<ProviderCtx>,
    listener: std::net::TcpListener,
    refusing: Vec<Fault>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Ok(addr) = listener.local_addr() else {
        return;
    };
    let mut listener = TcpListener::from_std(listener).ok();
    let (close_tx, _) = watch::channel(0u64);
    let mut conns = JoinSet::new();
    loop {
        match port_state(&ctx, &refusing) {
            PortState::Refusing(until) => {
                if listener.take().is_some() {
                    close_tx.send_modify(|n| *n += 1);
                }
                tokio::select! {
                    _ = sleep_until(until) => {}
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                    _ = shutdown.changed() => break,
                }
            }
            PortState::Open(recheck) => {
                let Some(l) = listener.as_ref() else {
                    tokio::select! {
                        l = rebind(addr) => listener = l,
                        _ = shutdown.changed() => break,
                    }
                    continue;
                };
                tokio::select! {
                    accepted = l.accept() => match accepted {
                        Ok((stream, _)) => {
                            // `subscribe`, not a clone of an old receiver: only
                            // closes signalled from now on concern this connection.
                            conns.spawn(connection(ctx.clone(), stream, close_tx.subscribe()));
                        }
                        // Out of file descriptors and the like: back off briefly.
                        Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                    },
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                    _ = sleep_until(recheck) => {}
                    _ = shutdown.changed() => break,
                }
            }
        }
    }
    drop(listener);
    close_tx.send_modify(|n| *n += 1);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while conns.join_next().await.is_some() {}
    });
    if drained.await.is_err() {
        conns.shutdown().await;
    }
}

/// Binds the port again after a refuse window, retrying until it works
/// (another process may have taken the port meanwhile; then the provider
/// stays unreachable, which the run shows as connect errors).
async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    loop {
        if let Ok(l) = bind(addr.ip(), addr.port()).and_then(|l| Ok(TcpListener::from_std(l)?)) {
            return Some(l);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn connection(ctx: Arc<ProviderCtx>, stream: TcpStream, mut close: watch::Receiver<u64>) {
    let _ = stream.set_nodelay(true);
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    let Ok(dup) = std_stream.try_clone() else {
        return;
    };
    let Ok(stream) = TcpStream::from_std(std_stream) else {
        return;
    };
    let ctl = Arc::new(ConnCtl {
        socket: dup,
        reset: Notify::new(),
    });
    let svc_ctl = ctl.clone();
    let service = service_fn(move |req| handle(ctx.clone(), svc_ctl.clone(), req));
    let conn = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            // Dropping the connection with SO_LINGER 0 set sends the RST.
            _ = ctl.reset.notified() => break,
            _ = close.changed(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
