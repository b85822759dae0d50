//! The gateway's supervisor: a small process that slabench forks, which
//! starts the gateway in a process group of its own and ends that whole group
//! when slabench goes away, however it goes (SIGKILL and the OOM killer
//! included).
//!
//! Why a separate process: `PR_SET_PDEATHSIG` on the gateway alone reaches
//! only the gateway's first process. Behind a wrapper that forks (`sh -c`,
//! `npx` → node, uvicorn workers), or in a gateway that ignores SIGTERM, the
//! process holding the port survived a killed slabench and the next run
//! refused to start. The supervisor instead watches a pipe whose write end
//! only slabench holds: the kernel closes it when slabench dies, for any
//! reason, and the supervisor then sends SIGTERM to the gateway's group and
//! SIGKILL after [`super::STOP_GRACE`]. It does not rely on its own
//! `PR_SET_PDEATHSIG`: that fires when the *thread* that forked exits, not
//! the process (prctl(2)), and slabench forks from a tokio worker. It does
//! check `getppid()` too, for the case of slabench dying before the watch
//! begins. The supervisor is a child subreaper, so the wrapper's orphaned
//! children are reaped by it and "the group is gone" means gone.
//!
//! slabench is multithreaded, so between `fork` and `_exit` the supervisor
//! only makes async-signal-safe calls: no allocation, no locks, no Rust I/O.
//! Everything it needs (paths, argv, environment) is prepared before `fork`.
//!
//! It reports to slabench on a second pipe, in 8-byte records: the gateway
//! started (its pid), could not be started (which step, errno), or exited
//! (its wait status). Normal stops stay with slabench (SIGTERM to the group,
//! SIGKILL after the grace period); closing the pipe afterwards lets the
//! supervisor exit at once, as the group is already gone.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use libc::{c_char, c_int, pid_t};

/// Record kinds on the status pipe.
const STARTED: u32 = 1;
const EXEC_FAILED: u32 = 2;
const CHDIR_FAILED: u32 = 3;
const FORK_FAILED: u32 = 4;
const EXITED: u32 = 5;

/// What the supervisor reported after the start.
pub enum Report {
    /// The gateway exited with this raw wait status.
    Exited(c_int),
    /// The supervisor went away without reporting an exit (it was killed).
    Lost,
}

/// Everything the gateway's start needs, prepared before `fork`.
pub struct Spawn {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: Option<CString>,
    log: File,
    null: File,
}

impl Spawn {
    /// Resolves `command[0]` on `PATH` (the one the gateway gets, relative
    /// entries against `cwd`) and builds the environment: slabench's, with
    /// `env` on top.
    pub fn new(
        command: &[String],
        env: &[(String, String)],
        cwd: Option<&Path>,
        log: File,
    ) -> anyhow::Result<Spawn> {
        let mut vars: Vec<(OsString, OsString)> = std::env::vars_os()
            .filter(|(k, _)| !env.iter().any(|(e, _)| OsStr::new(e) == k))
            .collect();
        vars.extend(env.iter().map(|(k, v)| (k.into(), v.into())));
        let path_var = vars
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone());
        let program = resolve(&command[0], path_var.as_deref(), cwd).with_context(|| {
            format!(
                "`{}` was not found on PATH (is `{}` installed and on PATH?)",
                command[0], command[0]
            )
        })?;
        let c = |b: &[u8]| CString::new(b).context("the gateway command holds a NUL byte");
        let envp = vars
            .iter()
            .map(|(k, v)| c(&[k.as_bytes(), b"=", v.as_bytes()].concat()))
            .collect::<anyhow::Result<_>>()?;
        Ok(Spawn {
            path: c(program.as_os_str().as_bytes())?,
            argv: command
                .iter()
                .map(|a| c(a.as_bytes()))
                .collect::<anyhow::Result<_>>()?,
            envp,
            cwd: cwd.map(|d| c(d.as_os_str().as_bytes())).transpose()?,
            log,
            null: File::open("/dev/null").context("opening /dev/null")?,
        })
    }
}

/// Finds `program` as `execvp` would, on `path` (default `/usr/bin:/bin`).
fn resolve(program: &str, path: Option<&OsStr>, cwd: Option<&Path>) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    let path = path.unwrap_or(OsStr::new("/usr/bin:/bin"));
    std::env::split_paths(path)
        .map(|dir| match (dir.is_relative(), cwd) {
            (true, Some(cwd)) => cwd.join(dir).join(program),
            _ => dir.join(program),
        })
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A running supervisor and its gateway.
pub struct Supervisor {
    /// The supervisor's pid (slabench's child).
    pid: pid_t,
    /// The gateway's pid, also its process group id.
    pub gateway: pid_t,
    /// The write end of the life pipe: closing it tells the supervisor that
    /// slabench is done with the gateway.
    life: Option<OwnedFd>,
    /// Reaped already.
    reaped: bool,
}

/// Forks the supervisor, which starts `spawn`; returns once the gateway has
/// been exec'd (or failed to be), with the status pipe's read end for
/// [`read_reports`]. Blocks for the length of one `exec`.
pub fn start(spawn: Spawn) -> anyhow::Result<(Supervisor, File)> {
    let (life_r, life_w) = pipe()?;
    let (status_r, status_w) = pipe()?;
    let mut argv: Vec<*const c_char> = spawn.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const c_char> = spawn.envp.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    let ctx = Ctx {
        // SAFETY: getpid has no preconditions.
        parent: unsafe { libc::getpid() },
        life_r: life_r.as_raw_fd(),
        life_w: life_w.as_raw_fd(),
        status_r: status_r.as_raw_fd(),
        status_w: status_w.as_raw_fd(),
        log: spawn.log.as_raw_fd(),
        null: spawn.null.as_raw_fd(),
        path: spawn.path.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        cwd: spawn.cwd.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
        grace_ms: super::STOP_GRACE.as_millis() as c_int,
    };
    // SAFETY: the child only runs `supervise`, which makes async-signal-safe
    // calls on memory prepared above and never returns.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error()).context("forking the gateway's supervisor");
    }
    if pid == 0 {
        // SAFETY: in the forked child; see the module comment.
        unsafe { supervise(&ctx) }
    }
    drop((life_r, status_w));
    let mut sup = Supervisor {
        pid,
        gateway: 0,
        life: Some(life_w),
        reaped: false,
    };
    let mut status = File::from(status_r);
    let (kind, value) = match read_record(&mut status) {
        Some(r) => r,
        None => {
            sup.reap_blocking();
            anyhow::bail!("the gateway's supervisor died before starting it");
        }
    };
    let failed = |what: &str| {
        let e = std::io::Error::from_raw_os_error(value);
        Err(anyhow::Error::from(e).context(what.to_string()))
    };
    match kind {
        STARTED => {
            sup.gateway = value;
            Ok((sup, status))
        }
        EXEC_FAILED => failed("executing the gateway command"),
        CHDIR_FAILED => failed("changing into the gateway's cwd"),
        FORK_FAILED => failed("forking the gateway"),
        _ => anyhow::bail!("the gateway's supervisor said {kind}"),
    }
}

/// Reads the supervisor's reports after the start: one [`Report`], then the
/// pipe's end. Blocking; run it on a thread of its own.
pub fn read_reports(mut status: File) -> Report {
    loop {
        match read_record(&mut status) {
            Some((EXITED, st)) => return Report::Exited(st),
            Some(_) => continue,
            None => return Report::Lost,
        }
    }
}

fn read_record(f: &mut File) -> Option<(u32, c_int)> {
    let mut buf = [0u8; 8];
    f.read_exact(&mut buf).ok()?;
    let kind = u32::from_ne_bytes(buf[..4].try_into().expect("4 bytes"));
    let value = c_int::from_ne_bytes(buf[4..].try_into().expect("4 bytes"));
    Some((kind, value))
}

impl Supervisor {
    /// Closes the life pipe and reaps the supervisor, waiting at most a
    /// little longer than its own grace period (it only waits when the
    /// gateway's group is still there).
    pub async fn finish(&mut self) {
        self.life.take();
        let deadline = tokio::time::Instant::now() + super::STOP_GRACE + Duration::from_secs(3);
        while !self.reaped && tokio::time::Instant::now() < deadline {
            self.try_reap();
            if !self.reaped {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    fn try_reap(&mut self) {
        let mut st = 0;
        // SAFETY: waitpid on our own child; `st` is a valid out-pointer.
        let r = unsafe { libc::waitpid(self.pid, &mut st, libc::WNOHANG) };
        if r == self.pid || r < 0 {
            self.reaped = true;
        }
    }

    fn reap_blocking(&mut self) {
        let mut st = 0;
        // SAFETY: as in `try_reap`.
        unsafe { libc::waitpid(self.pid, &mut st, 0) };
        self.reaped = true;
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        // Closing the pipe makes the supervisor end the group and exit; a
        // thread reaps it so that no zombie is left behind.
        self.life.take();
        if !self.reaped {
            let pid = self.pid;
            std::thread::spawn(move || {
                let mut st = 0;
                // SAFETY: as in `try_reap`.
                unsafe { libc::waitpid(pid, &mut st, 0) };
            });
        }
    }
}

fn pipe() -> anyhow::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two descriptors. O_CLOEXEC keeps other
    // processes that slabench starts from inheriting them across exec.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("creating a pipe");
    }
    // SAFETY: both descriptors are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// What the forked supervisor reads: raw descriptors and pointers into
/// memory the parent prepared (the child has its own copy).
struct Ctx {
    parent: pid_t,
    life_r: c_int,
    life_w: c_int,
    status_r: c_int,
    status_w: c_int,
    log: c_int,
    null: c_int,
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    cwd: *const c_char,
    grace_ms: c_int,
}

extern "C" fn on_sigchld(_: c_int) {
    // Only there so that SIGCHLD interrupts `poll` (EINTR): the loop then
    // reaps at once.
}

/// The supervisor's whole life, in the forked child. Never returns.
unsafe fn supervise(c: &Ctx) -> ! {
    libc::close(c.life_w);
    libc::close(c.status_r);
    // Ctrl-C in the terminal reaches slabench's process group, which this
    // process is in: slabench decides when the gateway stops, not the
    // terminal. SIGTERM and SIGHUP likewise; only the pipe ends it.
    for sig in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGPIPE,
        libc::SIGTTOU,
        libc::SIGTTIN,
        libc::SIGTSTP,
    ] {
        libc::signal(sig, libc::SIG_IGN);
    }
    let mut sa: libc::sigaction = std::mem::zeroed();
    sa.sa_sigaction = on_sigchld as extern "C" fn(c_int) as libc::sighandler_t;
    sa.sa_flags = libc::SA_NOCLDSTOP;
    libc::sigemptyset(&mut sa.sa_mask);
    libc::sigaction(libc::SIGCHLD, &sa, std::ptr::null_mut());
    let mut empty: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut empty);
    libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    // Inherited descriptors (provider listeners, other gateways' pipes)
    // would keep ports bound and pipes open for as long as this lives.
    close_all_but(&[c.life_r, c.status_w, c.log, c.null]);
    libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    if libc::getppid() != c.parent {
        // slabench died before the watch began: start nothing.
        libc::_exit(0);
    }
    let me = libc::getpid();
    let mut exec = [0; 2];
    if libc::pipe2(exec.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
        report(c.status_w, FORK_FAILED, errno());
        libc::_exit(1);
    }
    let g = libc::fork();
    if g < 0 {
        report(c.status_w, FORK_FAILED, errno());
        libc::_exit(1);
    }
    if g == 0 {
        libc::close(exec[0]);
        gateway(c, me, exec[1]);
    }
    // Both sides set the group, so that it exists whichever runs first.
    libc::setpgid(g, g);
    libc::close(exec[1]);
    let mut buf = [0u8; 8];
    if read_full(exec[0], &mut buf) {
        let kind = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let err = c_int::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
        report(c.status_w, kind, err);
        let mut st = 0;
        libc::waitpid(g, &mut st, 0);
        libc::_exit(1);
    }
    libc::close(exec[0]);
    report(c.status_w, STARTED, g);
    watch(c, g);
    end_group(g, c.grace_ms);
    libc::_exit(0)
}

/// Waits until slabench is gone (the life pipe's end, or a new parent),
/// reporting the gateway's exit when it happens.
unsafe fn watch(c: &Ctx, g: pid_t) {
    loop {
        reap(g, c.status_w);
        if libc::getppid() != c.parent {
            return;
        }
        let mut pfd = libc::pollfd {
            fd: c.life_r,
            events: libc::POLLIN,
            revents: 0,
        };
        let n = libc::poll(&mut pfd, 1, 500);
        if n > 0 {
            let mut b = [0u8; 16];
            let r = libc::read(c.life_r, b.as_mut_ptr().cast(), b.len());
            if r == 0 || (r < 0 && errno() != libc::EINTR && errno() != libc::EAGAIN) {
                return;
            }
        }
    }
}

/// Reaps every child that has exited (the gateway, and its orphans that were
/// reparented here); reports the gateway's own exit.
unsafe fn reap(g: pid_t, status_w: c_int) {
    loop {
        let mut st = 0;
        let r = libc::waitpid(-1, &mut st, libc::WNOHANG);
        if r <= 0 {
            return;
        }
        if r == g {
            report(status_w, EXITED, st);
        }
    }
}

/// SIGTERM to the group, SIGKILL after `grace_ms`; returns once it is gone
/// (or after two more seconds).
unsafe fn end_group(g: pid_t, grace_ms: c_int) {
    if libc::kill(-g, 0) != 0 {
        return;
    }
    libc::kill(-g, libc::SIGTERM);
    let mut waited = 0;
    while waited < grace_ms {
        reap(g, -1);
        if libc::kill(-g, 0) != 0 {
            return;
        }
        libc::poll(std::ptr::null_mut(), 0, 20);
        waited += 20;
    }
    libc::kill(-g, libc::SIGKILL);
    for _ in 0..100 {
        reap(g, -1);
        if libc::kill(-g, 0) != 0 {
            return;
        }
        libc::poll(std::ptr::null_mut(), 0, 20);
    }
}

/// The gateway, in the supervisor's forked child: its own group, stdio to
/// the log, default signals, then exec. Never returns.
unsafe fn gateway(c: &Ctx, supervisor: pid_t, exec_w: c_int) -> ! {
    libc::setpgid(0, 0);
    // The supervisor ignores SIGTERM; only SIGKILL ends it early. The gateway
    // then goes too, rather than living on unsupervised.
    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
    if libc::getppid() != supervisor {
        libc::_exit(127);
    }
    // Ignored signals stay ignored across exec: give the gateway defaults.
    for sig in 1..32 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    libc::dup2(c.null, 0);
    libc::dup2(c.log, 1);
    libc::dup2(c.log, 2);
    for fd in [c.life_r, c.status_w, c.log, c.null] {
        if fd > 2 {
            libc::close(fd);
        }
    }
    if !c.cwd.is_null() && libc::chdir(c.cwd) != 0 {
        report(exec_w, CHDIR_FAILED, errno());
        libc::_exit(127);
    }
    libc::execve(c.path, c.argv, c.envp);
    report(exec_w, EXEC_FAILED, errno());
    libc::_exit(127)
}

unsafe fn report(fd: c_int, kind: u32, value: c_int) {
    if fd < 0 {
        return;
    }
    let k = kind.to_ne_bytes();
    let v = value.to_ne_bytes();
    let buf = [k[0], k[1], k[2], k[3], v[0], v[1], v[2], v[3]];
    // A pipe write of 8 bytes is atomic; EPIPE (slabench gone) is ignored.
    libc::write(fd, buf.as_ptr().cast(), buf.len());
}

/// Reads exactly `buf.len()` bytes; false on EOF first.
unsafe fn read_full(fd: c_int, buf: &mut [u8]) -> bool {
    let mut got = 0;
    while got < buf.len() {
        let r = libc::read(fd, buf[got..].as_mut_ptr().cast(), buf.len() - got);
        if r == 0 {
            return false;
        }
        if r < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return false;
        }
        got += r as usize;
    }
    true
}

unsafe fn errno() -> c_int {
    *libc::__errno_location()
}

/// Closes every descriptor from 3 up except `keep` (close_range(2), or one by
/// one on kernels before 5.9).
unsafe fn close_all_but(keep: &[c_int; 4]) {
    let mut k = *keep;
    // An insertion sort: nothing here may allocate.
    for i in 1..k.len() {
        let mut j = i;
        while j > 0 && k[j - 1] > k[j] {
            k.swap(j - 1, j);
            j -= 1;
        }
    }
    let mut from: c_int = 3;
    for fd in k.iter().copied().chain([c_int::MAX]) {
        if fd >= from {
            if fd > from {
                close_range(from, fd - 1);
            }
            from = fd.saturating_add(1);
        }
    }
}

unsafe fn close_range(first: c_int, last: c_int) {
    if libc::syscall(libc::SYS_close_range, first as u32, last as u32, 0u32) == 0 {
        return;
    }
    let mut lim: libc::rlimit = std::mem::zeroed();
    libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    let top = (lim.rlim_cur.min(1 << 20) as c_int).min(last);
    for fd in first..=top {
        libc::close(fd);
    }
}
