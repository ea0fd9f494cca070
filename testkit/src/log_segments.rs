//! Reads a partition's log segments straight from the broker's log directory: the record
//! batches' headers (offsets, producer, transactional and control flags) and the transaction
//! markers. A test that finds a record twice asks [`transaction_of`] which transaction wrote
//! each copy and how that transaction ended *in the log*, which tells a duplicate that Sluice
//! committed twice from an aborted record that a `read_committed` reader was shown anyway
//! ([`outcome`]).
//!
//! Only what that question needs is decoded: the record batch format v2 (magic 2, Kafka 0.11
//! and later), batch headers, and the key of a control record. Records inside a batch (maybe
//! compressed) are skipped.

use std::fs;
use std::io;
use std::path::Path;

/// One record batch's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Offset of its first record.
    pub base_offset: i64,
    /// Offset of its last record.
    pub last_offset: i64,
    /// Producer id (-1 without one).
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// Written inside a transaction.
    pub transactional: bool,
    /// A transaction marker: `Some(true)` commit, `Some(false)` abort.
    pub marker: Option<bool>,
}

/// How the transaction that wrote a record ended, as the log says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A commit marker of its producer follows it.
    Committed,
    /// An abort marker of its producer follows it.
    Aborted,
    /// No marker of its producer follows it (yet).
    Open,
    /// Not written in a transaction.
    NotTransactional,
}

/// The batches of `<log_dir>/<topic>-<partition>`, in offset order. A batch cut short at the
/// end of a segment (being written) ends the reading of that segment.
pub fn batches(log_dir: &Path, topic: &str, partition: i32) -> io::Result<Vec<Batch>> {
    let dir = log_dir.join(format!("{topic}-{partition}"));
    let mut segments: Vec<_> = fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    // Segment files are named by their base offset, zero-padded: name order is offset order.
    segments.sort();
    let mut out = Vec::new();
    for segment in segments {
        parse_segment(&fs::read(&segment)?, &mut out);
    }
    Ok(out)
}

/// The batch of `batches` (as [`batches`] returns them) holding `offset`, and how its
/// transaction ended: the next marker of its producer says.
pub fn outcome(batches: &[Batch], offset: i64) -> Option<(&Batch, Outcome)> {
    let i = batches.partition_point(|b| b.last_offset < offset);
    let batch = batches.get(i).filter(|b| b.base_offset <= offset)?;
    if !batch.transactional || batch.marker.is_some() {
        return Some((batch, Outcome::NotTransactional));
    }
    let outcome = batches[i + 1..]
        .iter()
        .find(|b| b.producer_id == batch.producer_id && b.marker.is_some())
        .map_or(Outcome::Open, |b| {
            if b.marker == Some(true) {
                Outcome::Committed
            } else {
                Outcome::Aborted
            }
        });
    Some((batch, outcome))
}

fn parse_segment(bytes: &[u8], out: &mut Vec<Batch>) {
    let mut at = 0;
    // Header: baseOffset i64, batchLength i32, partitionLeaderEpoch i32, magic i8, crc u32,
    // attributes i16, lastOffsetDelta i32, baseTimestamp i64, maxTimestamp i64, producerId
    // i64, producerEpoch i16, baseSequence i32, recordCount i32; then the records.
    while let Some(header) = bytes.get(at..at + 61) {
        let base_offset = i64::from_be_bytes(header[0..8].try_into().expect("8 bytes"));
        let length = i32::from_be_bytes(header[8..12].try_into().expect("4 bytes"));
        let Ok(length) = usize::try_from(length) else {
            break;
        };
        let end = at + 12 + length;
        if length < 49 || end > bytes.len() || header[16] != 2 {
            break;
        }
        let attributes = i16::from_be_bytes(header[21..23].try_into().expect("2 bytes"));
        let last_delta = i32::from_be_bytes(header[23..27].try_into().expect("4 bytes"));
        let producer_id = i64::from_be_bytes(header[43..51].try_into().expect("8 bytes"));
        let producer_epoch = i16::from_be_bytes(header[51..53].try_into().expect("2 bytes"));
        let control = attributes & 0x20 != 0;
        let marker = if control {
            control_type(&bytes[at + 61..end]).map(|t| t == 1)
        } else {
            None
        };
        out.push(Batch {
            base_offset,
            last_offset: base_offset + i64::from(last_delta),
            producer_id,
            producer_epoch,
            transactional: attributes & 0x10 != 0,
            marker,
        });
        at = end;
    }
}

/// The type of a control batch's (single) record: its key is `version i16, type i16` (0
/// abort, 1 commit). A record: length, attributes i8, timestamp delta, offset delta, key
/// length (varints), key.
fn control_type(records: &[u8]) -> Option<i16> {
    let mut at = 0;
    varint(records, &mut at)?;
    at += 1;
    varint(records, &mut at)?;
    varint(records, &mut at)?;
    let key_len = usize::try_from(varint(records, &mut at)?).ok()?;
    let key = records.get(at..at + key_len)?;
    Some(i16::from_be_bytes(key.get(2..4)?.try_into().ok()?))
}

/// A zigzag varint (Kafka's record fields).
fn varint(bytes: &[u8], at: &mut usize) -> Option<i64> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some((value >> 1) as i64 ^ -((value & 1) as i64));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zigzag(v: i64, out: &mut Vec<u8>) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        loop {
            let b = (z & 0x7f) as u8;
            z >>= 7;
            if z == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    /// A batch with `count` placeholder record bytes, or a control batch of type `marker`.
    fn batch(base: i64, last_delta: i32, producer: i64, attributes: i16, marker: Option<i16>) -> Vec<u8> {
        let mut records = Vec::new();
        if let Some(t) = marker {
            let mut body = vec![0u8];
            zigzag(0, &mut body);
            zigzag(0, &mut body);
            zigzag(4, &mut body);
            body.extend_from_slice(&0i16.to_be_bytes());
            body.extend_from_slice(&t.to_be_bytes());
            zigzag(6, &mut body);
            body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            zigzag(body.len() as i64, &mut records);
            records.extend(body);
        } else {
            records.extend_from_slice(&[7; 10]);
        }
        let mut b = Vec::new();
        b.extend_from_slice(&base.to_be_bytes());
        b.extend_from_slice(&((49 + records.len()) as i32).to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        b.push(2);
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&attributes.to_be_bytes());
        b.extend_from_slice(&last_delta.to_be_bytes());
        b.extend_from_slice(&0i64.to_be_bytes());
        b.extend_from_slice(&0i64.to_be_bytes());
        b.extend_from_slice(&producer.to_be_bytes());
        b.extend_from_slice(&3i16.to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(&1i32.to_be_bytes());
        b.extend(records);
        b
    }

    #[test]
    fn markers_tell_each_transaction_s_fate() {
        let dir = std::env::temp_dir().join(format!("sluice-log-segments-{}", std::process::id()));
        let part = dir.join("out-0");
        fs::create_dir_all(&part).unwrap();
        let mut log = Vec::new();
        log.extend(batch(0, 2, 7, 0x10, None)); // producer 7: offsets 0-2
        log.extend(batch(3, 1, 8, 0x10, None)); // producer 8: offsets 3-4
        log.extend(batch(5, 0, 7, 0x30, Some(0))); // producer 7 aborts
        log.extend(batch(6, 0, 8, 0x30, Some(1))); // producer 8 commits
        log.extend(batch(7, 0, 9, 0x10, None)); // producer 9: open
        log.extend(batch(8, 0, -1, 0, None)); // not transactional
        log.extend_from_slice(&[0, 0, 0]); // a batch being written
        fs::write(part.join("00000000000000000000.log"), &log).unwrap();
        let all = batches(&dir, "out", 0).unwrap();
        assert_eq!(all.len(), 6);
        let fate = |offset| outcome(&all, offset).map(|(_, o)| o);
        assert_eq!(fate(1), Some(Outcome::Aborted));
        assert_eq!(fate(4), Some(Outcome::Committed));
        assert_eq!(fate(7), Some(Outcome::Open));
        assert_eq!(fate(8), Some(Outcome::NotTransactional));
        assert_eq!(fate(9), None);
        let (b, _) = outcome(&all, 3).unwrap();
        assert_eq!(
            (b.base_offset, b.last_offset, b.producer_id, b.producer_epoch),
            (3, 4, 8, 3)
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
