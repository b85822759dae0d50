use super::*;
use crate::providers::ledger::AttemptOutcome;

fn attempt(seq: u64, i: i64) -> Attempt {
    Attempt {
        tag: Some(seq),
        provider: (i % 3) as u16,
        arrived_us: i,
        answered_us: i + 10,
        outcome: AttemptOutcome::Ok,
        status: 200,
        input_tokens: 1,
        output_tokens: 2,
        stream: false,
        first_byte_us: None,
        retry_after_ms: None,
        fault: None,
    }
}

#[test]
fn sorted_by_request_then_ledger_order_through_merged_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut sort = AttemptRuns::with_run(dir.path(), 3);
    let mut pushed = Vec::new();
    let mut x = 11u64;
    for i in 0..2000i64 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        let seq = (x >> 33) % 300;
        let a = attempt(seq, i);
        sort.push(seq, &a);
        pushed.push((seq, a));
    }
    // 666 runs of 3 written; merges of 16 keep fewer than 16 per size open.
    assert!(sort.runs.len() < 4 * FAN_IN, "{} runs", sort.runs.len());
    assert!(sort.runs.iter().any(|r| r.level >= 2));
    pushed.sort_by_key(|(seq, _)| *seq); // stable: ledger order within one
    let got: Vec<(u64, Attempt)> = sort.sorted().collect();
    assert_eq!(got, pushed);
    // Read again, the same.
    assert_eq!(sort.sorted().count(), pushed.len());
    assert_eq!((sort.error(), sort.warning()), (None, None));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_directory_that_cannot_be_written_keeps_the_attempts_in_memory() {
    let mut sort = AttemptRuns::with_run(std::path::Path::new("/nonexistent/slabench"), 2);
    let pushed: Vec<(u64, Attempt)> = (0..9)
        .map(|i| (8 - i as u64, attempt(8 - i as u64, i)))
        .collect();
    for (seq, a) in &pushed {
        sort.push(*seq, a);
    }
    let mut want = pushed.clone();
    want.sort_by_key(|(seq, _)| *seq);
    assert_eq!(sort.sorted().collect::<Vec<_>>(), want);
    assert!(sort.warning().is_some_and(|w| w.contains("in memory")));
    assert_eq!(sort.error(), None);
}
