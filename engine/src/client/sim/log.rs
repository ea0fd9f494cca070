//! A partition's log: data records (plain or inside a transaction) and transaction markers,
//! with the high watermark and the last stable offset as Kafka defines them.

use crate::record::Headers;
use std::collections::BTreeMap;

/// Outcome of a transaction, by serial number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxnStatus {
    Open,
    Committed,
    Aborted,
}

/// A data record as stored.
#[derive(Debug, Clone)]
pub(crate) struct DataRecord {
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) timestamp: i64,
    pub(crate) headers: Headers,
    /// The transaction it was written in, if any.
    pub(crate) txn: Option<u64>,
}

#[derive(Debug, Clone)]
enum Entry {
    Data(DataRecord),
    /// A commit or abort marker (a control record: takes an offset, never delivered).
    Marker,
}

/// One partition. Offsets are positions in `entries`.
#[derive(Debug, Default)]
pub(crate) struct PartitionLog {
    entries: Vec<Entry>,
    /// First offset of each transaction still open in this partition.
    open: BTreeMap<u64, i64>,
}

impl PartitionLog {
    /// Appends a data record; returns its offset.
    pub(crate) fn append(&mut self, record: DataRecord) -> i64 {
        let offset = self.entries.len() as i64;
        if let Some(t) = record.txn {
            self.open.entry(t).or_insert(offset);
        }
        self.entries.push(Entry::Data(record));
        offset
    }

    /// Writes the marker ending transaction `txn` here, if it wrote here.
    pub(crate) fn end_transaction(&mut self, txn: u64) {
        if self.open.remove(&txn).is_some() {
            self.entries.push(Entry::Marker);
        }
    }

    /// The offset after the last entry.
    pub(crate) fn high_watermark(&self) -> i64 {
        self.entries.len() as i64
    }

    /// The first offset of an open transaction, or the high watermark: `read_committed`
    /// readers see nothing at or past it.
    pub(crate) fn last_stable_offset(&self) -> i64 {
        self.open
            .values()
            .copied()
            .min()
            .unwrap_or_else(|| self.high_watermark())
    }

    /// Up to `max` data records from `from` and the position after the last entry examined.
    /// `read_committed` stops at the last stable offset and skips aborted records; markers
    /// are never returned.
    pub(crate) fn read(
        &self,
        from: i64,
        max: usize,
        read_committed: bool,
        status: impl Fn(u64) -> TxnStatus,
    ) -> (Vec<(i64, &DataRecord)>, i64) {
        let end = if read_committed {
            self.last_stable_offset()
        } else {
            self.high_watermark()
        };
        let mut out = Vec::new();
        let mut pos = from.max(0);
        while pos < end && out.len() < max {
            if let Entry::Data(d) = &self.entries[pos as usize] {
                let aborted = d.txn.is_some_and(|t| status(t) == TxnStatus::Aborted);
                if !(read_committed && aborted) {
                    out.push((pos, d));
                }
            }
            pos += 1;
        }
        (out, pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(v: &str, txn: Option<u64>) -> DataRecord {
        DataRecord {
            key: None,
            value: Some(v.as_bytes().to_vec()),
            timestamp: 0,
            headers: Headers::default(),
            txn,
        }
    }

    fn values(log: &PartitionLog, rc: bool, status: &[TxnStatus]) -> (Vec<String>, i64) {
        let (records, pos) = log.read(0, 100, rc, |t| status[t as usize]);
        let v = records
            .into_iter()
            .map(|(_, d)| String::from_utf8(d.value.clone().unwrap()).unwrap())
            .collect();
        (v, pos)
    }

    #[test]
    fn read_committed_stops_at_open_transactions_and_skips_aborted_ones() {
        use TxnStatus::*;
        let mut log = PartitionLog::default();
        log.append(rec("plain", None)); // 0
        log.append(rec("t0-a", Some(0))); // 1
        log.append(rec("t1-a", Some(1))); // 2
        log.append(rec("t0-b", Some(0))); // 3
        assert_eq!(log.last_stable_offset(), 1);
        let (v, pos) = values(&log, true, &[Open, Open]);
        assert_eq!((v, pos), (vec!["plain".to_string()], 1));
        let (v, _) = values(&log, false, &[Open, Open]);
        assert_eq!(v.len(), 4, "read_uncommitted sees open transactions");

        log.end_transaction(0); // marker at 4: t0 aborted
        assert_eq!(log.last_stable_offset(), 2, "t1 still open from offset 2");
        log.end_transaction(1); // marker at 5: t1 committed
        assert_eq!(log.last_stable_offset(), 6);
        assert_eq!(log.high_watermark(), 6);
        let (v, pos) = values(&log, true, &[Aborted, Committed]);
        assert_eq!(v, vec!["plain", "t1-a"]);
        assert_eq!(pos, 6, "the position moves past markers and aborted records");
        let (v, _) = values(&log, false, &[Aborted, Committed]);
        assert_eq!(
            v,
            vec!["plain", "t0-a", "t1-a", "t0-b"],
            "read_uncommitted sees aborted records"
        );
    }
}
