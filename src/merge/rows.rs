//! The client's rows of every shard, in request order, into one row file
//! for the ledger join: each shard's `requests.bin` is in request order
//! already, so a k-way merge keeps one row per shard in memory.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use anyhow::bail;

use crate::metrics::messages::ErrorMessages;
use crate::metrics::recorder::{RequestRow, RequestStore};
use crate::run::RowFile;
use crate::shard::{RowReader, ShardRun};

/// Puts every shard's rows into `into`, with each row's error message
/// moved to its index in the merged table (`maps[i]`: shard i's indices).
pub fn merge_rows(
    shards: &[ShardRun],
    maps: &[Vec<u8>],
    into: &mut RowFile,
) -> anyhow::Result<u64> {
    let mut readers: Vec<RowReader> = shards
        .iter()
        .map(ShardRun::rows)
        .collect::<Result<_, _>>()?;
    let mut heap = BinaryHeap::new();
    let mut heads: Vec<Option<RequestRow>> = vec![None; readers.len()];
    for (i, r) in readers.iter_mut().enumerate() {
        pull(r, i, shards, &mut heads, &mut heap)?;
    }
    let mut n = 0;
    let mut per_shard = vec![0u64; shards.len()];
    while let Some(Reverse((seq, i))) = heap.pop() {
        per_shard[i] += 1;
        let mut row = heads[i].take().expect("a head for every entry");
        if row.rec.message != ErrorMessages::NONE {
            row.rec.message = maps[i]
                .get(usize::from(row.rec.message))
                .copied()
                .unwrap_or(ErrorMessages::NONE);
        }
        into.put(seq, row);
        n += 1;
        pull(&mut readers[i], i, shards, &mut heads, &mut heap)?;
    }
    into.flush();
    // A row file cut short would leave requests out of the join, and their
    // attempts unmatched: the merge stops instead.
    for (s, got) in shards.iter().zip(per_shard) {
        if got != s.manifest.requests {
            bail!(
                "{}/shard/requests.bin holds {got} request rows, but its manifest.json says {}: \
                 the file is incomplete; this shard cannot be merged",
                s.run_dir.display(),
                s.manifest.requests
            );
        }
    }
    Ok(n)
}

fn pull(
    r: &mut RowReader,
    i: usize,
    shards: &[ShardRun],
    heads: &mut [Option<RequestRow>],
    heap: &mut BinaryHeap<Reverse<(u64, usize)>>,
) -> anyhow::Result<()> {
    let Some(next) = r.next() else {
        return Ok(());
    };
    let (seq, row) = next?;
    let shard = shards[i].manifest.shard;
    if !shard.contains(seq) {
        bail!(
            "{}/shard/requests.bin: request {seq} is not shard {shard}'s",
            shards[i].run_dir.display()
        );
    }
    heads[i] = Some(row);
    heap.push(Reverse((seq, i)));
    Ok(())
}
