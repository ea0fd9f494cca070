//! `KeyValueStore`: a byte store with a transactional overlay over a committed backend.

use crate::backend::{KvBackend, KvIter, WriteBatch};
use crate::bounds::{is_empty_range, prefix_successor};
use crate::error::StoreError;
use crate::overlay::Overlay;
use crate::read_cache::{ReadCache, ReadCacheBudget};
use std::iter::Peekable;
use std::ops::Bound;

/// A key-value store over bytes, as processors use it.
///
/// Writes land in a pending overlay that every read (point and range, in key order) sees merged
/// over the committed backend. [`commit`](Self::commit) applies the overlay and the changelog
/// offset it reflects in one atomic batch; [`abort`](Self::abort) drops it. Between the two,
/// [`changes`](Self::changes) yields the one changelog record per key written since the last
/// commit (its latest value, or `None` for a delete).
///
/// ```
/// use sluice_state::{KeyValueStore, MemoryBackend};
///
/// let mut store = KeyValueStore::new("counts", Box::new(MemoryBackend::new()));
/// store.put(b"card-1", b"3");
/// store.put(b"card-2", b"1");
/// store.delete(b"card-2");
/// assert_eq!(store.get(b"card-1").unwrap(), Some(b"3".to_vec()));
/// let changes: Vec<_> = store.changes().map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec))).collect();
/// assert_eq!(changes, vec![(b"card-1".to_vec(), Some(b"3".to_vec())), (b"card-2".to_vec(), None)]);
/// store.commit(Some(41)).unwrap();
/// assert_eq!(store.committed_offset(), Some(41));
/// store.put(b"card-1", b"4");
/// store.abort();
/// assert_eq!(store.get(b"card-1").unwrap(), Some(b"3".to_vec()));
/// ```
pub struct KeyValueStore {
    name: String,
    backend: Box<dyn KvBackend>,
    overlay: Overlay,
    /// Committed values of recently read keys (see [`with_read_cache`](Self::with_read_cache)).
    cache: Option<ReadCache>,
}

impl std::fmt::Debug for KeyValueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyValueStore")
            .field("name", &self.name)
            .field("pending_bytes", &self.overlay.bytes())
            .field("cache", &self.cache)
            .finish()
    }
}

impl KeyValueStore {
    /// A store named `name` over `backend`.
    pub fn new(name: impl Into<String>, backend: Box<dyn KvBackend>) -> Self {
        KeyValueStore {
            name: name.into(),
            backend,
            overlay: Overlay::default(),
            cache: None,
        }
    }

    /// The store with a read cache drawing on `budget`: [`read`](Self::read) answers repeated
    /// reads of committed values from memory instead of the backend. Worth it in front of
    /// RocksDB, where a read answered from the memtable still costs about a microsecond.
    pub fn with_read_cache(mut self, budget: &ReadCacheBudget) -> Self {
        self.cache = Some(ReadCache::new(budget));
        self
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value of `key`, pending writes included. A value the read cache holds comes from
    /// it; one it does not is read from the backend without being cached (see
    /// [`read`](Self::read)).
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.overlay.get(key) {
            Some(v) => Ok(v.map(<[u8]>::to_vec)),
            None => match self.cache.as_ref().and_then(|c| c.get(key)) {
                Some(v) => Ok(v.map(<[u8]>::to_vec)),
                None => self.backend.get(key),
            },
        }
    }

    /// Calls `f` with the value of `key` (pending writes included), lent without a copy
    /// when it is pending or cached. A committed value read from the backend enters the read
    /// cache, if the store has one.
    pub fn read<R>(&mut self, key: &[u8], f: impl FnOnce(Option<&[u8]>) -> R) -> Result<R, StoreError> {
        if let Some(v) = self.overlay.get(key) {
            return Ok(f(v));
        }
        let Some(cache) = &mut self.cache else {
            return Ok(f(self.backend.get(key)?.as_deref()));
        };
        if let Some(v) = cache.get(key) {
            return Ok(f(v));
        }
        let value = self.backend.get(key)?;
        let out = f(value.as_deref());
        cache.insert(key, value);
        Ok(out)
    }

    /// The committed value of `key`, ignoring pending writes.
    pub fn get_committed(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.backend.get(key)
    }

    /// Committed entries with `from <= key <= to` (per the bounds), ascending, ignoring
    /// pending writes (what interactive queries read).
    pub fn range_committed(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<KvIter<'_>, StoreError> {
        self.backend.range(from, to)
    }

    /// The committed number of entries, estimated.
    pub fn approximate_committed_entries(&self) -> u64 {
        self.backend.approximate_num_entries()
    }

    /// Sets `key` to `value` (pending until commit).
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.overlay.write(key, Some(value.to_vec()));
    }

    /// [`put`](Self::put) of a value the caller built for the store: it is kept, not copied.
    pub fn put_owned(&mut self, key: &[u8], value: Vec<u8>) {
        self.overlay.write(key, Some(value));
    }

    /// Deletes `key` (pending until commit).
    pub fn delete(&mut self, key: &[u8]) {
        self.overlay.write(key, None);
    }

    /// Deletes every key in `[from, to)` at the next commit, and hides them now. Range deletes
    /// produce no changelog records: they implement retention, which the changelog topic's own
    /// retention mirrors.
    pub fn delete_range(&mut self, from: &[u8], to: &[u8]) {
        if from < to {
            self.overlay.delete_range(from.to_vec(), to.to_vec());
        }
    }

    /// Entries with keys inside the bounds, ascending, pending writes included.
    pub fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<MergedIter<'_>, StoreError> {
        let backend = self.backend.range(from, to)?;
        let pending: PendingIter<'_> = if self.overlay.entries.is_empty() || is_empty_range(from, to) {
            Box::new(std::iter::empty())
        } else {
            Box::new(
                self.overlay
                    .entries
                    .range::<[u8], _>((from, to))
                    .map(|(k, v)| (k.as_slice(), v.as_deref())),
            )
        };
        Ok(MergedIter {
            pending: pending.peekable(),
            backend: backend.peekable(),
            overlay: &self.overlay,
        })
    }

    /// Entries with `from <= key <= to`, ascending (Kafka Streams' `range`).
    pub fn range_inclusive(&self, from: &[u8], to: &[u8]) -> Result<MergedIter<'_>, StoreError> {
        self.range(Bound::Included(from), Bound::Included(to))
    }

    /// Entries whose key starts with `prefix`, ascending.
    pub fn prefix_scan(&self, prefix: &[u8]) -> Result<MergedIter<'_>, StoreError> {
        match prefix_successor(prefix) {
            Some(end) => {
                // The iterator must not borrow `end`, so the bound is applied by the backend on
                // an owned copy inside `range`.
                let iter = self.range(Bound::Included(prefix), Bound::Excluded(&end))?;
                Ok(iter)
            }
            None => self.range(Bound::Included(prefix), Bound::Unbounded),
        }
    }

    /// Every entry, ascending.
    pub fn all(&self) -> Result<MergedIter<'_>, StoreError> {
        self.range(Bound::Unbounded, Bound::Unbounded)
    }

    /// An estimate of the number of keys (committed ones plus pending puts).
    pub fn approximate_num_entries(&self) -> u64 {
        let pending_puts = self.overlay.entries.values().filter(|v| v.is_some()).count() as u64;
        self.backend.approximate_num_entries() + pending_puts
    }

    /// Bytes held by pending writes; the engine commits early when this passes its bound.
    pub fn pending_bytes(&self) -> usize {
        self.overlay.bytes()
    }

    /// True if nothing was written since the last commit.
    pub fn is_clean(&self) -> bool {
        self.overlay.is_empty()
    }

    /// One changelog record per key written since the last commit, in key order: the latest
    /// value, or `None` for a delete.
    ///
    /// Writes that a later [`delete_range`](Self::delete_range) hid are included: the changelog
    /// records every update, also of windows that expired before the commit (the local store
    /// skips those, see [`expired_writes`](Self::expired_writes)).
    pub fn changes(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> + '_ {
        self.overlay.changes()
    }

    /// The latest value written for `key` since the last commit, even if a range delete has
    /// hidden it since: `Some(Some(v))` written, `Some(None)` deleted, `None` not written.
    /// A record cache flushing at commit forwards this, so an update of a window that expired
    /// before the commit still reaches downstream.
    pub fn written(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        self.written_ref(key).map(|v| v.map(<[u8]>::to_vec))
    }

    /// [`written`](Self::written), borrowed.
    pub fn written_ref(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        self.overlay.written(key)
    }

    /// Puts since the last commit that a range delete hid before it: the next commit writes
    /// them to the changelog but not to the local store (their windows expired).
    pub fn expired_writes(&self) -> usize {
        self.overlay.hidden_puts()
    }

    /// Applies pending writes and records `changelog_offset` atomically. On error the pending
    /// writes are gone and the committed state is unchanged: the caller restores from the
    /// changelog, which already holds them.
    pub fn commit(&mut self, changelog_offset: Option<i64>) -> Result<(), StoreError> {
        let overlay = std::mem::take(&mut self.overlay);
        let batch = WriteBatch {
            entries: overlay.entries.into_iter().collect(),
            delete_ranges: overlay.delete_ranges,
            changelog_offset,
        };
        if batch.is_empty() {
            if let Some(cache) = &mut self.cache {
                cache.settle();
            }
            return Ok(());
        }
        // The cache follows the batch as the backend applies it: range deletes first. (A store
        // that is written but never read point by point has nothing cached to refresh.)
        if let Some(cache) = self.cache.as_mut().filter(|c| !c.is_empty()) {
            cache.remove_ranges(&batch.delete_ranges);
            for (key, value) in &batch.entries {
                cache.refresh(key, value.as_deref());
            }
        }
        let applied = self.backend.apply(batch);
        if let Some(cache) = &mut self.cache {
            match applied {
                // The committed state is unchanged, and the cache may now be ahead of it.
                Err(_) => cache.clear(),
                Ok(()) => cache.settle(),
            }
        }
        applied
    }

    /// Drops pending writes.
    pub fn abort(&mut self) {
        self.overlay.clear();
    }

    /// The changelog offset the committed state reflects.
    pub fn committed_offset(&self) -> Option<i64> {
        self.backend.committed_offset()
    }

    /// Applies changelog records read during restoration directly to the committed state, in
    /// order, recording `last_offset`.
    ///
    /// # Panics
    /// If writes are pending: restoration happens before a task processes anything.
    pub fn restore(
        &mut self,
        records: Vec<(Vec<u8>, Option<Vec<u8>>)>,
        last_offset: i64,
    ) -> Result<(), StoreError> {
        assert!(
            self.overlay.is_empty(),
            "store {}: restore with pending writes",
            self.name
        );
        if let Some(cache) = &mut self.cache {
            cache.clear();
        }
        self.backend.apply(WriteBatch {
            entries: records,
            delete_ranges: Vec::new(),
            changelog_offset: Some(last_offset),
        })
    }

    /// Makes the committed state durable (clean close); pending writes are not included.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.backend.flush()
    }

    /// Drops all state, committed and pending (before a full replay of the changelog).
    pub fn wipe(&mut self) -> Result<(), StoreError> {
        self.overlay.clear();
        if let Some(cache) = &mut self.cache {
            cache.clear();
        }
        self.backend.wipe()
    }
}

/// Pending entries in key order: `None` is a pending delete.
type PendingIter<'a> = Box<dyn Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + 'a>;

/// Ordered reads of a store's entries, as the window and session layouts need them: a
/// [`KeyValueStore`] reads what its processors see (pending writes included), [`Committed`]
/// what the last commit made durable (interactive queries).
pub trait RangeRead {
    /// The iterator of [`RangeRead::read_range`].
    type Iter<'a>: Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>>
    where
        Self: 'a;

    /// Entries with keys inside the bounds, ascending.
    fn read_range<'a>(&'a self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<Self::Iter<'a>, StoreError>;
}

impl RangeRead for KeyValueStore {
    type Iter<'a> = MergedIter<'a>;

    fn read_range<'a>(&'a self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<MergedIter<'a>, StoreError> {
        self.range(from, to)
    }
}

/// The committed state of a [`KeyValueStore`], pending writes ignored.
#[derive(Debug, Clone, Copy)]
pub struct Committed<'a>(pub &'a KeyValueStore);

impl RangeRead for Committed<'_> {
    type Iter<'a>
        = KvIter<'a>
    where
        Self: 'a;

    fn read_range<'a>(&'a self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<KvIter<'a>, StoreError> {
        self.0.range_committed(from, to)
    }
}

/// Pending writes merged over committed entries, ascending; pending values and deletes win.
pub struct MergedIter<'a> {
    pending: Peekable<PendingIter<'a>>,
    backend: Peekable<KvIter<'a>>,
    overlay: &'a Overlay,
}

impl Iterator for MergedIter<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (take_pending, shadowed) = match (self.pending.peek(), self.backend.peek()) {
                (None, None) => return None,
                (Some(_), None) => (true, false),
                (None, Some(_)) | (Some(_), Some(Err(_))) => (false, false),
                (Some((pk, _)), Some(Ok((bk, _)))) => (*pk <= bk.as_slice(), *pk == bk.as_slice()),
            };
            if shadowed {
                // The pending write shadows the committed entry.
                self.backend.next();
            }
            if take_pending {
                let (k, v) = self.pending.next()?;
                if let Some(v) = v {
                    return Some(Ok((k.to_vec(), v.to_vec())));
                }
                // A pending delete hides the key.
                continue;
            }
            match self.backend.next()? {
                Ok((k, _)) if self.overlay.in_deleted_range(&k) => continue,
                item => return Some(item),
            }
        }
    }
}
