//! Panics inside slabench are slabench's failures, never the gateway's.
//!
//! A panic in a provider or gateway task would otherwise surface only as a
//! reset or a 5xx at the client, and be blamed on the gateway under test.
//! [`install`] sets a process-wide panic hook that records every panic (and
//! still prints it); a run takes a [`mark`] at its start and reads the panics
//! [`since`] it at the end: any at all make the run INVALID, with the
//! message.
//!
//! [`failpoint`] lets the test suite make slabench panic on purpose at a
//! named place (`SLABENCH_FAILPOINT=provider.answer`), so that this path is
//! tested end to end through the real binary.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once, OnceLock};

static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Every panic recorded, including those past the stored messages' cap.
static COUNT: AtomicUsize = AtomicUsize::new(0);
static INSTALL: Once = Once::new();

/// Installs the recording hook (once; later calls do nothing).
pub fn install() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let what = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            let thread = std::thread::current();
            if !is_slabench_thread(thread.name()) {
                previous(info);
                return;
            }
            let place = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let line = format!(
                "panic in thread '{}'{place}: {what}",
                thread.name().unwrap_or("unnamed")
            );
            COUNT.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut p) = PANICS.lock() {
                // Bounded: a panic storm keeps its first hundred messages
                // (the count goes on, so no later panic goes unseen).
                if p.len() < 100 {
                    p.push(line);
                }
            }
            eprintln!("slabench internal error (a bug in slabench, not in the system under test):");
            previous(info);
        }));
    });
}

/// Whether a thread is one of slabench's: the main thread, tokio's
/// workers (and blocking threads), slabench's own named threads, unnamed threads. Anything else
/// (a test harness's thread, named after its test) is not slabench's, so
/// a failing assertion in one test cannot make another test's run INVALID.
fn is_slabench_thread(name: Option<&str>) -> bool {
    match name {
        None | Some("main") => true,
        Some(n) => {
            // tokio names its workers `tokio-rt-worker` (older versions:
            // `tokio-runtime-worker`); the binary names its own.
            n.starts_with("tokio-") || n.starts_with("slabench-") || n == "gateway-watch"
        }
    }
}

/// How many panics were recorded so far.
pub fn mark() -> usize {
    COUNT.load(Ordering::SeqCst)
}

/// The panics recorded after `mark`: their messages, or a count of those
/// past the stored messages' cap.
pub fn since(mark: usize) -> Vec<String> {
    let total = COUNT.load(Ordering::SeqCst);
    if total <= mark {
        return Vec::new();
    }
    let stored = PANICS
        .lock()
        .map(|p| p.get(mark..).unwrap_or_default().to_vec())
        .unwrap_or_else(|p| p.into_inner().get(mark..).unwrap_or_default().to_vec());
    let mut out = stored;
    let unstored = (total - mark).saturating_sub(out.len());
    if unstored > 0 {
        out.push(format!(
            "{unstored} more panic(s) whose messages were not kept"
        ));
    }
    out
}

/// Panics when `SLABENCH_FAILPOINT` names `place` (a test hook; a no-op
/// otherwise, read once per process).
pub fn failpoint(place: &str) {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| std::env::var("SLABENCH_FAILPOINT").ok());
    if armed.as_deref() == Some(place) {
        panic!("failpoint {place} (SLABENCH_FAILPOINT)");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn records_panics_in_tasks_and_threads() {
        super::install();
        let mark = super::mark();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let joined = rt.block_on(rt.spawn(async { panic!("boom in a task") }));
        assert!(joined.is_err());
        let _ = std::thread::spawn(|| panic!("boom in a thread")).join();
        // A test harness's thread is not slabench's.
        let _ = std::thread::Builder::new()
            .name("some_other_test".into())
            .spawn(|| panic!("boom in a test's thread"))
            .unwrap()
            .join();
        let seen = super::since(mark);
        let saw = |what: &str| seen.iter().any(|p| p.contains(what));
        assert!(saw("boom in a task"), "{seen:?}");
        assert!(saw("boom in a thread"), "{seen:?}");
        assert!(!saw("test's thread"), "{seen:?}");
    }
}
