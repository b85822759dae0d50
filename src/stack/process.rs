//! An external gateway that slabench starts itself (`[gateway] command`):
//! spawned after the providers, with its stdout and stderr in `gateway.log`
//! in the run directory, probed until it is ready, watched while the run
//! goes, and stopped at the end.
//!
//! The process runs in a process group of its own, so that stopping it also
//! stops what it started (LiteLLM's uvicorn workers, `npx`'s node child), and
//! so that a Ctrl-C in the terminal reaches slabench only: slabench decides
//! when the gateway stops, after the in-flight requests have been measured.
//! Stopping is SIGTERM to the group, then SIGKILL after a grace period.
//!
//! The gateway never outlives slabench: it is started by a small
//! `supervisor` process that ends the whole group when slabench goes away,
//! including after SIGKILL. If a [`GatewayChild`] is dropped without
//! [`GatewayChild::stop`] (a panic, an early return), `Drop` kills the group.
//!
//! An exit that slabench did not ask for (a crash mid-run) is recorded with
//! its time, status and the log's last lines: [`GatewayChild::exited`].

#[cfg(target_os = "linux")]
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::watch;

use crate::scenario::GatewayProcess;

/// The log file's name in the run directory.
pub const LOG_FILE: &str = "gateway.log";
/// Time between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// How many lines of the log an error message quotes.
const LOG_TAIL_LINES: usize = 15;
/// How many lines of the log a [`GatewayExit`] keeps.
pub const EXIT_LOG_LINES: usize = 20;

/// A gateway process's exit that slabench did not cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayExit {
    /// When slabench learnt of it (within milliseconds of the exit).
    pub at: Instant,
    /// "exit status 3", "killed by signal 9 (SIGKILL)", ...
    pub status: String,
    /// The last lines of gateway.log at that moment (at most
    /// [`EXIT_LOG_LINES`], blank lines left out).
    pub log_tail: Vec<String>,
}

/// A running gateway process.
pub struct GatewayChild {
    #[cfg(target_os = "linux")]
    supervisor: super::supervisor::Supervisor,
    /// Process id, which is also the process group id.
    pid: u32,
    /// `command` joined, for messages.
    label: String,
    log: PathBuf,
    /// The gateway's exit, once the supervisor has reported it.
    exit: watch::Receiver<Option<GatewayExit>>,
    /// Set by [`GatewayChild::stop`]; `Drop` then has nothing to do.
    stopped: bool,
    /// An exit that happened before `stop` began (so not caused by it).
    exit_before_stop: Option<GatewayExit>,
}

impl std::fmt::Debug for GatewayChild {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayChild")
            .field("pid", &self.pid)
            .field("label", &self.label)
            .field("exited", &self.exited())
            .finish_non_exhaustive()
    }
}

/// How a start was cut short before the gateway became ready.
#[derive(Debug, Clone, PartialEq, Eq)]
enum NotReady {
    Exited(String),
    TimedOut,
    Interrupted,
}

impl GatewayChild {
    /// Starts `spec`, its output appended to `dir/gateway.log`, and waits
    /// until it is ready: `ready_url` answers 2xx, or without one, until
    /// `fallback_addr` (the gateway URL's host:port) accepts connections.
    /// Fails, after stopping the process, if it exits first, if
    /// `ready_timeout` passes, or if `stop` turns true (Ctrl-C).
    pub async fn start(
        spec: &GatewayProcess,
        dir: &Path,
        fallback_addr: &str,
        stop: Option<watch::Receiver<bool>>,
    ) -> anyhow::Result<GatewayChild> {
        let log = dir.join(LOG_FILE);
        // Something already listening on the gateway's port would answer the
        // readiness probe and take the load while the new process dies with
        // "address in use": the run would measure the wrong process.
        let probe = tokio::time::timeout(
            Duration::from_millis(500),
            tokio::net::TcpStream::connect(fallback_addr),
        )
        .await;
        if matches!(probe, Ok(Ok(_))) {
            let holder = fallback_addr
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse().ok())
                .map(crate::ports::held_by)
                .unwrap_or_default();
            anyhow::bail!(
                "something is already listening on {fallback_addr}, the gateway's address in \
                 gateway.url{holder}; stop it (a gateway left from an earlier run?) or give \
                 this gateway another port"
            );
        }
        let mut gw = spawn(spec, &log).await?;
        let started = tokio::time::Instant::now();
        let outcome = gw.wait_ready(spec, fallback_addr, stop).await;
        let waited = started.elapsed().as_secs_f64();
        let Err(why) = outcome else {
            return Ok(gw);
        };
        gw.stop().await;
        let tail = log_tail(&log, LOG_TAIL_LINES);
        let what = match why {
            NotReady::Exited(status) => format!(
                "the gateway command `{}` exited ({status}) after {waited:.1}s, before it was ready",
                gw.label,
            ),
            NotReady::TimedOut => format!(
                "the gateway command `{}` did not become ready within {}s ({}); it was stopped",
                gw.label,
                spec.ready_timeout.as_secs_f64(),
                match &spec.ready_url {
                    Some(u) => format!("{u} never answered 2xx"),
                    None => format!("nothing accepted connections on {fallback_addr}"),
                }
            ),
            NotReady::Interrupted => format!(
                "interrupted while waiting for the gateway command `{}` to become ready; it was stopped",
                gw.label
            ),
        };
        anyhow::bail!(
            "{what}\n  log: {}{}",
            log.display(),
            if tail.is_empty() {
                " (empty)".to_string()
            } else {
                format!("; last lines:\n{tail}")
            }
        )
    }

    /// The log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Process id (also the process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The gateway's exit, if it exited on its own: before [`stop`](Self::stop)
    /// began (a crash mid-run), never the exit that `stop` caused. Still
    /// answers after `stop`.
    pub fn exited(&self) -> Option<GatewayExit> {
        if self.stopped {
            return self.exit_before_stop.clone();
        }
        self.exit.borrow().clone()
    }

    /// A receiver that turns `Some` when the gateway exits, to wait on
    /// during the load (`wait_for(Option::is_some)`). It also sees the exit
    /// that `stop` causes: stop watching before stopping, or use
    /// [`exited`](Self::exited) afterwards.
    pub fn exit_watch(&self) -> watch::Receiver<Option<GatewayExit>> {
        self.exit.clone()
    }

    async fn wait_ready(
        &mut self,
        spec: &GatewayProcess,
        fallback_addr: &str,
        stop: Option<watch::Receiver<bool>>,
    ) -> Result<(), NotReady> {
        let (_keep, never) = watch::channel(false);
        let mut stop = stop.unwrap_or(never);
        let mut exit = self.exit.clone();
        let probe = async {
            match &spec.ready_url {
                Some(url) => super::ready::wait_ready(url, spec.ready_timeout).await,
                None => wait_listening(fallback_addr, spec.ready_timeout).await,
            }
        };
        tokio::select! {
            ready = probe => ready.map_err(|_| NotReady::TimedOut),
            Ok(e) = exit.wait_for(Option::is_some) => Err(NotReady::Exited(
                e.as_ref().map_or_else(String::new, |e| e.status.clone()),
            )),
            Ok(_) = stop.wait_for(|s| *s) => Err(NotReady::Interrupted),
        }
    }

    /// Stops the process group: SIGTERM, then SIGKILL after [`STOP_GRACE`].
    /// Waits until the group has gone, so that its ports are free.
    pub async fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.exit_before_stop = self.exit.borrow().clone();
        self.stopped = true;
        if self.exit_before_stop.is_none() {
            signal_group(self.pid, Signal::Term);
            let exited = tokio::time::timeout(STOP_GRACE, self.exit.wait_for(Option::is_some));
            if exited.await.is_err() {
                crate::term::warning(format_args!(
                    "the gateway (pid {}) did not stop within {}s of SIGTERM; killing it",
                    self.pid,
                    STOP_GRACE.as_secs()
                ));
            }
        }
        // Whatever is left in the group (the leader after the grace period,
        // workers that ignored SIGTERM, children of a leader that exited) is
        // killed.
        signal_group(self.pid, Signal::Kill);
        let _ =
            tokio::time::timeout(Duration::from_secs(2), self.exit.wait_for(Option::is_some)).await;
        wait_group_gone(self.pid).await;
        #[cfg(target_os = "linux")]
        self.supervisor.finish().await;
    }
}

impl Drop for GatewayChild {
    fn drop(&mut self) {
        if !self.stopped {
            signal_group(self.pid, Signal::Kill);
        }
        // The supervisor's own Drop closes its pipe and reaps it.
    }
}

#[cfg(target_os = "linux")]
async fn spawn(spec: &GatewayProcess, log: &Path) -> anyhow::Result<GatewayChild> {
    let label = spec.command.join(" ");
    let hint = || match &spec.cwd {
        Some(d) => format!(" in {}", d.display()),
        None => String::new(),
    };
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("creating the gateway log {}", log.display()))?;
    let prepared =
        super::supervisor::Spawn::new(&spec.command, &spec.env, spec.cwd.as_deref(), out)
            .with_context(|| format!("starting the gateway command `{label}`{}", hint()))?;
    let (sup, reports) = tokio::task::spawn_blocking(move || super::supervisor::start(prepared))
        .await
        .context("the gateway's start panicked")?
        .with_context(|| format!("starting the gateway command `{label}`{}", hint()))?;
    let (tx, exit) = watch::channel(None);
    let log_path = log.to_path_buf();
    std::thread::Builder::new()
        .name("gateway-watch".into())
        .spawn(move || {
            let status = match super::supervisor::read_reports(reports) {
                super::supervisor::Report::Exited(raw) => describe_wait_status(raw),
                super::supervisor::Report::Lost => "unknown: its supervisor was killed".to_string(),
            };
            let _ = tx.send(Some(GatewayExit {
                at: Instant::now(),
                status,
                log_tail: log_lines(&log_path, EXIT_LOG_LINES),
            }));
        })
        .context("starting the gateway's watch thread")?;
    Ok(GatewayChild {
        pid: sup.gateway as u32,
        supervisor: sup,
        label,
        log: log.to_path_buf(),
        exit,
        stopped: false,
        exit_before_stop: None,
    })
}

#[cfg(not(target_os = "linux"))]
async fn spawn(_spec: &GatewayProcess, _log: &Path) -> anyhow::Result<GatewayChild> {
    anyhow::bail!(
        "slabench starts a gateway process (`gateway.command`) on Linux only; \
         start the gateway yourself and remove `command`"
    )
}

/// Waits until something accepts TCP connections on `addr` (`host:port`).
async fn wait_listening(addr: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("nothing listens on {addr}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A raw wait status in words: "exit status 3", "killed by signal 9 (SIGKILL)".
#[cfg(unix)]
fn describe_wait_status(raw: i32) -> String {
    use std::os::unix::process::ExitStatusExt;
    let status = std::process::ExitStatus::from_raw(raw);
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    match status.signal() {
        Some(sig) => {
            let name = match sig {
                libc::SIGHUP => " (SIGHUP)",
                libc::SIGINT => " (SIGINT)",
                libc::SIGABRT => " (SIGABRT)",
                libc::SIGKILL => " (SIGKILL)",
                libc::SIGSEGV => " (SIGSEGV)",
                libc::SIGTERM => " (SIGTERM)",
                _ => "",
            };
            format!("killed by signal {sig}{name}")
        }
        None => status.to_string(),
    }
}

/// The last `n` non-blank lines of `path` (from at most its last 64 KiB).
pub fn log_lines(path: &Path, n: usize) -> Vec<String> {
    let Ok(mut f) = File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut bytes = Vec::new();
    let _ = f.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

/// The last `n` lines of `path` (at most its last 64 KiB), indented.
pub fn log_tail(path: &Path, n: usize) -> String {
    log_lines(path, n)
        .iter()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Clone, Copy)]
enum Signal {
    Term,
    Kill,
}

#[cfg(unix)]
fn signal_group(pid: u32, sig: Signal) {
    let sig = match sig {
        Signal::Term => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    if pid <= 1 {
        return;
    }
    // SAFETY: kill(2) with a negative pid signals the group; no memory is shared.
    // ESRCH (the group is gone) is the expected result after a clean stop.
    unsafe {
        libc::kill(-(pid as libc::pid_t), sig);
    }
}

/// Waits (at most 2 s) until no process is left in the group, so that its
/// ports are free when `stop` returns: a killed process dies asynchronously.
async fn wait_group_gone(pid: u32) {
    for _ in 0..200 {
        if !group_exists(pid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(unix)]
fn group_exists(pid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence; nothing is delivered.
    pid > 1 && unsafe { libc::kill(-(pid as libc::pid_t), 0) == 0 }
}
