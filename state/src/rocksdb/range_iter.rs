//! Range reads over one column family through a RocksDB iterator that is kept between reads.
//!
//! Creating a RocksDB iterator is the expensive part of a short range read: it references the
//! column family's current memtables and SST files and builds a merging iterator over them
//! (in the sliding-window benchmark's profile, creating iterators took about as many samples as
//! seeking them, 7% of all, for reads that return a few windows). A processor reads a few
//! windows per record, so the backend keeps one iterator and only seeks it again for the next
//! read. A read that finds the kept iterator busy (nested in another read, or a second thread
//! on a global store) steps an iterator of its own, through the same code.
//!
//! Invariant: a kept iterator sees the column family as of its creation, so it is dropped
//! before anything writes the column family ([`IterSlot::invalidate`] in every write path of
//! the backend). Between writes it is exactly as fresh as a new one. It also pins the memtables
//! and SST files it was created on until then, which bounds that to one commit interval.
//! (The iterator borrows the database; `self_cell` keeps the two together, since the crate
//! allows no `unsafe`.)

use super::Db;
use crate::error::StoreError;
use rocksdb::DBRawIteratorWithThreadMode;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

/// An iterator over one column family of `Db`.
type RawIter<'db> = DBRawIteratorWithThreadMode<'db, Db>;

self_cell::self_cell!(
    /// An iterator together with the database it borrows.
    struct OwnedIter {
        owner: Arc<Db>,
        #[covariant]
        dependent: RawIter,
    }
);

/// The iterator a backend keeps between range reads, and the database it reads.
pub(super) struct IterSlot {
    db: Arc<Db>,
    iter: Mutex<Option<OwnedIter>>,
}

impl IterSlot {
    pub(super) fn new(db: Arc<Db>) -> Self {
        IterSlot {
            db,
            iter: Mutex::new(None),
        }
    }

    /// The database.
    pub(super) fn db(&self) -> &Db {
        &self.db
    }

    /// Drops the kept iterator: the column family is about to change.
    pub(super) fn invalidate(&mut self) {
        *self.iter.get_mut().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// A read of `from..to`, over the kept iterator (created on `cf` if none is kept), or over
    /// an iterator of its own if another read holds the kept one (a nested read, or another
    /// thread reading a global store).
    pub(super) fn read<'a>(
        &'a self,
        cf: &impl rocksdb::AsColumnFamilyRef,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        store: &'a str,
    ) -> RangeRead<'a> {
        let create = || {
            OwnedIter::new(Arc::clone(&self.db), |db| {
                db.raw_iterator_cf_opt(cf, rocksdb::ReadOptions::default())
            })
        };
        let mut holder = match self.iter.try_lock() {
            Ok(g) => Holder::Kept(g),
            // A read that panicked left the iterator somewhere; every read seeks it anew.
            Err(TryLockError::Poisoned(p)) => Holder::Kept(p.into_inner()),
            Err(TryLockError::WouldBlock) => Holder::Own(create()),
        };
        let iter = match &mut holder {
            Holder::Kept(guard) => guard.get_or_insert_with(create),
            Holder::Own(own) => own,
        };
        iter.with_dependent_mut(|_, iter| {
            match from {
                Bound::Included(f) | Bound::Excluded(f) => iter.seek(f),
                Bound::Unbounded => iter.seek_to_first(),
            }
            if let Bound::Excluded(f) = from {
                if iter.key() == Some(f) {
                    iter.next();
                }
            }
        });
        RangeRead {
            holder,
            to: match to {
                Bound::Included(t) => Bound::Included(t.to_vec()),
                Bound::Excluded(t) => Bound::Excluded(t.to_vec()),
                Bound::Unbounded => Bound::Unbounded,
            },
            store,
            done: false,
        }
    }
}

/// The iterator a range read steps: the kept one, or its own.
enum Holder<'a> {
    Kept(MutexGuard<'a, Option<OwnedIter>>),
    Own(OwnedIter),
}

/// Ascending entries of one range read. The upper bound is checked here, not given to
/// RocksDB: a kept iterator serves reads with different bounds.
pub(super) struct RangeRead<'a> {
    holder: Holder<'a>,
    to: Bound<Vec<u8>>,
    store: &'a str,
    done: bool,
}

impl Iterator for RangeRead<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let (to, store) = (&self.to, self.store);
        let iter = match &mut self.holder {
            Holder::Kept(guard) => guard.as_mut().expect("a kept range holds its iterator"),
            Holder::Own(own) => own,
        };
        let item = iter.with_dependent_mut(|_, iter| {
            let Some((k, v)) = iter.item() else {
                return iter
                    .status()
                    .err()
                    .map(|e| Err(super::backend_error(store, "iterate", e)));
            };
            let inside = match to {
                Bound::Included(t) => k <= t.as_slice(),
                Bound::Excluded(t) => k < t.as_slice(),
                Bound::Unbounded => true,
            };
            if !inside {
                return None;
            }
            let item = (k.to_vec(), v.to_vec());
            iter.next();
            Some(Ok(item))
        });
        self.done = !matches!(item, Some(Ok(_)));
        item
    }
}
