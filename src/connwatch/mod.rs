//! Watching loopback for connection attempts to the simulated providers.
//!
//! In an `outage as = "refuse"` window a provider's listener is closed, so
//! the kernel refuses the gateway's connections and the providers' ledger
//! never hears of them. This watcher counts them: a Linux packet socket on
//! the loopback interface sees every TCP SYN (SYN set, ACK clear), IPv4 and
//! IPv6, and counts those to a provider's port per second of the run clock
//! (t=0, `crate::clock`) and per provider. It needs CAP_NET_RAW; without it
//! (or off Linux) it does not start, and says why in words a user can act on.
//!
//! A kernel filter passes only SYNs, so a busy loopback costs one copy per
//! new connection. The loopback shows each packet twice (sent and
//! received); the sent copy is skipped. A SYN is placed in the second its
//! packet was read, microseconds after the kernel saw it.

mod packet;
#[cfg(target_os = "linux")]
mod socket;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::clock::RunClock;

pub use packet::syn_destination;

/// How long a receive waits, and so how long `stop` can take.
pub const RECEIVE_TIMEOUT: Duration = Duration::from_millis(100);
/// The watcher thread's name (the `slabench-` prefix makes the crash hook
/// count a panic in it as slabench's own).
pub const THREAD_NAME: &str = "slabench-connwatch";
/// `sll_pkttype` of the loopback's outgoing copy of a packet.
#[cfg(target_os = "linux")]
const OUTGOING: u8 = libc::PACKET_OUTGOING;

/// SYNs per second of the run clock and per port watched
/// (`[second][port index]`); rows exist up to the last SYN's second.
pub type Counts = Vec<Vec<u32>>;

/// A running watcher; [`Watcher::stop`] ends it and gives the counts.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<Counts, String>>,
}

impl Watcher {
    /// Starts counting SYNs to `ports` (index i of the counts: `ports[i]`)
    /// on the interface `interface` (loopback: "lo"). When this returns
    /// `Ok`, every later SYN is counted. `Err`: why it cannot watch.
    pub fn start(interface: &str, ports: &[u16], clock: Arc<RunClock>) -> Result<Watcher, String> {
        start(interface, ports.to_vec(), clock)
    }

    /// Stops the thread (within [`RECEIVE_TIMEOUT`]), reads what is still
    /// queued, and returns the counts; `Err` when the counts cannot be
    /// trusted (the socket failed, or the kernel dropped SYNs).
    pub fn stop(self) -> Result<Counts, String> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.join() {
            Ok(r) => r,
            Err(_) => Err("the connection watcher failed (see the internal errors)".into()),
        }
    }
}

#[cfg(target_os = "linux")]
fn start(interface: &str, ports: Vec<u16>, clock: Arc<RunClock>) -> Result<Watcher, String> {
    let sock = socket::PacketSocket::open(interface, RECEIVE_TIMEOUT).map_err(|e| match e {
        socket::OpenError::NoPrivilege => no_privilege(),
        socket::OpenError::Other(why) => format!("cannot watch {interface}: {why}"),
    })?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name(THREAD_NAME.into())
        .spawn(move || watch(&sock, &ports, &clock, &flag))
        .map_err(|e| format!("cannot start the connection watcher's thread: {e}"))?;
    Ok(Watcher { stop, thread })
}

#[cfg(not(target_os = "linux"))]
fn start(_interface: &str, _ports: Vec<u16>, _clock: Arc<RunClock>) -> Result<Watcher, String> {
    Err("watching connection attempts needs Linux (a packet socket on loopback)".into())
}

/// The words for a process without CAP_NET_RAW.
pub fn no_privilege() -> String {
    let exe = std::env::current_exe()
        .ok()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "target/release/slabench".into());
    format!(
        "needs CAP_NET_RAW to watch loopback for connection attempts: run as root or \
         `sudo setcap cap_net_raw+ep {exe}`"
    )
}

/// The watcher thread: read SYNs until told to stop, then what is queued.
#[cfg(target_os = "linux")]
fn watch(
    sock: &socket::PacketSocket,
    ports: &[u16],
    clock: &RunClock,
    stop: &AtomicBool,
) -> Result<Counts, String> {
    let mut counts = Tally::new(ports);
    let mut buf = [0u8; 128];
    let failed = |e: std::io::Error| format!("reading the packet socket failed: {e}");
    while !stop.load(Ordering::Relaxed) {
        if let Some((n, kind)) = sock.recv(&mut buf, true).map_err(failed)? {
            counts.packet(&buf[..n], kind, clock);
        }
    }
    // SYNs that arrived before the stop but were not read yet.
    while let Some((n, kind)) = sock.recv(&mut buf, false).map_err(failed)? {
        counts.packet(&buf[..n], kind, clock);
    }
    match sock.drops().map_err(failed)? {
        0 => Ok(counts.per_second),
        n => Err(format!(
            "the kernel dropped {n} connection attempt(s) the watcher could not read in time, \
             so the counts would be low"
        )),
    }
}

/// Counts per second and port.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
struct Tally<'a> {
    ports: &'a [u16],
    per_second: Counts,
}

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
impl<'a> Tally<'a> {
    fn new(ports: &'a [u16]) -> Self {
        Tally {
            ports,
            per_second: Vec::new(),
        }
    }

    #[cfg(target_os = "linux")]
    fn packet(&mut self, packet: &[u8], kind: u8, clock: &RunClock) {
        if kind == OUTGOING {
            return;
        }
        let at = clock.micros_at(tokio::time::Instant::now());
        if let Some(port) = syn_destination(packet) {
            self.syn(port, at);
        }
    }

    /// One SYN to `port` at `micros` since t=0 (before t=0: not counted,
    /// the timeline starts there).
    fn syn(&mut self, port: u16, micros: i64) {
        let Some(i) = self.ports.iter().position(|p| *p == port) else {
            return;
        };
        if micros < 0 {
            return;
        }
        let second = (micros / 1_000_000) as usize;
        if self.per_second.len() <= second {
            self.per_second
                .resize(second + 1, vec![0; self.ports.len()]);
        }
        self.per_second[second][i] += 1;
    }
}

#[cfg(test)]
mod tests;
