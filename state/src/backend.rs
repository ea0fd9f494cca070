//! `KvBackend`: the committed storage beneath a store's pending overlay.

use crate::error::StoreError;
use std::ops::Bound;

/// Ascending `(key, value)` pairs.
pub type KvIter<'a> = Box<dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> + 'a>;

/// Writes applied atomically, with the changelog offset they bring the store up to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteBatch {
    /// Puts (`Some`) and deletes (`None`), in key order, at most one per key.
    pub entries: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Half-open key ranges `[from, to)` to delete before `entries` apply (window retention).
    pub delete_ranges: Vec<(Vec<u8>, Vec<u8>)>,
    /// The changelog offset the store reflects once this batch is applied.
    pub changelog_offset: Option<i64>,
}

impl WriteBatch {
    /// True if the batch writes nothing and moves no offset.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.delete_ranges.is_empty() && self.changelog_offset.is_none()
    }
}

/// Committed key-value storage: the part of a store that survives a commit. Keys order as
/// unsigned bytes. Implementations: [`MemoryBackend`](crate::MemoryBackend) and RocksDB; both
/// pass the crate's conformance suite.
///
/// Invariant: after `apply(batch)` returns, `committed_offset()` is `batch.changelog_offset`
/// (when set) and every entry of the batch is visible; if it fails, nothing of it is.
///
/// `Sync` because global stores are read by every stream thread at once.
pub trait KvBackend: Send + Sync {
    /// The committed value of `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Committed entries with `from <= key <= to` (per the bounds), ascending.
    fn range<'a>(&'a self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<KvIter<'a>, StoreError>;

    /// Applies a batch atomically.
    fn apply(&mut self, batch: WriteBatch) -> Result<(), StoreError>;

    /// The changelog offset the committed data reflects (`None`: nothing recorded).
    fn committed_offset(&self) -> Option<i64>;

    /// An estimate of the number of committed keys.
    fn approximate_num_entries(&self) -> u64;

    /// Deletes every entry and the recorded offset (a store found corrupt is rebuilt from its
    /// changelog).
    fn wipe(&mut self) -> Result<(), StoreError>;

    /// Makes the committed state durable (a clean close). Backends without persistence do
    /// nothing.
    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}
