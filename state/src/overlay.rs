//! The pending overlay: writes since the last commit, seen by reads, applied at commit.

use crate::bounds::contains;
use std::collections::BTreeMap;
use std::ops::Bound;

/// Rough per-entry bookkeeping cost of a B-tree entry, so that many tiny writes still count
/// against the overlay bound.
const ENTRY_OVERHEAD: usize = 48;

/// Uncommitted writes of one store: the latest put or delete per key, plus range deletes.
///
/// Invariant: `bytes` is the sum over entries of key + value + [`ENTRY_OVERHEAD`] (plus the
/// range-delete keys), so the engine can bound memory and force a commit when it is full.
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    pub(crate) entries: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    pub(crate) delete_ranges: Vec<(Vec<u8>, Vec<u8>)>,
    bytes: usize,
}

fn entry_size(key: &[u8], value: &Option<Vec<u8>>) -> usize {
    key.len() + value.as_ref().map_or(0, Vec::len) + ENTRY_OVERHEAD
}

impl Overlay {
    pub(crate) fn write(&mut self, key: &[u8], value: Option<Vec<u8>>) {
        self.bytes += entry_size(key, &value);
        if let Some(old) = self.entries.insert(key.to_vec(), value) {
            self.bytes -= entry_size(key, &old);
        }
    }

    /// `Some(Some(v))`: written; `Some(None)`: deleted; `None`: not touched since the commit.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        if let Some(v) = self.entries.get(key) {
            return Some(v.as_deref());
        }
        self.in_deleted_range(key).then_some(None)
    }

    pub(crate) fn in_deleted_range(&self, key: &[u8]) -> bool {
        self.delete_ranges
            .iter()
            .any(|(from, to)| contains(Bound::Included(from), Bound::Excluded(to), key))
    }

    pub(crate) fn delete_range(&mut self, from: Vec<u8>, to: Vec<u8>) {
        let doomed: Vec<Vec<u8>> = self
            .entries
            .range(from.clone()..to.clone())
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            if let Some(v) = self.entries.remove(&k) {
                self.bytes -= entry_size(&k, &v);
            }
        }
        self.bytes += from.len() + to.len() + ENTRY_OVERHEAD;
        self.delete_ranges.push((from, to));
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.delete_ranges.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        *self = Overlay::default();
    }
}
