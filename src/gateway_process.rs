//! An external gateway that slabench starts itself (`[gateway] command`):
//! spawned after the providers, with its stdout and stderr in `gateway.log`
//! in the run directory, probed until it is ready, and stopped at the end.
//!
//! The process runs in a process group of its own, so that stopping it also
//! stops what it started (LiteLLM's uvicorn workers, `npx`'s node child), and
//! so that a Ctrl-C in the terminal reaches slabench only: slabench decides
//! when the gateway stops, after the in-flight requests have been measured.
//! Stopping is SIGTERM to the group, then SIGKILL after a grace period. If a
//! [`GatewayChild`] is dropped without [`GatewayChild::stop`] (a panic, an
//! early return), `Drop` kills the group, so no gateway outlives a run.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::scenario::GatewayProcess;

/// The log file's name in the run directory.
pub const LOG_FILE: &str = "gateway.log";
/// Time between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// How many lines of the log an error message quotes.
const LOG_TAIL_LINES: usize = 15;

/// A running gateway process.
#[derive(Debug)]
pub struct GatewayChild {
    child: Child,
    /// Process id, which is also the process group id.
    pid: u32,
    /// `command` joined, for messages.
    label: String,
    log: PathBuf,
    /// Set by [`GatewayChild::stop`]; `Drop` then has nothing to do.
    stopped: bool,
}

/// How a start was cut short before the gateway became ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NotReady {
    Exited(ExitStatus),
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
            anyhow::bail!(
                "something is already listening on {fallback_addr}, the gateway's address; \
                 stop it (a gateway left from an earlier run?) or give this gateway another port"
            );
        }
        let mut gw = spawn(spec, &log)?;
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
                "the gateway command `{}` exited ({}) after {waited:.1}s, before it was ready",
                gw.label,
                describe(status)
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

    async fn wait_ready(
        &mut self,
        spec: &GatewayProcess,
        fallback_addr: &str,
        stop: Option<watch::Receiver<bool>>,
    ) -> Result<(), NotReady> {
        let (_keep, never) = watch::channel(false);
        let mut stop = stop.unwrap_or(never);
        let probe = async {
            match &spec.ready_url {
                Some(url) => crate::lifecycle::wait_ready(url, spec.ready_timeout).await,
                None => wait_listening(fallback_addr, spec.ready_timeout).await,
            }
        };
        tokio::select! {
            ready = probe => ready.map_err(|_| NotReady::TimedOut),
            status = self.child.wait() => Err(status.map_or(NotReady::TimedOut, NotReady::Exited)),
            Ok(_) = stop.wait_for(|s| *s) => Err(NotReady::Interrupted),
        }
    }

    /// Stops the process group: SIGTERM, then SIGKILL after [`STOP_GRACE`].
    /// Waits until the gateway itself has exited.
    pub async fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        if let Ok(Some(_)) = self.child.try_wait() {
            // The leader is gone; children it left behind in the group still go.
            signal_group(self.pid, Signal::Kill);
            wait_group_gone(self.pid).await;
            return;
        }
        signal_group(self.pid, Signal::Term);
        if tokio::time::timeout(STOP_GRACE, self.child.wait())
            .await
            .is_err()
        {
            eprintln!(
                "warning: the gateway (pid {}) did not stop within {}s of SIGTERM; killing it",
                self.pid,
                STOP_GRACE.as_secs()
            );
        }
        // Whatever is left in the group (the leader after the grace period,
        // workers that ignored SIGTERM) is killed.
        signal_group(self.pid, Signal::Kill);
        let _ = self.child.wait().await;
        wait_group_gone(self.pid).await;
    }
}

impl Drop for GatewayChild {
    fn drop(&mut self) {
        if !self.stopped {
            signal_group(self.pid, Signal::Kill);
        }
    }
}

fn spawn(spec: &GatewayProcess, log: &Path) -> anyhow::Result<GatewayChild> {
    let label = spec.command.join(" ");
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("creating the gateway log {}", log.display()))?;
    let err = out.try_clone().context("sharing the gateway log")?;
    let mut cmd = Command::new(&spec.command[0]);
    cmd.args(&spec.command[1..])
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true);
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    own_process_group(&mut cmd);
    let child = cmd.spawn().with_context(|| {
        let hint = match &spec.cwd {
            Some(d) => format!(" in {}", d.display()),
            None => String::new(),
        };
        format!(
            "starting the gateway command `{label}`{hint} (is `{}` installed and on PATH?)",
            spec.command[0]
        )
    })?;
    let pid = child.id().context("the gateway exited at once")?;
    Ok(GatewayChild {
        child,
        pid,
        label,
        log: log.to_path_buf(),
        stopped: false,
    })
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

fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return format!("killed by signal {sig}");
        }
    }
    status.to_string()
}

/// The last `n` lines of `path` (at most its last 64 KiB), indented.
pub fn log_tail(path: &Path, n: usize) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut bytes = Vec::new();
    let _ = f.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
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
fn own_process_group(cmd: &mut Command) {
    cmd.process_group(0);
    // Linux: if slabench itself is killed (SIGKILL, OOM), the kernel sends
    // the gateway SIGTERM, so it does not outlive the run holding its port.
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
}

#[cfg(not(unix))]
fn own_process_group(_cmd: &mut Command) {}

#[cfg(unix)]
fn signal_group(pid: u32, sig: Signal) {
    let sig = match sig {
        Signal::Term => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
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
    unsafe { libc::kill(-(pid as libc::pid_t), 0) == 0 }
}

#[cfg(not(unix))]
fn group_exists(_pid: u32) -> bool {
    false
}

#[cfg(not(unix))]
fn signal_group(_pid: u32, _sig: Signal) {
    // Without process groups, `kill_on_drop` on the child is the fallback.
}
