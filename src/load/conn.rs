//! The client's HTTP/1.1 connections: one pool per lane, with a cap on the
//! connects in progress.
//!
//! A request takes an idle connection when there is one. When there is
//! none it opens a new one, unless [`MAX_CONNECTING`] connects are already
//! under way; then it waits for whichever comes first, a connection coming
//! back idle or a free connect slot. A general-purpose pool (reqwest's)
//! races a new connect against the next idle connection and finishes the
//! connect in the background when the idle one wins: after a stall of a few
//! milliseconds at thousands of requests per second that is thousands of
//! connects, which overflow the server's accept queue (a second's SYN
//! retransmit, measured as latency) and slow it further, so the run never
//! recovers. Here a connect is only made for a request that still needs it.
//!
//! A connection goes back to the pool only when its answer was read to the
//! end ([`Lease::release`]); one dropped half-read is closed.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;

/// Connects in progress per pool, at most (8). Measured at 16,000 rps against a
/// provider on the same 2-core machine: 32 opened 1,442 and 1,791
/// connections in two 10 s runs, each with a second of 100+ ms answers
/// while the provider accepted them; 4 opened 205 and 325, without such a
/// second. A request that waits for a slot has not left: the wait is its
/// lag (`Measured::queued`), so a cap too low for a distant gateway shows
/// as a generator that could not keep up, never as the gateway's latency.
pub const MAX_CONNECTING: usize = 8;
/// Times a request is moved to another connection when the one it took
/// closed before the request was written (an idle connection the server
/// had just closed). Past that it fails as a reset.
const RESENDS: usize = 3;

/// Where the connections go.
#[derive(Debug, Clone)]
pub enum Host {
    Addr(SocketAddr),
    /// A name, resolved at every connect (a Kubernetes Service's address
    /// may change during a run).
    Name(String, u16),
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum SendError {
    /// No connection could be made.
    Connect(io::Error),
    /// The connection failed while the request was sent or answered.
    Http(hyper::Error),
}

/// One event loop's connections to one host.
#[derive(Debug)]
pub struct Pool {
    host: Host,
    connect_timeout: Duration,
    max_idle: usize,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    connecting: AtomicUsize,
    /// Requests waiting for a connection.
    waiting: AtomicUsize,
    /// A connection came back idle, or a connect slot came free.
    freed: Notify,
}

impl Pool {
    pub fn new(host: Host, connect_timeout: Duration, max_idle: usize) -> Self {
        Pool {
            host,
            connect_timeout,
            max_idle: max_idle.max(1),
            idle: Mutex::new(Vec::new()),
            connecting: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            freed: Notify::new(),
        }
    }

    /// Sends `req` and returns the answer's head, with the connection
    /// leased until the body has been read.
    /// `left` is set when the request stops waiting for a connection
    /// (see `checkout`), also when it is dropped after that.
    pub async fn send(
        &self,
        mut req: Request<Full<Bytes>>,
        left: &std::sync::OnceLock<tokio::time::Instant>,
    ) -> Result<(Lease<'_>, Response<Incoming>), SendError> {
        let mut resends = 0;
        loop {
            let mut conn = self.checkout(left).await.map_err(SendError::Connect)?;
            match conn.try_send_request(req).await {
                Ok(resp) => {
                    let lease = Lease {
                        pool: self,
                        conn: Some(conn),
                    };
                    return Ok((lease, resp));
                }
                Err(mut e) => match e.take_message() {
                    // Never written: the connection was closed under it.
                    Some(back) if resends < RESENDS => {
                        resends += 1;
                        req = back;
                    }
                    _ => return Err(SendError::Http(e.into_error())),
                },
            }
        }
    }

    /// A connection; `left` is set when the request stops waiting for one:
    /// it took an idle one, or started its own connect (the connect itself
    /// is the gateway's to answer, and part of the latency, as in any
    /// client).
    async fn checkout(
        &self,
        left: &std::sync::OnceLock<tokio::time::Instant>,
    ) -> io::Result<SendRequest<Full<Bytes>>> {
        // First come, first served: while requests wait, a new one waits
        // behind them (Notify wakes in order) instead of taking the
        // connection that just came free; else a backlog starves its
        // oldest requests for seconds while the newest leave on time.
        let mut woken = false;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if !woken && self.waiting.load(Ordering::Acquire) > 0 {
                let _waiting = Waiting::new(&self.waiting);
                freed.await;
                woken = true;
                continue;
            }
            if let Some(mut conn) = self.take_idle() {
                let taken_at = tokio::time::Instant::now();
                let _ = left.set(taken_at);
                self.pass_on();
                // Put back as its answer ended; ready as soon as its
                // connection task has seen that. An error: it closed.
                if conn.ready().await.is_ok() {
                    return Ok(conn);
                }
                continue;
            }
            let slot = self
                .connecting
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < MAX_CONNECTING).then_some(n + 1)
                });
            if slot.is_ok() {
                let taken_at = tokio::time::Instant::now();
                let _ = left.set(taken_at);
                self.pass_on();
                // Given back however the connect ends, also when the request
                // is dropped during it (timed out, cut off).
                let _slot = Slot(self);
                return self.connect().await;
            }
            let _waiting = Waiting::new(&self.waiting);
            freed.await;
            woken = true;
        }
    }

    /// Wakes the next waiter when something it could take is still free:
    /// a wake-up may have been spent by a waiter that took something else.
    fn pass_on(&self) {
        if self.waiting.load(Ordering::Acquire) == 0 {
            return;
        }
        let idle = !self
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty();
        if idle || self.connecting.load(Ordering::Acquire) < MAX_CONNECTING {
            self.freed.notify_one();
        }
    }

    fn take_idle(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(conn) = idle.pop() {
            if !conn.is_closed() {
                return Some(conn);
            }
            // Closed by the server while idle: dropped.
        }
        None
    }

    fn put_back(&self, conn: SendRequest<Full<Bytes>>) {
        if conn.is_closed() {
            return;
        }
        {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() >= self.max_idle {
                return;
            }
            idle.push(conn);
        }
        self.freed.notify_one();
    }

    async fn connect(&self) -> io::Result<SendRequest<Full<Bytes>>> {
        let connect = async {
            match &self.host {
                Host::Addr(addr) => tokio::net::TcpStream::connect(addr).await,
                Host::Name(name, port) => {
                    tokio::net::TcpStream::connect((name.as_str(), *port)).await
                }
            }
        };
        let stream = tokio::time::timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(io::Error::other)?;
        // Its errors reach the request that was on it.
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }
}

/// A connect slot in use; given back on drop.
struct Slot<'a>(&'a Pool);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.connecting.fetch_sub(1, Ordering::AcqRel);
        self.0.freed.notify_one();
    }
}

/// One request in the wait, counted while it lasts (also when the request
/// is dropped: timed out, cut off).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection in use; [`Lease::release`] gives it back once the answer
/// has been read to its end. Dropped otherwise, it is closed.
#[derive(Debug)]
pub struct Lease<'a> {
    pool: &'a Pool,
    conn: Option<SendRequest<Full<Bytes>>>,
}

impl Lease<'_> {
    pub fn release(mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.put_back(conn);
        }
    }
}

impl Drop for Lease<'_> {
    /// A connection dropped half-read is closed; a request waiting behind
    /// others may now have a free connect slot to use.
    fn drop(&mut self) {
        if self.conn.is_some() {
            self.pool.pass_on();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;

    /// A loopback HTTP/1.1 server that counts the connections it accepted;
    /// with `close`, it closes each connection after one answer.
    async fn server(close: bool) -> (SocketAddr, Arc<AtomicU64>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicU64::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(|_req| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(!close)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        (addr, accepted)
    }

    fn request(addr: SocketAddr) -> Request<Full<Bytes>> {
        Request::post("/")
            .header(hyper::header::HOST, addr.to_string())
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap()
    }

    async fn exchange(pool: &Pool, addr: SocketAddr) -> Result<Bytes, String> {
        use http_body_util::BodyExt;
        let (lease, resp) = pool
            .send(request(addr), &Default::default())
            .await
            .map_err(|e| format!("{e:?}"))?;
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        lease.release();
        Ok(body.to_bytes())
    }

    #[tokio::test(flavor = "current_thread")]
    async fn answers_read_to_the_end_give_their_connection_back() {
        let (addr, accepted) = server(false).await;
        let pool = Pool::new(Host::Addr(addr), Duration::from_secs(5), 16);
        for _ in 0..50 {
            assert_eq!(exchange(&pool, addr).await.unwrap(), "ok");
        }
        assert_eq!(
            accepted.load(Ordering::Relaxed),
            1,
            "one connection, reused"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_connection_the_server_closed_is_not_a_failed_request() {
        let (addr, accepted) = server(true).await;
        let pool = Pool::new(Host::Addr(addr), Duration::from_secs(5), 16);
        for _ in 0..20 {
            assert_eq!(exchange(&pool, addr).await.unwrap(), "ok");
        }
        assert_eq!(accepted.load(Ordering::Relaxed), 20);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_burst_opens_no_more_connections_than_requests_and_frees_every_connect_slot() {
        let (addr, accepted) = server(false).await;
        let pool = Pool::new(Host::Addr(addr), Duration::from_secs(5), 1000);
        let burst = futures_util::future::join_all((0..500).map(|_| exchange(&pool, addr)));
        let answers = burst.await;
        assert!(answers.iter().all(|a| a.as_deref() == Ok(&b"ok"[..])));
        let opened = accepted.load(Ordering::Relaxed);
        assert!((1..=500).contains(&opened), "{opened}");
        assert_eq!(pool.connecting.load(Ordering::Relaxed), 0);
        // Idle connections kept are those opened (none was dropped half-read).
        let idle = pool.idle.lock().unwrap().len() as u64;
        assert_eq!(idle, opened);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn nothing_listening_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let pool = Pool::new(Host::Addr(addr), Duration::from_secs(5), 4);
        match pool.send(request(addr), &Default::default()).await {
            Err(SendError::Connect(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
            other => panic!("{other:?}"),
        }
        assert_eq!(pool.connecting.load(Ordering::Relaxed), 0);
    }
}
