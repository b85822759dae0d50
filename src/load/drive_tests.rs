//! The drive over a real loopback socket: what reaches the recorder, when.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use hyper_util::rt::TokioIo;

use super::*;
use crate::scenario::{Arrival, Budgets, Stage, TrafficClass};

/// A loopback server that answers every request at once (a 503: the
/// outcome does not matter here).
async fn server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|_req| async {
                    let mut r = Response::new(Full::new(Bytes::from_static(b"{}")));
                    *r.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
                    Ok::<_, Infallible>(r)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

fn driver(addr: SocketAddr) -> Arc<Driver> {
    let class = TrafficClass {
        name: "default".into(),
        weight: 1.0,
        model: "m".into(),
        prompt_tokens: 10,
        max_tokens: 4,
        stream: false,
        budgets: Budgets::default(),
    };
    let target = Target::new(&format!("http://{addr}"), &[], Duration::from_secs(5), 16).unwrap();
    Arc::new(Driver {
        targets: vec![target],
        plans: vec![ClassPlan::new(&class)],
        shard: Default::default(),
        max_in_flight: 16,
        drain: Duration::from_secs(2),
        interrupt_grace: Duration::from_secs(1),
    })
}

/// Results travel in batches, but a lane that goes to sleep until its next
/// send first hands over what it holds: at a low rate a result is not kept
/// back until the next request is due (the live view and the per-second
/// rows would lag by a whole interval).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_reaches_the_recorder_before_the_lane_sleeps_to_its_next_send() {
    let addr = server().await;
    // Two requests a second apart.
    let stages = [Stage::Hold {
        rpm: 60.0,
        duration: Duration::from_secs(2),
    }];
    let schedule = Schedule::new(&stages, Arrival::Constant, &[1.0], 1);
    let (tx, mut rx) = mpsc::channel(RESULT_QUEUE);
    let live = Arc::new(Live::default());
    let (_stop_tx, stop) = watch::channel(false);
    let origin = Instant::now() + Duration::from_millis(20);
    let drive = tokio::spawn(drive(
        driver(addr),
        schedule,
        origin,
        tx,
        live.clone(),
        stop,
    ));
    let first = rx.recv().await.expect("a batch");
    assert_eq!(first.len(), 1, "the first answer came alone");
    assert_eq!(
        live.sent.load(Ordering::Relaxed),
        1,
        "the first answer was held until the second request was sent"
    );
    let mut seen = first.len();
    while let Some(batch) = rx.recv().await {
        seen += batch.len();
    }
    assert_eq!(seen, 2, "every result reaches the recorder by the end");
    let end = drive.await.unwrap();
    assert!(!end.interrupted && end.gave_up.is_none());
}
