//! `shard/requests.bin`: the client's rows of one shard, for the ledger
//! join. A 16-byte header (`SLBROWS1`, then the row length 32 and 0 as
//! little-endian u32s), then one record per request in request order: its
//! number (u64, little-endian) and its 32-byte `RequestRow`.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use anyhow::{bail, Context};

use crate::metrics::recorder::RequestRow;

const MAGIC: &[u8; 8] = b"SLBROWS1";
const RECORD: usize = 8 + RequestRow::LEN;

/// Writes rows in request order.
pub struct RowWriter<W: Write> {
    out: W,
    last: Option<u64>,
    pub count: u64,
}

impl<W: Write> RowWriter<W> {
    pub fn new(mut out: W) -> std::io::Result<Self> {
        out.write_all(MAGIC)?;
        out.write_all(&(RequestRow::LEN as u32).to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        Ok(RowWriter {
            out,
            last: None,
            count: 0,
        })
    }

    /// Request `seq`'s row; `seq` grows from call to call.
    pub fn put(&mut self, seq: u64, row: &RequestRow) -> anyhow::Result<()> {
        if self.last.is_some_and(|l| l >= seq) {
            bail!("rows out of order: {seq} after {:?}", self.last);
        }
        self.last = Some(seq);
        self.out.write_all(&seq.to_le_bytes())?;
        self.out.write_all(&row.encode())?;
        self.count += 1;
        Ok(())
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads the rows back, in request order.
pub struct RowReader {
    input: BufReader<File>,
    path: String,
    last: Option<u64>,
}

impl RowReader {
    pub fn open(path: &Path) -> anyhow::Result<RowReader> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut input = BufReader::with_capacity(256 * 1024, file);
        let mut header = [0u8; 16];
        input
            .read_exact(&mut header)
            .with_context(|| format!("{}: no header", path.display()))?;
        if &header[..8] != MAGIC || header[8..12] != (RequestRow::LEN as u32).to_le_bytes() {
            bail!(
                "{}: not a slabench requests file of layout 1",
                path.display()
            );
        }
        Ok(RowReader {
            input,
            path: path.display().to_string(),
            last: None,
        })
    }
}

impl Iterator for RowReader {
    type Item = anyhow::Result<(u64, RequestRow)>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut b = [0u8; RECORD];
        let mut got = 0;
        while got < RECORD {
            match self.input.read(&mut b[got..]) {
                Ok(0) if got == 0 => return None,
                Ok(0) => {
                    return Some(Err(anyhow::anyhow!(
                        "{}: the last record is cut short",
                        self.path
                    )))
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Some(Err(anyhow::anyhow!("reading {}: {e}", self.path))),
            }
        }
        let seq = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
        let row: &[u8; RequestRow::LEN] = b[8..].try_into().expect("row length");
        let bad = |what: &str| Some(Err(anyhow::anyhow!("{}: request {seq}: {what}", self.path)));
        if self.last.is_some_and(|l| l >= seq) {
            return bad("out of order");
        }
        self.last = Some(seq);
        match RequestRow::decode(row) {
            Some(r) => Some(Ok((seq, r))),
            None => bad("not a row"),
        }
    }
}

/// Writes `rows` to `path` (plain; the folder's rename makes it atomic).
pub(super) fn write_rows(
    path: &Path,
    rows: impl Iterator<Item = (u64, RequestRow)>,
) -> anyhow::Result<u64> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = RowWriter::new(BufWriter::with_capacity(256 * 1024, file))?;
    for (seq, row) in rows {
        w.put(seq, &row)?;
    }
    let n = w.count;
    w.finish()?
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    Ok(n)
}
