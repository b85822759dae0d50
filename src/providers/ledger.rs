//! The ledger: the providers' record of every attempt they received.
//!
//! CONTRACT (shared with analysis): one compact [`Attempt`] per request a
//! provider received, tagged or not. Records are appended from many server
//! tasks and must not make memory grow with the length of the run.
//!
//! On disk a ledger is [`MAGIC`] followed by fixed-size records
//! ([`Attempt::encode`]); `ledger_writer.rs` appends them, [`read_ledger`]
//! streams them back.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::Context as _;

/// What a provider received and did with it. Times are microseconds since t=0
/// of the run clock (negative before t=0, e.g. the preflight request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// The request number from the tag, if one arrived.
    pub tag: Option<u64>,
    /// Index of the provider in `Scenario::providers`.
    pub provider: u16,
    pub arrived_us: i64,
    /// When the provider finished answering, or gave up on the connection.
    pub answered_us: i64,
    /// What the provider injected / did.
    pub outcome: AttemptOutcome,
    /// HTTP status sent (0 when none was sent: reset, hang, client gone).
    pub status: u16,
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub stream: bool,
    /// When the provider sent its first content byte, µs after `arrived_us`:
    /// the first SSE event of a stream, the whole body of any other answer.
    /// `None` when it sent none (reset, hang, a stream cut before its first
    /// chunk, a client gone first).
    pub first_byte_us: Option<u32>,
    /// The wait the answer's Retry-After asked for, in ms (`retry-after-ms`
    /// when sent, else the header's seconds or date), `None` without one.
    pub retry_after_ms: Option<u32>,
    /// The index in `Scenario::faults` of the fault that decided this
    /// attempt's error (status or stream error event), if one did.
    pub fault: Option<u16>,
}

/// What the provider did with an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum AttemptOutcome {
    /// A complete, well-formed answer.
    Ok = 0,
    /// An HTTP error status from a fault or the base error rate (not 429).
    HttpError = 1,
    /// 429 from the rate limit or a fault.
    RateLimited = 2,
    /// Connection reset.
    Reset = 3,
    /// Accepted and never answered (the client or gateway gave up).
    Hang = 4,
    /// A malformed answer (invalid JSON, no choices, wrong content type).
    Malformed = 5,
    /// A stream cut without `[DONE]`.
    StreamCut = 6,
    /// An error event mid-stream.
    StreamError = 7,
    /// The peer went away before the answer was complete.
    ClientGone = 8,
    /// The request itself was bad (400).
    BadRequest = 9,
}

impl AttemptOutcome {
    /// Every outcome, in code order (`ALL[o as usize] == o`).
    pub const ALL: [AttemptOutcome; 10] = [
        AttemptOutcome::Ok,
        AttemptOutcome::HttpError,
        AttemptOutcome::RateLimited,
        AttemptOutcome::Reset,
        AttemptOutcome::Hang,
        AttemptOutcome::Malformed,
        AttemptOutcome::StreamCut,
        AttemptOutcome::StreamError,
        AttemptOutcome::ClientGone,
        AttemptOutcome::BadRequest,
    ];

    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// snake_case name for reports.
    pub fn name(self) -> &'static str {
        match self {
            AttemptOutcome::Ok => "ok",
            AttemptOutcome::HttpError => "http_error",
            AttemptOutcome::RateLimited => "rate_limited",
            AttemptOutcome::Reset => "reset",
            AttemptOutcome::Hang => "hang",
            AttemptOutcome::Malformed => "malformed",
            AttemptOutcome::StreamCut => "stream_cut",
            AttemptOutcome::StreamError => "stream_error",
            AttemptOutcome::ClientGone => "client_gone",
            AttemptOutcome::BadRequest => "bad_request",
        }
    }
}

/// The ledger file starts with these bytes (the last one is the format version).
/// Version 2 added `first_byte_us`; 3 added `retry_after_ms` and `fault`.
pub const MAGIC: [u8; 8] = *b"SLBLEDG\x03";
/// Size of one encoded [`Attempt`].
pub const RECORD_LEN: usize = 48;
/// `first_byte_us` on disk when there was no first byte.
const NO_FIRST_BYTE: u32 = u32::MAX;

const TAGGED: u8 = 1;
const STREAM: u8 = 2;

impl Attempt {
    /// Little-endian fixed layout: tag u64, provider u16, arrived i64,
    /// answered i64, outcome u8, flags u8 (1 tagged, 2 stream), status u16,
    /// input u32, output u32, first byte u32 (`u32::MAX`: none), retry
    /// after ms u32 (`u32::MAX`: none), fault u16 (`u16::MAX`: none).
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut b = [0u8; RECORD_LEN];
        b[0..8].copy_from_slice(&self.tag.unwrap_or(0).to_le_bytes());
        b[8..10].copy_from_slice(&self.provider.to_le_bytes());
        b[10..18].copy_from_slice(&self.arrived_us.to_le_bytes());
        b[18..26].copy_from_slice(&self.answered_us.to_le_bytes());
        b[26] = self.outcome as u8;
        b[27] = if self.tag.is_some() { TAGGED } else { 0 } | if self.stream { STREAM } else { 0 };
        b[28..30].copy_from_slice(&self.status.to_le_bytes());
        b[30..34].copy_from_slice(&self.input_tokens.to_le_bytes());
        b[34..38].copy_from_slice(&self.output_tokens.to_le_bytes());
        let first_byte = self
            .first_byte_us
            .map_or(NO_FIRST_BYTE, |v| v.min(NO_FIRST_BYTE - 1));
        b[38..42].copy_from_slice(&first_byte.to_le_bytes());
        let retry = self
            .retry_after_ms
            .map_or(u32::MAX, |v| v.min(u32::MAX - 1));
        b[42..46].copy_from_slice(&retry.to_le_bytes());
        let fault = self.fault.map_or(u16::MAX, |v| v.min(u16::MAX - 1));
        b[46..48].copy_from_slice(&fault.to_le_bytes());
        b
    }

    /// The attempt in a record, or `None` when its outcome code is unknown.
    pub fn decode(b: &[u8; RECORD_LEN]) -> Option<Self> {
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        Some(Attempt {
            tag: (b[27] & TAGGED != 0).then(|| u64_at(0)),
            provider: u16_at(8),
            arrived_us: u64_at(10) as i64,
            answered_us: u64_at(18) as i64,
            outcome: AttemptOutcome::from_code(b[26])?,
            status: u16_at(28),
            input_tokens: u32_at(30),
            output_tokens: u32_at(34),
            stream: b[27] & STREAM != 0,
            first_byte_us: Some(u32_at(38)).filter(|&v| v != NO_FIRST_BYTE),
            retry_after_ms: Some(u32_at(42)).filter(|&v| v != u32::MAX),
            fault: Some(u16_at(46)).filter(|&v| v != u16::MAX),
        })
    }
}

/// Reads a ledger file record by record (constant memory). Errors (cannot
/// open, not a ledger, a truncated or corrupt record) come as an `Err` item,
/// after which the iterator ends.
pub fn read_ledger(path: &Path) -> impl Iterator<Item = anyhow::Result<Attempt>> {
    let mut state = open(path).map(Some);
    let path = path.to_path_buf();
    std::iter::from_fn(move || match &mut state {
        Err(_) => {
            let err = std::mem::replace(&mut state, Ok(None)).err();
            err.map(Err)
        }
        Ok(None) => None,
        Ok(Some(reader)) => match next_record(reader) {
            Ok(Some(a)) => Some(Ok(a)),
            Ok(None) => {
                state = Ok(None);
                None
            }
            Err(e) => {
                state = Ok(None);
                Some(Err(e.context(format!("reading ledger {}", path.display()))))
            }
        },
    })
}

fn open(path: &Path) -> anyhow::Result<BufReader<File>> {
    let file = File::open(path).with_context(|| format!("opening ledger {}", path.display()))?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut magic = [0u8; 8];
    reader
        .read_exact(&mut magic)
        .with_context(|| format!("{} is too short to be a ledger", path.display()))?;
    anyhow::ensure!(
        magic == MAGIC,
        "{} is not a slabench ledger",
        path.display()
    );
    Ok(reader)
}

fn next_record(reader: &mut impl Read) -> anyhow::Result<Option<Attempt>> {
    let mut buf = [0u8; RECORD_LEN];
    let mut filled = 0;
    while filled < RECORD_LEN {
        match reader.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => anyhow::bail!("truncated record ({filled} of {RECORD_LEN} bytes)"),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Attempt::decode(&buf)
        .map(Some)
        .ok_or_else(|| anyhow::anyhow!("unknown outcome code {}", buf[26]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    pub(crate) fn sample(i: u64) -> Attempt {
        Attempt {
            tag: (!i.is_multiple_of(3)).then_some(i * 1_000_003),
            provider: (i % 7) as u16,
            arrived_us: i as i64 * 1000 - 5000,
            answered_us: if i == 1 { i64::MIN } else { i as i64 * 1000 },
            outcome: AttemptOutcome::ALL[(i % 10) as usize],
            status: [200, 503, 429, 0][(i % 4) as usize],
            input_tokens: i as u32,
            output_tokens: u32::MAX - i as u32,
            stream: i.is_multiple_of(2),
            first_byte_us: (!i.is_multiple_of(4)).then_some(i as u32 * 7),
            retry_after_ms: (i.is_multiple_of(5)).then_some(i as u32 * 1000),
            fault: (i.is_multiple_of(3)).then_some(i as u16),
        }
    }

    #[test]
    fn codes_round_trip() {
        for o in AttemptOutcome::ALL {
            assert_eq!(AttemptOutcome::from_code(o as u8), Some(o));
        }
        assert_eq!(AttemptOutcome::from_code(10), None);
    }

    #[test]
    fn records_round_trip() {
        for i in 0..50 {
            let a = sample(i);
            assert_eq!(Attempt::decode(&a.encode()), Some(a));
        }
        let tagged_max = Attempt {
            tag: Some(u64::MAX),
            ..sample(1)
        };
        assert_eq!(Attempt::decode(&tagged_max.encode()), Some(tagged_max));
        // The largest first byte that is not "none" survives; beyond it saturates.
        let late = Attempt {
            first_byte_us: Some(u32::MAX - 1),
            ..sample(1)
        };
        assert_eq!(Attempt::decode(&late.encode()), Some(late));
        let later = Attempt {
            first_byte_us: Some(u32::MAX),
            ..sample(1)
        };
        assert_eq!(
            Attempt::decode(&later.encode()).unwrap().first_byte_us,
            Some(u32::MAX - 1)
        );
    }

    #[test]
    fn reader_reports_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = read_ledger(&dir.path().join("nope")).collect::<Vec<_>>();
        assert_eq!(missing.len(), 1);
        assert!(missing[0].is_err());

        let not_ledger = dir.path().join("x");
        std::fs::write(&not_ledger, b"hello world, not a ledger").unwrap();
        let items = read_ledger(&not_ledger).collect::<Vec<_>>();
        assert!(format!("{:#}", items[0].as_ref().unwrap_err()).contains("not a slabench ledger"));

        let truncated = dir.path().join("t");
        let mut f = File::create(&truncated).unwrap();
        f.write_all(&MAGIC).unwrap();
        f.write_all(&sample(2).encode()).unwrap();
        f.write_all(&sample(3).encode()[..10]).unwrap();
        drop(f);
        let items = read_ledger(&truncated).collect::<Vec<_>>();
        assert_eq!(items.len(), 2);
        assert_eq!(*items[0].as_ref().unwrap(), sample(2));
        assert!(format!("{:#}", items[1].as_ref().unwrap_err()).contains("truncated"));
    }
}
