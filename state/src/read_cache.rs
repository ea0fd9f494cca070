//! The read cache: committed values of recently read keys, in front of a store's backend.
//!
//! A point read that RocksDB answers from its memtable still costs about a microsecond (super
//! version, skip-list search, key comparisons); a table join or an aggregation reads a key per
//! record. A store's read cache answers repeated reads from a hash table and lends the bytes
//! (no copy for a reader that decodes them in place). It belongs to one store, which one
//! stream thread owns, so it takes no lock. The caches of an instance share one byte bound
//! ([`ReadCacheBudget`]): each cache that has held something holds at most an equal share of
//! it. A store that is never read point by point (a window store only scanned, a suppression
//! buffer) leaves its share to the others.
//!
//! Invariant: an entry `key -> value` is what the store's backend holds for `key` (`None`:
//! absent). [`KeyValueStore`](crate::KeyValueStore) keeps it true at every change of the
//! committed state: a commit refreshes the cached keys it writes and drops the cached keys its
//! range deletes cover; restoration, a wipe and a failed commit empty the cache. Pending writes
//! never enter it (the overlay answers them first), so an abort needs nothing.

use crate::bounds::contains;
use quick_cache::unsync::Cache;
use quick_cache::Weighter;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Bookkeeping bytes per entry beyond its key and value (the table slot, two vectors' headers).
const ENTRY_OVERHEAD: u64 = 64;

/// The byte bound shared by the read caches of an application instance
/// (`rocksdb.row.cache.bytes`), and their use of it.
///
/// ```
/// use sluice_state::{KeyValueStore, MemoryBackend, ReadCacheBudget};
///
/// let budget = ReadCacheBudget::new(1 << 20);
/// let mut store = KeyValueStore::new("profiles", Box::new(MemoryBackend::new()))
///     .with_read_cache(&budget);
/// store.put(b"card-1", b"gold");
/// store.commit(Some(0)).unwrap();
/// // The first read goes to the backend and caches the value; the next ones are served from
/// // the cache, lent to the closure without a copy.
/// for _ in 0..2 {
///     assert_eq!(store.read(b"card-1", |v| v.map(<[u8]>::len)).unwrap(), Some(4));
/// }
/// // Use is reported at commits.
/// store.commit(None).unwrap();
/// assert!(budget.usage() > 0);
/// ```
#[derive(Debug, Clone)]
pub struct ReadCacheBudget {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    bytes: u64,
    /// Live caches drawing on the bound (those that have held an entry).
    caches: AtomicUsize,
    /// Bytes the caches reported holding at their last commit.
    used: AtomicU64,
}

impl ReadCacheBudget {
    /// A bound of `bytes` for all the caches made with it.
    pub fn new(bytes: usize) -> Self {
        ReadCacheBudget {
            shared: Arc::new(Shared {
                bytes: bytes as u64,
                caches: AtomicUsize::new(0),
                used: AtomicU64::new(0),
            }),
        }
    }

    /// Bytes held by the caches (keys, values and bookkeeping), as of their stores' last
    /// commits.
    pub fn usage(&self) -> u64 {
        self.shared.used.load(Ordering::Relaxed)
    }

    /// One drawing cache's share: the bound over the drawing caches.
    fn share(&self) -> u64 {
        self.shared.bytes / self.shared.caches.load(Ordering::Relaxed).max(1) as u64
    }

    /// The share a cache would get if it started drawing on the bound now.
    fn next_share(&self) -> u64 {
        self.shared.bytes / (self.shared.caches.load(Ordering::Relaxed) + 1) as u64
    }
}

#[derive(Debug, Clone)]
struct EntryWeight;

impl Weighter<Vec<u8>, Option<Vec<u8>>> for EntryWeight {
    fn weight(&self, key: &Vec<u8>, value: &Option<Vec<u8>>) -> u64 {
        (key.len() + value.as_ref().map_or(0, Vec::len)) as u64 + ENTRY_OVERHEAD
    }
}

/// One store's cache of committed values, absent keys included (a join probing keys its table
/// lacks asks again), evicting by CLOCK-Pro under its share of the budget.
pub(crate) struct ReadCache {
    rows: Cache<Vec<u8>, Option<Vec<u8>>, EntryWeight>,
    budget: ReadCacheBudget,
    /// The weight last added to the budget's use.
    reported: u64,
    /// Counted among the budget's caches: from the first entry on, for the cache's life.
    drawing: bool,
}

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCache")
            .field("entries", &self.rows.len())
            .field("bytes", &self.rows.weight())
            .finish()
    }
}

impl ReadCache {
    pub(crate) fn new(budget: &ReadCacheBudget) -> Self {
        let share = budget.next_share().max(1);
        // Sized for a few small entries; the table grows as more fit.
        let estimated_items = (share / 512).clamp(16, 4096) as usize;
        ReadCache {
            rows: Cache::with_weighter(estimated_items, share, EntryWeight),
            budget: budget.clone(),
            reported: 0,
            drawing: false,
        }
    }

    /// The cached value of `key`: `Some(None)` if it is known to be absent, `None` if not
    /// cached.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        self.rows.get(key).map(Option::as_deref)
    }

    /// Records what the backend holds for `key`, just read from it. The first entry makes the
    /// cache draw on the budget (the other caches take their smaller shares at their commits).
    pub(crate) fn insert(&mut self, key: &[u8], value: Option<Vec<u8>>) {
        if !self.drawing {
            self.drawing = true;
            self.budget.shared.caches.fetch_add(1, Ordering::Relaxed);
            self.rows.set_capacity(self.budget.share().max(1));
        }
        self.rows.insert(key.to_vec(), value);
    }

    /// Records a value about to be written to the backend, if `key` is cached. Keys not
    /// cached are not added: a store written but never read (restoration, a changelog-only
    /// table) does not churn the cache.
    pub(crate) fn refresh(&mut self, key: &[u8], value: Option<&[u8]>) {
        if let Some(mut cached) = self.rows.get_mut(key) {
            match (cached.as_mut(), value) {
                (Some(old), Some(new)) => {
                    old.clear();
                    old.extend_from_slice(new);
                }
                (_, new) => *cached = new.map(<[u8]>::to_vec),
            }
        }
    }

    /// Drops the cached keys inside any of the half-open ranges `[from, to)`.
    pub(crate) fn remove_ranges(&mut self, ranges: &[(Vec<u8>, Vec<u8>)]) {
        if !ranges.is_empty() {
            self.rows.retain(|k, _| {
                !ranges
                    .iter()
                    .any(|(from, to)| contains(Bound::Included(from), Bound::Excluded(to), k))
            });
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Empties the cache (the backend changed in ways it cannot follow) and reports it.
    pub(crate) fn clear(&mut self) {
        self.rows.clear();
        self.settle();
    }

    /// After a commit: takes this cache's current share of the budget (caches come and go
    /// with tasks), if it draws on it, and reports its use.
    pub(crate) fn settle(&mut self) {
        let share = self.budget.share().max(1);
        if self.drawing && share != self.rows.capacity() {
            self.rows.set_capacity(share);
        }
        let weight = self.rows.weight();
        let used = &self.budget.shared.used;
        if weight >= self.reported {
            used.fetch_add(weight - self.reported, Ordering::Relaxed);
        } else {
            used.fetch_sub(self.reported - weight, Ordering::Relaxed);
        }
        self.reported = weight;
    }
}

impl Drop for ReadCache {
    fn drop(&mut self) {
        if self.drawing {
            self.budget.shared.caches.fetch_sub(1, Ordering::Relaxed);
        }
        self.budget
            .shared
            .used
            .fetch_sub(self.reported, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_that_hold_something_share_the_budget_and_report_their_use() {
        let budget = ReadCacheBudget::new(4096);
        let mut a = ReadCache::new(&budget);
        let mut b = ReadCache::new(&budget);
        a.insert(b"k", None);
        a.settle();
        assert_eq!(a.rows.capacity(), 4096, "b holds nothing: a has it all");
        b.insert(b"k", None);
        assert_eq!(b.rows.capacity(), 2048, "b draws from its first entry");
        a.settle();
        assert_eq!(a.rows.capacity(), 2048, "two caches: half each");
        // A cache that never held anything (a store only scanned) takes no share.
        let mut scanned = ReadCache::new(&budget);
        a.settle();
        assert_eq!(a.rows.capacity(), 2048);
        scanned.settle();
        drop(scanned);
        for i in 0..100u32 {
            a.insert(&i.to_be_bytes(), Some(vec![0; 32]));
        }
        assert!(a.rows.weight() <= 2048, "evicts within its share");
        a.settle();
        b.settle();
        assert_eq!(budget.usage(), a.rows.weight() + b.rows.weight());
        drop(a);
        assert_eq!(budget.usage(), b.rows.weight());
        b.settle();
        assert_eq!(b.rows.capacity(), 4096);
    }

    #[test]
    fn refresh_updates_cached_keys_only_and_ranges_drop_keys() {
        let budget = ReadCacheBudget::new(1 << 20);
        let mut c = ReadCache::new(&budget);
        c.insert(b"a1", Some(b"x".to_vec()));
        c.insert(b"b1", None);
        c.refresh(b"a1", Some(b"yy"));
        c.refresh(b"b1", Some(b"z"));
        c.refresh(b"c1", Some(b"w"));
        assert_eq!(c.get(b"a1"), Some(Some(&b"yy"[..])));
        assert_eq!(c.get(b"b1"), Some(Some(&b"z"[..])));
        assert_eq!(c.get(b"c1"), None, "not cached: not added");
        c.refresh(b"a1", None);
        assert_eq!(c.get(b"a1"), Some(None));
        c.remove_ranges(&[(b"a".to_vec(), b"b".to_vec())]);
        assert_eq!(c.get(b"a1"), None);
        assert_eq!(c.get(b"b1"), Some(Some(&b"z"[..])));
    }
}
