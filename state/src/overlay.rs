//! The pending overlay: writes since the last commit, seen by reads, applied at commit.

use crate::bounds::contains;
use std::collections::BTreeMap;
use std::ops::Bound;

/// Rough per-entry bookkeeping cost of a B-tree entry, so that many tiny writes still count
/// against the overlay bound.
const ENTRY_OVERHEAD: usize = 48;

/// Uncommitted writes of one store: the latest put or delete per key, plus range deletes.
///
/// Invariants:
/// - `bytes` is the sum over `entries` and `hidden` of key + value + [`ENTRY_OVERHEAD`] (plus
///   the range-delete keys), so the engine can bound memory and force a commit when it is full.
/// - `entries` and `hidden` never share a key.
///
/// A range delete (retention) hides the pending writes inside its range from reads and from
/// the local store, but not from the changelog: a window updated and then expired within one
/// commit interval still produced that update, which the changelog (and the record cache's
/// flush) must carry, however far stream time moved before the commit. Those writes move to
/// `hidden`; [`Overlay::changes`] still yields them, the commit skips them (counted).
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    pub(crate) entries: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    pub(crate) delete_ranges: Vec<(Vec<u8>, Vec<u8>)>,
    /// Writes since the commit that a later range delete hid (expired before the commit).
    pub(crate) hidden: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    bytes: usize,
}

fn entry_size(key: &[u8], value: &Option<Vec<u8>>) -> usize {
    key.len() + value.as_ref().map_or(0, Vec::len) + ENTRY_OVERHEAD
}

impl Overlay {
    pub(crate) fn write(&mut self, key: &[u8], value: Option<Vec<u8>>) {
        self.bytes += entry_size(key, &value);
        // A key written again (a window updated by several records between commits) keeps
        // its allocation.
        match self.entries.get_mut(key) {
            Some(slot) => {
                let old = std::mem::replace(slot, value);
                self.bytes -= entry_size(key, &old);
            }
            None => {
                self.entries.insert(key.to_vec(), value);
            }
        }
        if !self.hidden.is_empty() {
            if let Some(old) = self.hidden.remove(key) {
                self.bytes -= entry_size(key, &old);
            }
        }
    }

    /// The latest write of `key` since the commit, even if a range delete hid it since:
    /// `Some(Some(v))` written, `Some(None)` deleted, `None` not written.
    pub(crate) fn written(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        self.entries
            .get(key)
            .or_else(|| self.hidden.get(key))
            .map(Option::as_deref)
    }

    /// Every write since the commit, visible or hidden, in key order: one per key.
    pub(crate) fn changes(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> + '_ {
        MergeDisjoint {
            a: self.entries.iter().peekable(),
            b: self.hidden.iter().peekable(),
        }
        .map(|(k, v)| (k.as_slice(), v.as_deref()))
    }

    /// Puts that a range delete hid before the commit: the local store skips them.
    pub(crate) fn hidden_puts(&self) -> usize {
        self.hidden.values().filter(|v| v.is_some()).count()
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
                // Still owed to the changelog; `bytes` keeps counting it.
                self.hidden.insert(k, v);
            }
        }
        self.bytes += from.len() + to.len() + ENTRY_OVERHEAD;
        self.delete_ranges.push((from, to));
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.delete_ranges.is_empty() && self.hidden.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        *self = Overlay::default();
    }
}

/// Two ascending iterators over disjoint keys, merged in key order.
struct MergeDisjoint<I: Iterator> {
    a: std::iter::Peekable<I>,
    b: std::iter::Peekable<I>,
}

impl<'a, I> Iterator for MergeDisjoint<I>
where
    I: Iterator<Item = (&'a Vec<u8>, &'a Option<Vec<u8>>)>,
{
    type Item = I::Item;

    fn next(&mut self) -> Option<Self::Item> {
        match (self.a.peek(), self.b.peek()) {
            (Some((ka, _)), Some((kb, _))) if kb < ka => self.b.next(),
            (Some(_), _) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_delete_hides_pending_writes_from_reads_but_not_from_changes() {
        let mut o = Overlay::default();
        o.write(b"a1", Some(b"x".to_vec()));
        o.write(b"b1", Some(b"y".to_vec()));
        o.write(b"a2", None);
        o.delete_range(b"a".to_vec(), b"b".to_vec());
        assert_eq!(o.get(b"a1"), Some(None), "hidden from reads");
        assert_eq!(o.written(b"a1"), Some(Some(&b"x"[..])));
        assert_eq!(o.written(b"a2"), Some(None));
        let changes: Vec<_> = o.changes().collect();
        assert_eq!(
            changes,
            vec![
                (&b"a1"[..], Some(&b"x"[..])),
                (&b"a2"[..], None),
                (&b"b1"[..], Some(&b"y"[..]))
            ]
        );
        assert_eq!(o.hidden_puts(), 1);
        // A later write of a hidden key replaces it.
        o.write(b"a1", Some(b"z".to_vec()));
        assert_eq!(o.hidden_puts(), 0);
        assert_eq!(o.changes().count(), 3);
        assert_eq!(o.get(b"a1"), Some(Some(&b"z"[..])));
    }
}
