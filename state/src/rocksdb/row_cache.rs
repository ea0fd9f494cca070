//! The row cache: committed values of recently read and written keys, in front of RocksDB.
//!
//! A point read that RocksDB answers from its memtable still costs about a microsecond (super
//! version, skip-list search, key comparisons); a table join or an aggregation reads a key per
//! record, so that was a fifth of the join's CPU. The row cache answers repeated reads from a
//! hash table. It holds committed values only (pending writes live in the store's overlay),
//! negative answers included, and is shared by every store of an instance under one byte bound.
//! Engines leave it off by default (`rocksdb.row.cache.bytes`; DESIGN.md says why).
//!
//! Invariant: an entry `(generation, key) -> value` is what the backend of that generation
//! holds for `key`. A backend keeps it true by writing through ([`RowCache::refresh`] after
//! every applied batch) and by taking a new generation whenever it cannot say which keys
//! changed (range deletes, a wipe): entries of an old generation are never read again and age
//! out under the bound.

use quick_cache::sync::Cache;
use quick_cache::{Equivalent, Weighter};
use std::sync::atomic::{AtomicU64, Ordering};

/// Bookkeeping bytes per entry beyond its key and value (the map slot, two vectors' headers).
const ENTRY_OVERHEAD: u64 = 64;

/// The owned key of an entry: a backend generation and the store key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RowKey {
    generation: u64,
    key: Vec<u8>,
}

/// A borrowed [`RowKey`] for lookups without copying the key. Hashes as `RowKey` does (the
/// derived `Hash` of both hashes the generation, then the key bytes with their length).
#[derive(Hash)]
struct RowRef<'a> {
    generation: u64,
    key: &'a [u8],
}

impl Equivalent<RowKey> for RowRef<'_> {
    fn equivalent(&self, owned: &RowKey) -> bool {
        self.generation == owned.generation && self.key == owned.key.as_slice()
    }
}

#[derive(Debug, Clone)]
struct RowWeighter;

impl Weighter<RowKey, Option<Vec<u8>>> for RowWeighter {
    fn weight(&self, key: &RowKey, value: &Option<Vec<u8>>) -> u64 {
        (key.key.len() + value.as_ref().map_or(0, Vec::len)) as u64 + ENTRY_OVERHEAD
    }
}

/// Committed values by backend generation and key, at most `capacity` bytes (keys, values and
/// [`ENTRY_OVERHEAD`] each).
pub(crate) struct RowCache {
    rows: Cache<RowKey, Option<Vec<u8>>, RowWeighter>,
    next_generation: AtomicU64,
}

impl RowCache {
    pub(crate) fn new(capacity: usize) -> Self {
        // Sized for small entries; the table grows if more fit.
        let estimated_items = (capacity / 256).clamp(64, 1 << 16);
        RowCache {
            rows: Cache::with_weighter(estimated_items, capacity as u64, RowWeighter),
            next_generation: AtomicU64::new(0),
        }
    }

    /// A generation no entry has yet.
    pub(crate) fn new_generation(&self) -> u64 {
        self.next_generation.fetch_add(1, Ordering::Relaxed)
    }

    /// The cached committed value of `key`: `Some(None)` if it is known to be absent, `None`
    /// if not cached.
    pub(crate) fn get(&self, generation: u64, key: &[u8]) -> Option<Option<Vec<u8>>> {
        self.rows.get(&RowRef { generation, key })
    }

    /// Records what the backend of `generation` holds for `key`, read from it.
    pub(crate) fn insert(&self, generation: u64, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.rows.insert(RowKey { generation, key }, value);
    }

    /// Records a value written to the backend of `generation`, if `key` is cached.
    pub(crate) fn refresh(&self, generation: u64, key: Vec<u8>, value: Option<Vec<u8>>) {
        // Err: not cached, nothing to keep true.
        let _ = self.rows.replace(RowKey { generation, key }, value, false);
    }

    /// Bytes held (weights of the entries).
    pub(crate) fn usage(&self) -> u64 {
        self.rows.weight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_do_not_share_entries_and_the_bound_holds() {
        let cache = RowCache::new(4096);
        let (a, b) = (cache.new_generation(), cache.new_generation());
        cache.insert(a, b"k".to_vec(), Some(b"v".to_vec()));
        cache.insert(b, b"k".to_vec(), None);
        assert_eq!(cache.get(a, b"k"), Some(Some(b"v".to_vec())));
        assert_eq!(cache.get(b, b"k"), Some(None));
        assert_eq!(cache.get(a, b"other"), None);
        for i in 0..1000u32 {
            cache.insert(a, i.to_be_bytes().to_vec(), Some(vec![0; 100]));
        }
        assert!(cache.usage() <= 4096, "{} bytes held", cache.usage());
    }
}
