//! [`ReadOnlyKeyValueStore`]: a typed, read-only view of a key-value store across the
//! instance's active tasks.

use super::target::QueryTarget;
use crate::error::StreamsError;
use sluice_dsl::dynamic::Data;
use std::ops::Bound;

/// Entries a range query returns at most (its `limit` is capped at this).
pub const MAX_RANGE_ENTRIES: usize = 10_000;

/// A key-value store of a running instance, read-only and typed (Kafka Streams'
/// `ReadOnlyKeyValueStore`, from `KafkaStreams#store`).
///
/// Reads see committed state only: what the last commit of each task made durable, never
/// updates still pending in a transaction or a record cache. Every call reads the stores of
/// all local active tasks that hold this store (each owns the keys of its partitions); keys
/// of partitions assigned to other instances are not here. While the instance is not
/// `Running`, or a task holding the store restores it, calls fail with
/// [`StreamsError::StoreUnavailable`]: retry later.
///
/// ```no_run
/// # use sluice_engine::{Streams, StreamsConfig};
/// # fn demo(streams: &Streams) -> Result<(), sluice_engine::StreamsError> {
/// let counts = streams.key_value_store::<String, i64>("counts")?;
/// let n: Option<i64> = counts.get(&"card-1".to_string())?;
/// let first_page = counts.all(100)?;
/// # Ok(()) }
/// ```
pub struct ReadOnlyKeyValueStore<K, V>(QueryTarget<K, V>);

impl<K: Data + Clone, V: 'static> ReadOnlyKeyValueStore<K, V> {
    pub(crate) fn new(target: QueryTarget<K, V>) -> Self {
        ReadOnlyKeyValueStore(target)
    }

    /// The committed value of `key`, if a local task holds it.
    pub fn get(&self, key: &K) -> Result<Option<V>, StreamsError> {
        let Some(bytes) = self
            .0
            .codec
            .key_bytes(key)
            .map_err(|e| self.0.unreadable(format_args!("cannot serialize the key: {e}")))?
        else {
            return Ok(None);
        };
        let mut found = None;
        self.0.visit(|kv, _| {
            if found.is_none() {
                found = kv.get_committed(&bytes).map_err(|e| self.0.unreadable(e))?;
            }
            Ok(())
        })?;
        found
            .map(|v| self.0.codec.decode_value(&v).map_err(|e| self.0.unreadable(e)))
            .transpose()
    }

    /// Up to `limit` (at most [`MAX_RANGE_ENTRIES`]) committed entries with keys between the
    /// bounds, in the order of their serialized keys (the order of the store; for strings,
    /// byte order). To page, ask again from `Bound::Excluded(last key)`.
    pub fn range(&self, from: Bound<&K>, to: Bound<&K>, limit: usize) -> Result<Vec<(K, V)>, StreamsError> {
        let encode = |b: Bound<&K>| -> Result<Bound<Vec<u8>>, StreamsError> {
            Ok(match b {
                Bound::Included(k) | Bound::Excluded(k) => {
                    let bytes = self
                        .0
                        .codec
                        .key_bytes(k)
                        .map_err(|e| self.0.unreadable(format_args!("cannot serialize a bound: {e}")))?
                        .unwrap_or_default();
                    if matches!(b, Bound::Included(_)) {
                        Bound::Included(bytes)
                    } else {
                        Bound::Excluded(bytes)
                    }
                }
                Bound::Unbounded => Bound::Unbounded,
            })
        };
        let (from, to) = (encode(from)?, encode(to)?);
        let limit = limit.min(MAX_RANGE_ENTRIES);
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        self.0.visit(|kv, _| {
            // Each task's entries are ascending: the first `limit` of each suffice.
            for entry in kv
                .range_committed(bound_ref(&from), bound_ref(&to))
                .map_err(|e| self.0.unreadable(e))?
                .take(limit)
            {
                entries.push(entry.map_err(|e| self.0.unreadable(e))?);
            }
            Ok(())
        })?;
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.truncate(limit);
        entries
            .into_iter()
            .map(|(k, v)| {
                Ok((
                    self.0.codec.decode_key(&k).map_err(|e| self.0.unreadable(e))?,
                    self.0.codec.decode_value(&v).map_err(|e| self.0.unreadable(e))?,
                ))
            })
            .collect()
    }

    /// Up to `limit` (at most [`MAX_RANGE_ENTRIES`]) committed entries, from the first key.
    pub fn all(&self, limit: usize) -> Result<Vec<(K, V)>, StreamsError> {
        self.range(Bound::Unbounded, Bound::Unbounded, limit)
    }

    /// An estimate of the committed entries over the local tasks.
    pub fn approximate_num_entries(&self) -> Result<u64, StreamsError> {
        let mut n = 0;
        self.0.visit(|kv, _| {
            n += kv.approximate_committed_entries();
            Ok(())
        })?;
        Ok(n)
    }
}

/// A borrowed view of an owned key bound.
pub(crate) fn bound_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}
