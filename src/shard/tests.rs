//! The folder reads back as written.
use std::time::{Duration, SystemTime};

use super::*;
use crate::analysis::failover::Records;
use crate::load::generator::{DriveEnd, GaveUp};
use crate::load::shard::Shard;
use crate::metrics::recorder::{Recorder, RequestRow};
use crate::metrics::request::{Measured, RequestResult};
use crate::metrics::Outcome;

struct Rows(Vec<(u64, RequestRow)>);

impl Records for Rows {
    fn rows(&self) -> Box<dyn Iterator<Item = (u64, RequestRow)> + '_> {
        Box::new(self.0.iter().copied())
    }
    fn timings_kept(&self) -> bool {
        true
    }
}

fn recorder(shard: Shard) -> Recorder {
    let mut rec = Recorder::new(["c".to_string()]).keep_requests(vec!["p0".into()]);
    for seq in (0..500).filter(|s| shard.contains(*s)) {
        let outcome = if seq % 13 == 0 {
            Outcome::Http5xx
        } else {
            Outcome::Ok
        };
        rec.record(&RequestResult {
            seq,
            class: 0,
            intended: Duration::from_millis(seq * 20),
            lag: Duration::from_micros(seq % 7 * 50),
            outcome,
            m: Measured {
                latency: Duration::from_millis(80 + seq % 50),
                service: Duration::from_millis(79 + seq % 50),
                status: if outcome.is_ok() { 200 } else { 503 },
                error_message: Some("overloaded".into()),
                served_by: Some("p0".into()),
                ..Measured::default()
            },
        });
    }
    rec.finish();
    rec
}

fn rows_of(rec: &Recorder) -> Rows {
    let reqs = rec.requests.as_ref().unwrap();
    Rows(
        reqs.iter()
            .enumerate()
            .filter(|(_, r)| !r.is_missing())
            .map(|(i, r)| {
                let row = RequestRow {
                    rec: *r,
                    answer: rec.answers[i],
                    timing: rec.timings.as_ref().unwrap()[i],
                };
                (i as u64, row)
            })
            .collect(),
    )
}

#[test]
fn a_shard_folder_reads_back_as_it_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let shard = Shard::new(1, 3).unwrap();
    let rec = recorder(shard);
    let rows = rows_of(&rec);
    assert_eq!(rows.0.len(), 167);
    let sc = crate::providers::testing::scenario(1, 1);
    let end = DriveEnd {
        interrupted: false,
        send_span: Duration::from_millis(9_980),
        in_flight_at_interrupt: None,
        gave_up: Some(GaveUp {
            at: Duration::from_millis(9_000),
            lag: Duration::from_millis(300),
            since: Duration::from_millis(7_500),
            held: 77,
        }),
    };
    std::fs::write(dir.path().join("ledger.bin"), b"").unwrap();
    write(&WriteInput {
        run_dir: dir.path(),
        scenario: &sc,
        shard,
        started: SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_320_790_123),
        t0: SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_320_800_000),
        allow_remote: true,
        recorder: &rec,
        rows: Some(&rows),
        end: &end,
        host: None,
        interrupted: None,
        internal_errors: vec!["boom".into()],
        gateway_exit: None,
        output_problems: vec![],
        ledger: Some((std::path::Path::new("ledger.bin"), None)),
        start: Some(&crate::analysis::start::StartFact {
            start_at: "2026-12-03T18:00:00Z".into(),
            late_ms: 0.4,
            sent: true,
        }),
    })
    .unwrap();
    // Complete: no temporary folder left.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");

    let back = read(dir.path()).unwrap();
    let m = &back.manifest;
    assert_eq!(
        (m.layout_version, m.shard, m.seed),
        (LAYOUT_VERSION, shard, sc.seed)
    );
    assert_eq!(m.scenario.digest, scenario_digest(&sc));
    assert_eq!(m.started_unix_ms, 1_796_320_790_123);
    assert_eq!(m.t0_unix_ms, Some(1_796_320_800_000));
    assert!(m.allow_remote);
    assert_eq!(m.drive.end(), end);
    assert_eq!(m.internal_errors, vec!["boom".to_string()]);
    assert_eq!(m.requests, 167);
    assert_eq!(
        (m.start_at.as_deref(), m.start_late_ms, m.start_sent),
        (Some("2026-12-03T18:00:00Z"), Some(0.4), Some(true))
    );
    assert_eq!(back.ledger(), Some(dir.path().join("ledger.bin")));
    // The recorder: identical counts, histograms, rows per second, table.
    assert_eq!(back.recorder.to_state(), rec.to_state());
    assert_eq!(back.recorder.total_counts(), rec.total_counts());
    assert_eq!(back.recorder.classes[0].latency, rec.classes[0].latency);
    assert_eq!(back.recorder.timeline, rec.timeline);
    // The client's rows, with their request numbers.
    let got: Vec<(u64, RequestRow)> = back.rows().unwrap().map(Result::unwrap).collect();
    assert_eq!(got, rows.0);
    assert!(got.iter().all(|(s, _)| shard.contains(*s)));
}

#[test]
fn a_damaged_folder_is_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let e = read(dir.path()).unwrap_err().to_string();
    assert!(e.contains("has no shard/ folder"), "{e}");
    let sc = crate::providers::testing::scenario(1, 1);
    let rec = recorder(Shard::WHOLE);
    write(&WriteInput {
        run_dir: dir.path(),
        scenario: &sc,
        shard: Shard::WHOLE,
        started: SystemTime::now(),
        t0: SystemTime::now(),
        allow_remote: false,
        recorder: &rec,
        rows: None,
        end: &DriveEnd::default(),
        host: None,
        interrupted: None,
        internal_errors: vec![],
        gateway_exit: None,
        output_problems: vec![],
        ledger: None,
        start: None,
    })
    .unwrap();
    let path = dir.path().join("shard/manifest.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("\"layout_version\": 1", "\"layout_version\": 9"),
    )
    .unwrap();
    let e = format!("{:#}", read(dir.path()).unwrap_err());
    assert!(e.contains("layout_version 9 is not 1"), "{e}");
    std::fs::write(&path, "{").unwrap();
    let e = format!("{:#}", read(dir.path()).unwrap_err());
    assert!(e.contains("manifest.json is not valid"), "{e}");
    // A manifest written before t0_unix_ms existed still reads (without it).
    let old: String = text
        .lines()
        .filter(|l| !l.contains("\"t0_unix_ms\""))
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(old.len(), text.trim_end().len(), "the key was written");
    std::fs::write(&path, old).unwrap();
    assert_eq!(read(dir.path()).unwrap().manifest.t0_unix_ms, None);
    // A cut requests file says so.
    std::fs::write(&path, text).unwrap();
    let rows = dir.path().join("shard/requests.bin");
    let mut bytes = std::fs::read(&rows).unwrap();
    bytes.extend_from_slice(&[1, 2, 3]);
    std::fs::write(&rows, bytes).unwrap();
    let back = read(dir.path()).unwrap();
    let e = back
        .rows()
        .unwrap()
        .last()
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(e.contains("cut short"), "{e}");
}
