//! The record cache: latest update per key, forwarded at commit instead of on every update.
//!
//! DESIGN.md "Record cache": a KTable or aggregate forwards the latest value per key when its
//! cache is flushed (at commit, or when the instance's cache budget is exhausted), not on every
//! update. Under exactly-once nothing is visible before the commit anyway, so coalescing costs no
//! latency and cuts output and changelog traffic by the key-repetition factor.

use crate::record::Headers;
use indexmap::IndexMap;
use sluice_dsl::dynamic::Dyn;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Approximate bookkeeping bytes per cached key, beyond its key and old-value bytes.
const ENTRY_OVERHEAD: usize = 96;

/// `statestore.cache.max.bytes` shared by every cache of an application instance.
#[derive(Debug, Clone)]
pub(crate) struct CacheBudget {
    used: Arc<AtomicUsize>,
    max: usize,
}

impl CacheBudget {
    pub(crate) fn new(max: usize) -> Self {
        CacheBudget {
            used: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// Caching is off when the budget is zero: every update is forwarded.
    pub(crate) fn enabled(&self) -> bool {
        self.max > 0
    }

    fn charge(&self, bytes: usize) -> bool {
        self.used.fetch_add(bytes, Ordering::Relaxed) + bytes > self.max
    }

    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// One key awaiting its flush.
pub(crate) struct CacheEntry {
    /// The key, deserialized (forwarded as is).
    pub(crate) key: Dyn,
    /// The value as of the previous flush: the `old_value` downstream sees.
    pub(crate) old: Option<Vec<u8>>,
    /// Timestamp and headers of the latest update.
    pub(crate) timestamp: i64,
    pub(crate) headers: Headers,
}

/// Dirty keys of one store, in first-update order.
pub(crate) struct RecordCache {
    budget: CacheBudget,
    entries: IndexMap<Vec<u8>, CacheEntry>,
    bytes: usize,
}

impl RecordCache {
    pub(crate) fn new(budget: CacheBudget) -> Self {
        RecordCache {
            budget,
            entries: IndexMap::new(),
            bytes: 0,
        }
    }

    /// Records an update of `key_bytes`; `key` makes its deserialized key, called only for a
    /// key not cached yet. `old` is the value before this update; only the first update since
    /// the last flush keeps it. Returns true if the instance's budget is exhausted and the
    /// caller should flush now.
    pub(crate) fn update(
        &mut self,
        key_bytes: &[u8],
        key: impl FnOnce() -> Dyn,
        old: Option<Vec<u8>>,
        timestamp: i64,
        headers: &Headers,
    ) -> bool {
        if let Some(e) = self.entries.get_mut(key_bytes) {
            e.timestamp = timestamp;
            e.headers = headers.clone();
            return false;
        }
        let size = key_bytes.len() + old.as_ref().map_or(0, Vec::len) + ENTRY_OVERHEAD;
        self.bytes += size;
        self.entries.insert(
            key_bytes.to_vec(),
            CacheEntry {
                key: key(),
                old,
                timestamp,
                headers: headers.clone(),
            },
        );
        self.budget.charge(size)
    }

    /// Empties the cache, in first-update order.
    pub(crate) fn drain(&mut self) -> Vec<(Vec<u8>, CacheEntry)> {
        self.budget.release(self.bytes);
        self.bytes = 0;
        self.entries.drain(..).collect()
    }

    pub(crate) fn clear(&mut self) {
        drop(self.drain());
    }
}

impl Drop for RecordCache {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_dsl::dynamic::erase;

    #[test]
    fn keeps_first_old_value_and_reports_full_budget() {
        let budget = CacheBudget::new(250);
        let mut c = RecordCache::new(budget.clone());
        let k = erase(1u8);
        assert!(!c.update(b"a", || k.clone(), Some(b"v0".to_vec()), 1, &Headers::new()));
        assert!(!c.update(b"a", || k.clone(), Some(b"v1".to_vec()), 2, &Headers::new()));
        assert!(!c.update(b"b", || k.clone(), None, 3, &Headers::new()));
        // Entries cost 99 + 97 + 97 bytes: the third passes 250.
        assert!(c.update(b"c", || k.clone(), None, 4, &Headers::new()));
        let drained = c.drain();
        assert_eq!(drained.len(), 3);
        assert_eq!(drained[0].1.old.as_deref(), Some(&b"v0"[..]));
        assert_eq!(drained[0].1.timestamp, 2);
        assert_eq!(budget.used.load(Ordering::Relaxed), 0);
        assert!(c.drain().is_empty());
    }
}
