//! Versioned key-value layout (Kafka Streams' KIP-889 `VersionedKeyValueStore`) over a byte
//! key-value store: every value a key had, each valid from its timestamp until the next one,
//! kept for `history_retention_ms` of the store's stream time.
//!
//! Layout: a version is the entry `len(key) (4 bytes, big-endian) | key | timestamp (8 bytes,
//! sign bit flipped so that bytes sort as numbers)` -> `1 | value`, or `0` for a tombstone.
//! The store's observed stream time (the largest timestamp put) lives under a meta key no
//! version key can equal (a length of `u32::MAX`). Being plain entries, versions reach the
//! changelog, snapshots and restores like any other.
//!
//! Invariants (Kafka Streams' semantics): a put older than stream time minus the history
//! retention is refused; a read as of a time within the retention sees the version valid then;
//! a read as of an older time sees only the latest version, and only if it is at least that
//! old. A key's versions that no read within the retention can see any more are deleted when
//! the key is next written.

use crate::bounds::prefix_successor;
use crate::error::StoreError;
use crate::kv_store::KeyValueStore;
use std::ops::Bound;

const META_KEY: [u8; 4] = [0xFF; 4];
const VALUE: u8 = 1;
const TOMBSTONE: u8 = 0;

/// The versioned layout of one store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionedSchema {
    history_retention_ms: i64,
}

/// What a put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionedPut {
    /// Older than the history retention allows: not stored.
    Expired,
    /// Stored as the key's newest version.
    Latest,
    /// Stored as an older version (an out-of-order update).
    History,
}

/// One version: its timestamp and value (`None`: a tombstone).
pub type Version = (i64, Option<Vec<u8>>);

fn encode_ts(ts: i64) -> [u8; 8] {
    ((ts as u64) ^ (1 << 63)).to_be_bytes()
}

fn decode_ts(bytes: &[u8]) -> i64 {
    (u64::from_be_bytes(bytes.try_into().expect("8 bytes")) ^ (1 << 63)) as i64
}

fn prefix(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + key.len() + 8);
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    out
}

fn version_key(key: &[u8], ts: i64) -> Vec<u8> {
    let mut out = prefix(key);
    out.extend_from_slice(&encode_ts(ts));
    out
}

impl VersionedSchema {
    /// A layout keeping `history_retention_ms` of history.
    pub fn new(history_retention_ms: i64) -> Self {
        VersionedSchema { history_retention_ms }
    }

    /// The largest timestamp put so far (-1 before the first).
    pub fn observed_stream_time(&self, store: &KeyValueStore, committed: bool) -> Result<i64, StoreError> {
        let meta = if committed {
            store.get_committed(&META_KEY)?
        } else {
            store.get(&META_KEY)?
        };
        Ok(meta.map_or(-1, |b| decode_ts(&b)))
    }

    /// Every version of `key`, oldest first; `committed` ignores pending writes.
    pub fn versions(
        &self,
        store: &KeyValueStore,
        key: &[u8],
        committed: bool,
    ) -> Result<Vec<Version>, StoreError> {
        let from = prefix(key);
        let to = prefix_successor(&from);
        let to = to.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let entries: Vec<(Vec<u8>, Vec<u8>)> = if committed {
            store
                .range_committed(Bound::Included(&from), to)?
                .collect::<Result<_, _>>()?
        } else {
            store
                .range(Bound::Included(&from), to)?
                .collect::<Result<_, _>>()?
        };
        entries
            .into_iter()
            .map(|(k, v)| {
                let ts = k
                    .get(from.len()..)
                    .filter(|t| t.len() == 8)
                    .ok_or_else(|| corrupt(store, "a version key without its timestamp"))?;
                let value = match v.split_first() {
                    Some((&VALUE, rest)) => Some(rest.to_vec()),
                    Some((&TOMBSTONE, [])) => None,
                    _ => return Err(corrupt(store, "a version without its marker")),
                };
                Ok((decode_ts(ts), value))
            })
            .collect()
    }

    /// The newest value of `key` and its timestamp (`None` if it has none, or was deleted).
    pub fn latest(
        &self,
        store: &KeyValueStore,
        key: &[u8],
        committed: bool,
    ) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
        Ok(self
            .versions(store, key, committed)?
            .pop()
            .and_then(|(ts, v)| v.map(|v| (ts, v))))
    }

    /// The value `key` had at `as_of` and its timestamp, as Kafka Streams answers
    /// `get(key, asOfTimestamp)`.
    pub fn get_as_of(
        &self,
        store: &KeyValueStore,
        key: &[u8],
        as_of: i64,
        committed: bool,
    ) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
        let observed = self.observed_stream_time(store, committed)?;
        let mut versions = self.versions(store, key, committed)?;
        if as_of < observed - self.history_retention_ms {
            // Beyond the history: only the latest version, if it was already valid then.
            return Ok(versions
                .pop()
                .filter(|(ts, _)| *ts <= as_of)
                .and_then(|(ts, v)| v.map(|v| (ts, v))));
        }
        Ok(versions
            .into_iter()
            .rev()
            .find(|(ts, _)| *ts <= as_of)
            .and_then(|(ts, v)| v.map(|v| (ts, v))))
    }

    /// Puts a version of `key` at `ts` (`None`: a tombstone), then deletes the key's versions
    /// no read within the retention can see.
    pub fn put(
        &self,
        store: &mut KeyValueStore,
        key: &[u8],
        value: Option<&[u8]>,
        ts: i64,
    ) -> Result<VersionedPut, StoreError> {
        let observed = self.observed_stream_time(store, false)?;
        if ts < observed - self.history_retention_ms {
            return Ok(VersionedPut::Expired);
        }
        let observed = observed.max(ts);
        store.put(&META_KEY, &encode_ts(observed));
        let versions = self.versions(store, key, false)?;
        let latest = versions.last().is_none_or(|(newest, _)| ts >= *newest);
        let mut stored = Vec::with_capacity(1 + value.map_or(0, <[u8]>::len));
        match value {
            Some(v) => {
                stored.push(VALUE);
                stored.extend_from_slice(v);
            }
            None => stored.push(TOMBSTONE),
        }
        store.put(&version_key(key, ts), &stored);
        // Versions at or before the retention's edge: only the newest of them is still
        // visible (it is valid at the edge); the older ones go.
        let edge = observed - self.history_retention_ms;
        let mut at_or_before_edge: Vec<i64> = versions
            .iter()
            .map(|(t, _)| *t)
            .chain(std::iter::once(ts))
            .filter(|t| *t <= edge)
            .collect();
        at_or_before_edge.sort_unstable();
        at_or_before_edge.dedup();
        at_or_before_edge.pop();
        for t in at_or_before_edge {
            store.delete(&version_key(key, t));
        }
        Ok(if latest {
            VersionedPut::Latest
        } else {
            VersionedPut::History
        })
    }
}

fn corrupt(store: &KeyValueStore, reason: &str) -> StoreError {
    StoreError::Corrupt {
        store: store.name().to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryBackend;

    fn store() -> KeyValueStore {
        KeyValueStore::new("v", Box::new(MemoryBackend::new()))
    }

    fn value(v: Option<(i64, Vec<u8>)>) -> Option<(i64, String)> {
        v.map(|(t, b)| (t, String::from_utf8(b).unwrap()))
    }

    #[test]
    fn reads_as_of_a_time_see_the_version_valid_then() {
        let s = VersionedSchema::new(100);
        let mut st = store();
        assert_eq!(
            s.put(&mut st, b"k", Some(b"a"), 10).unwrap(),
            VersionedPut::Latest
        );
        assert_eq!(
            s.put(&mut st, b"k", Some(b"c"), 30).unwrap(),
            VersionedPut::Latest
        );
        assert_eq!(
            s.put(&mut st, b"k", Some(b"b"), 20).unwrap(),
            VersionedPut::History
        );
        assert_eq!(s.put(&mut st, b"k", None, 40).unwrap(), VersionedPut::Latest);
        assert_eq!(value(s.get_as_of(&st, b"k", 5, false).unwrap()), None);
        assert_eq!(
            value(s.get_as_of(&st, b"k", 10, false).unwrap()),
            Some((10, "a".into()))
        );
        assert_eq!(
            value(s.get_as_of(&st, b"k", 25, false).unwrap()),
            Some((20, "b".into()))
        );
        assert_eq!(
            value(s.get_as_of(&st, b"k", 39, false).unwrap()),
            Some((30, "c".into()))
        );
        assert_eq!(
            value(s.get_as_of(&st, b"k", 45, false).unwrap()),
            None,
            "deleted at 40"
        );
        assert_eq!(value(s.latest(&st, b"k", false).unwrap()), None);
        // Another key, and a key that is another's prefix, stay apart.
        s.put(&mut st, b"kk", Some(b"x"), 25).unwrap();
        assert_eq!(
            value(s.get_as_of(&st, b"k", 25, false).unwrap()),
            Some((20, "b".into()))
        );
        assert_eq!(
            value(s.get_as_of(&st, b"kk", 25, false).unwrap()),
            Some((25, "x".into()))
        );
    }

    #[test]
    fn history_beyond_the_retention_is_refused_and_dropped() {
        let s = VersionedSchema::new(100);
        let mut st = store();
        s.put(&mut st, b"k", Some(b"a"), 0).unwrap();
        s.put(&mut st, b"k", Some(b"b"), 50).unwrap();
        s.put(&mut st, b"k", Some(b"c"), 500).unwrap(); // stream time 500: the edge is 400
        assert_eq!(
            s.put(&mut st, b"k", Some(b"late"), 399).unwrap(),
            VersionedPut::Expired
        );
        assert_eq!(
            s.put(&mut st, b"k", Some(b"ok"), 400).unwrap(),
            VersionedPut::History
        );
        // 0 is gone (50 was valid at the edge until 400 replaced it as the newest there).
        let kept: Vec<i64> = s
            .versions(&st, b"k", false)
            .unwrap()
            .iter()
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(kept, vec![400, 500]);
        // As of a time beyond the retention: the latest only if it is that old.
        assert_eq!(value(s.get_as_of(&st, b"k", 300, false).unwrap()), None);
        s.put(&mut st, b"old", Some(b"o"), 450).unwrap();
        s.put(&mut st, b"k", Some(b"d"), 1_000).unwrap();
        assert_eq!(
            value(s.get_as_of(&st, b"old", 800, false).unwrap()),
            Some((450, "o".into()))
        );
        assert_eq!(value(s.get_as_of(&st, b"old", 100, false).unwrap()), None);
        assert_eq!(s.observed_stream_time(&st, false).unwrap(), 1_000);
    }

    #[test]
    fn committed_reads_ignore_pending_versions() {
        let s = VersionedSchema::new(100);
        let mut st = store();
        s.put(&mut st, b"k", Some(b"a"), 10).unwrap();
        st.commit(None).unwrap();
        s.put(&mut st, b"k", Some(b"b"), 20).unwrap();
        assert_eq!(value(s.latest(&st, b"k", true).unwrap()), Some((10, "a".into())));
        assert_eq!(value(s.latest(&st, b"k", false).unwrap()), Some((20, "b".into())));
        assert_eq!(negative_order(), vec![-5, 0, 7]);
    }

    fn negative_order() -> Vec<i64> {
        let mut keys: Vec<Vec<u8>> = [7, -5, 0].iter().map(|t| version_key(b"k", *t)).collect();
        keys.sort();
        keys.iter().map(|k| decode_ts(&k[k.len() - 8..])).collect()
    }
}
