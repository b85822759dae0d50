//! `slabench mock --start-at`: the providers' t=0 is mapped onto the
//! monotonic clock as a run maps it, again a second before it after a long
//! wait, so a step of the system clock meanwhile moves the fault windows
//! with the shards' load. Over loopback, with an injected wall clock.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::testing::{fault, scenario};
use crate::scenario::FaultKind;

/// The monotonic instant of the first reading.
static FIRST: OnceLock<Instant> = OnceLock::new();

/// The real clocks, except that NTP steps the wall clock 2.5 s forward
/// one second after the first reading (it was 2.5 s slow).
fn stepped_clocks() -> (SystemTime, Instant) {
    let now = Instant::now();
    let first = *FIRST.get_or_init(|| now);
    let step = if now - first >= Duration::from_secs(1) {
        Duration::from_millis(2_500)
    } else {
        Duration::ZERO
    };
    (SystemTime::now() + step, now)
}

/// What the mock prints, shared with the test while it serves.
#[derive(Clone, Default)]
struct Printed(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Printed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_maps_start_at_again_before_t0_and_follows_a_step_of_the_wall_clock() {
    let dir = tempfile::tempdir().unwrap();
    // p0 answers 500 to everything from t=0 on.
    let mut sc = scenario(1, 1);
    sc.faults = vec![fault(
        0,
        FaultKind::ErrorBurst { status: 500 },
        Duration::ZERO,
        None,
    )];
    let (wall, began) = stepped_clocks();
    // 3 s ahead on the wall clock at startup; after the step at 1 s, t=0
    // is 0.5 s after startup on the monotonic clock.
    let how = super::Serve {
        start_at: Some(crate::clock::StartAt(wall + Duration::from_secs(3))),
        clocks: stepped_clocks,
        ..Default::default()
    };
    let printed = Printed::default();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut out = printed.clone();
    let ledger = dir.path().join("mock.bin");
    let serving = super::serve(
        &sc,
        &ledger,
        &mut out,
        async {
            let _ = rx.await;
            Ok(())
        },
        how,
    );
    let ask = async {
        // 2.4 s after startup: after t=0 as the stepped clock says (0.5 s),
        // before it as mapped at startup (3 s).
        tokio::time::sleep_until(began + Duration::from_millis(2_400)).await;
        let text = String::from_utf8(printed.0.lock().unwrap().clone()).unwrap();
        let url = text
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap();
        let body = serde_json::json!({
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
        });
        let status = reqwest::Client::new()
            .post(format!("{url}/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status();
        tx.send(()).unwrap();
        status
    };
    let (served, status) = tokio::join!(serving, ask);
    served.unwrap();
    assert_eq!(
        status.as_u16(),
        500,
        "the fault window started on the stepped clock's t=0"
    );
}
