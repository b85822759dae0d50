use std::time::Duration;

use super::*;
use crate::analysis::failover::{self, analyze_client, analyze_records, Connections, Input};
use crate::metrics::recorder::{AccountRecord, AnswerRecord, ClientRecord, ClientTiming};
use crate::metrics::request::Checked;
use crate::metrics::Outcome;
use crate::providers::ledger::{Attempt, AttemptOutcome};
use crate::run::sort::AttemptRuns;
use crate::scenario::{Fault, FaultKind};

fn row(seq: u64, outcome: Outcome) -> RequestRow {
    RequestRow {
        rec: ClientRecord {
            intended_ms: (seq * 33) as u32,
            latency_us: 150_000 + (seq % 97) as u32 * 1000,
            served_by: (seq % 2) as u8,
            message: crate::metrics::messages::ErrorMessages::NONE,
            class: (seq % 3) as u8,
            outcome,
            account: AccountRecord::EMPTY,
        },
        answer: AnswerRecord::new(&Checked {
            tokens: 50,
            provider: Some((seq % 2) as u16),
        }),
        timing: ClientTiming {
            service_us: 140_000 + (seq % 89) as u32 * 1000,
            ttft_us: if seq.is_multiple_of(4) {
                30_000
            } else {
                ClientTiming::NONE
            },
        },
    }
}

#[test]
fn rows_come_back_by_request_number_whatever_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = RowFile::create(dir.path());
    // Completion order: mostly ascending, one row far behind the window,
    // one never reported (10), a gap at the end (20_001..20_009).
    let mut order: Vec<u64> = (0..20_000).filter(|s| *s != 3 && *s != 10).collect();
    order.swap(100, 160);
    order.push(3);
    order.push(20_010);
    for &seq in &order {
        file.put(seq, row(seq, Outcome::Ok));
    }
    file.flush();
    let got: Vec<(u64, RequestRow)> = file.rows().collect();
    let mut want: Vec<u64> = order.clone();
    want.sort_unstable();
    assert_eq!(got.len(), want.len());
    for ((seq, r), w) in got.iter().zip(&want) {
        assert_eq!((*seq, *r), (*w, row(*w, Outcome::Ok)));
    }
    assert_eq!(file.error(), None);
    // Read twice, the same.
    assert_eq!(file.rows().count(), want.len());
    // The file is gone from the directory already.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_shard_keeps_its_own_rows_densely_under_their_global_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let shard = crate::load::shard::Shard::new(2, 3).unwrap();
    let mut file = RowFile::create(dir.path()).sharded(shard);
    let seqs: Vec<u64> = (0..30_000).filter(|s| shard.contains(*s)).collect();
    for &seq in seqs.iter().rev() {
        file.put(seq, row(seq, Outcome::Ok));
    }
    file.flush();
    let got: Vec<(u64, RequestRow)> = file.rows().collect();
    assert_eq!(got.len(), seqs.len());
    for ((seq, r), w) in got.iter().zip(&seqs) {
        assert_eq!((*seq, *r), (*w, row(*w, Outcome::Ok)));
    }
    // The file holds this shard's rows only (a third of the whole).
    assert_eq!(file.end, seqs.len() as u64);
    assert_eq!(file.error(), None);
    // Another shard's request is refused and said.
    file.put(1, row(1, Outcome::Ok));
    assert!(file.error().is_some_and(|e| e.contains("shard 2/3")));
}

#[test]
fn a_row_encodes_and_decodes_to_itself() {
    for (i, o) in Outcome::ALL.iter().enumerate() {
        let r = row(i as u64 * 7919, *o);
        assert_eq!(RequestRow::decode(&r.encode()), Some(r));
    }
    assert_eq!(RequestRow::decode(&[0; RequestRow::LEN]), None);
}

/// A small deterministic generator (no clock, no global RNG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn attempt(seq: u64, provider: u16, at_ms: i64, outcome: AttemptOutcome, status: u16) -> Attempt {
    Attempt {
        tag: Some(seq),
        provider,
        arrived_us: at_ms * 1000,
        answered_us: at_ms * 1000 + 40_000,
        outcome,
        status,
        input_tokens: 100,
        output_tokens: if outcome == AttemptOutcome::Ok { 50 } else { 0 },
        stream: seq.is_multiple_of(4),
        first_byte_us: (seq.is_multiple_of(4)).then_some(10_000),
        retry_after_ms: None,
        fault: (40_000..60_000).contains(&at_ms).then_some(0),
    }
}

/// 3,000 requests over 99 s: some never reported or dropped, a flash
/// outage from 40 s to 60 s (failed over to qwen), non-retryable 400s
/// retried elsewhere, hedges, strays; the ledger shuffled.
fn run_like() -> (Vec<(u64, RequestRow)>, Vec<Attempt>) {
    let mut rng = Lcg(7);
    let (mut rows, mut atts) = (Vec::new(), Vec::new());
    for seq in 0..3000u64 {
        let at = (seq * 33) as i64;
        let r = rng.next(20);
        if r == 0 {
            continue; // never reported
        }
        let outcome = match r {
            1 => Outcome::Dropped,
            2 => Outcome::Http5xx,
            3 => Outcome::CutOff,
            _ => Outcome::Ok,
        };
        rows.push((seq, row(seq, outcome)));
        match r {
            1 => {}
            2 => {
                atts.push(attempt(seq, 0, at, AttemptOutcome::HttpError, 503));
                atts.push(attempt(seq, 1, at + 5, AttemptOutcome::HttpError, 503));
            }
            4 => {
                atts.push(attempt(seq, 0, at, AttemptOutcome::HttpError, 400));
                atts.push(attempt(seq, 1, at + 5, AttemptOutcome::Ok, 200));
            }
            5 => {
                // A hedge: both answered.
                atts.push(attempt(seq, 0, at, AttemptOutcome::Ok, 200));
                atts.push(attempt(seq, 1, at + 2, AttemptOutcome::Ok, 200));
            }
            _ if (40_000..60_000).contains(&at) => {
                atts.push(attempt(seq, 0, at, AttemptOutcome::HttpError, 503));
                atts.push(attempt(seq, 1, at + 5, AttemptOutcome::Ok, 200));
            }
            _ => atts.push(attempt(seq, (seq % 2) as u16, at, AttemptOutcome::Ok, 200)),
        }
    }
    atts.push(Attempt {
        tag: None,
        ..attempt(0, 0, 5, AttemptOutcome::Ok, 200)
    });
    atts.push(attempt(1 << 40, 1, 7, AttemptOutcome::Ok, 200));
    for i in (1..atts.len()).rev() {
        atts.swap(i, rng.next(i as u64 + 1) as usize);
    }
    (rows, atts)
}

#[test]
fn the_join_from_files_is_the_join_from_memory() {
    let (rows, atts) = run_like();
    let end = rows.last().unwrap().0 as usize + 1;
    let mut recs = vec![ClientRecord::MISSING; end];
    let mut answers = vec![AnswerRecord::NONE; end];
    let mut timings = vec![ClientTiming::MISSING; end];
    for (seq, r) in &rows {
        recs[*seq as usize] = r.rec;
        answers[*seq as usize] = r.answer;
        timings[*seq as usize] = r.timing;
    }
    let providers = ["flash".to_string(), "qwen".to_string()];
    let classes = ["a".to_string(), "b".into(), "c".into()];
    let faults = [Fault {
        providers: vec![0],
        target_label: "provider flash".into(),
        start: Duration::from_secs(40),
        duration: Some(Duration::from_secs(20)),
        probability: 1.0,
        kind: FaultKind::OutageHttp { status: 503 },
        error: Default::default(),
        after_tokens: None,
    }];
    let input = Input {
        providers: &providers,
        groups: &[],
        prices: &[(0.1, 0.2), (1.0, 2.0)],
        class_names: &classes,
        faults: &faults,
        requests: &recs,
        duration_s: 100,
        sent_until_s: 99.0,
        account_dialects: 0,
        dialects: &[],
        messages: &[],
        connections: Connections::NotObservable("not watched"),
    };
    let memory = analyze_client(&input, &answers, &timings, atts.iter().copied());

    let dir = tempfile::tempdir().unwrap();
    let mut file = RowFile::create(dir.path());
    // Completion order: by intended send plus latency.
    let mut done = rows.clone();
    done.sort_by_key(|(seq, r)| {
        (
            u64::from(r.rec.intended_ms) * 1000 + u64::from(r.rec.latency_us),
            *seq,
        )
    });
    for (seq, r) in done {
        file.put(seq, r);
    }
    file.flush();
    let mut sort = AttemptRuns::with_run(dir.path(), 5);
    let streamed = Input {
        requests: &[],
        ..input
    };
    let files = analyze_records(&streamed, &file, &mut sort, atts.iter().copied());
    assert_eq!(
        (file.error(), sort.error(), sort.warning()),
        (None, None, None)
    );
    // Something to compare: failovers, non-retryable errors, overhead.
    assert!(memory.failovers > 100, "{}", memory.failovers);
    assert!(memory.untagged_attempts == 1 && memory.unmatched_attempts == 1);
    let o = memory.obedience.as_ref().unwrap();
    assert!(o.non_retryable.requests > 50, "{:?}", o.non_retryable);
    assert!(memory.gateway_overhead.as_ref().unwrap().all.requests > 1000);
    assert_eq!(files, memory);
    let _: &failover::Report = &files;
}
