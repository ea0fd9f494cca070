//! Window stores: a value per (key, window start), over a [`KeyValueStore`].
//!
//! Store key: `segment(start) | len(key) as u32 | key | start`, all big-endian, so one key's
//! windows are contiguous and ordered by start within a segment. Stores that retain duplicates
//! (stream-stream join stores: every record of a key and time) append a `u32` sequence number. Changelog records omit the
//! segment (it is derived from the start again on restore), so a change of retention does not
//! misplace restored windows. A window is kept for `retention` after its *end*: windows with
//! `end <= stream time - retention` are expired, reads skip them and [`WindowSchema::expire`]
//! drops their segments. (Kafka Streams measures retention from the latest window start it has
//! seen; measuring from the end keeps every window readable until it closes, which needs
//! `retention >= grace`, and the DSL asks for at least size + grace.)

use crate::error::StoreError;
use crate::kv_store::{KeyValueStore, RangeRead};
use crate::segments::{be, read_be, segment_interval, segment_of, segment_prefix, segment_start};
use std::ops::Bound;

/// One window of one key, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowEntry {
    /// The record key bytes.
    pub key: Vec<u8>,
    /// Window start (ms).
    pub start: i64,
    /// The stored value.
    pub value: Vec<u8>,
}

/// What [`WindowSchema::fetch_stored`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWindows {
    /// The windows starting in the range, in store order.
    pub windows: Vec<WindowEntry>,
    /// `(start, key)` of the least windows starting after the range, in that order.
    pub later: Vec<(i64, Vec<u8>)>,
    /// Every stored window starting after the range and before this is in `later`.
    pub horizon: i64,
}

/// The layout and retention of a window store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSchema {
    retention_ms: i64,
    size_ms: i64,
    interval: i64,
    /// 4 when keys end with a sequence number (duplicates retained), else 0.
    suffix: usize,
}

impl WindowSchema {
    /// A store of windows of `size_ms`, kept for `retention_ms` of stream time after they end.
    pub fn new(retention_ms: i64, size_ms: i64) -> Self {
        WindowSchema {
            retention_ms,
            size_ms,
            interval: segment_interval(retention_ms),
            suffix: 0,
        }
    }

    /// The same layout, keeping every record of a key and time: keys end with a sequence number
    /// ([`store_key_seq`](Self::store_key_seq)).
    pub fn with_duplicates(mut self) -> Self {
        self.suffix = 4;
        self
    }

    /// How long windows are kept.
    pub fn retention_ms(&self) -> i64 {
        self.retention_ms
    }

    /// The store key of `key`'s window starting at `start`.
    pub fn store_key(&self, key: &[u8], start: i64) -> Vec<u8> {
        let mut k = Vec::with_capacity(8 + 4 + key.len() + 8);
        self.store_key_into(&mut k, key, start);
        k
    }

    /// [`store_key`](Self::store_key) written into `out` (cleared first): a processor
    /// building one per record reuses one buffer.
    pub fn store_key_into(&self, out: &mut Vec<u8>, key: &[u8], start: i64) {
        out.clear();
        out.extend_from_slice(&segment_prefix(segment_of(start, self.interval)));
        out.extend_from_slice(&(key.len() as u32).to_be_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(&be(start.max(0) as u64));
    }

    /// The store key of one of several records of `key` at `start` (duplicates retained).
    pub fn store_key_seq(&self, key: &[u8], start: i64, seq: u32) -> Vec<u8> {
        let mut k = self.store_key(key, start);
        k.extend_from_slice(&seq.to_be_bytes());
        k
    }

    /// `(key, start)` of a store key.
    pub fn decode(&self, store_key: &[u8]) -> Option<(Vec<u8>, i64)> {
        let len = u32::from_be_bytes(store_key.get(8..12)?.try_into().ok()?) as usize;
        let key = store_key.get(12..12 + len)?.to_vec();
        let start = read_be(store_key, 12 + len)? as i64;
        (store_key.len() == 12 + len + 8 + self.suffix).then_some((key, start))
    }

    /// The changelog key of a store key: the store key without its segment.
    pub fn changelog_key<'a>(&self, store_key: &'a [u8]) -> &'a [u8] {
        &store_key[8.min(store_key.len())..]
    }

    /// The store key of a changelog key (the segment derived from the start again).
    pub fn from_changelog_key(&self, changelog_key: &[u8]) -> Result<Vec<u8>, StoreError> {
        let corrupt = || StoreError::Corrupt {
            store: "window store".into(),
            reason: format!(
                "changelog key of {} bytes is not a window key",
                changelog_key.len()
            ),
        };
        if changelog_key.len() < 12 + self.suffix {
            return Err(corrupt());
        }
        let start = read_be(changelog_key, changelog_key.len() - 8 - self.suffix).ok_or_else(corrupt)? as i64;
        let mut k = segment_prefix(segment_of(start, self.interval)).to_vec();
        k.extend_from_slice(changelog_key);
        self.decode(&k).map(|_| k).ok_or_else(corrupt)
    }

    /// The earliest window start still live at `stream_time`.
    fn earliest_live(&self, stream_time: i64) -> i64 {
        (stream_time - self.retention_ms - self.size_ms + 1).max(0)
    }

    /// The value of `key`'s window at `start`, unless expired.
    pub fn get(
        &self,
        kv: &KeyValueStore,
        key: &[u8],
        start: i64,
        stream_time: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        if start < self.earliest_live(stream_time) {
            return Ok(None);
        }
        kv.get(&self.store_key(key, start))
    }

    /// Writes `key`'s window at `start`.
    pub fn put(&self, kv: &mut KeyValueStore, key: &[u8], start: i64, value: &[u8]) {
        kv.put(&self.store_key(key, start), value);
    }

    /// Deletes `key`'s window at `start`.
    pub fn delete(&self, kv: &mut KeyValueStore, key: &[u8], start: i64) {
        kv.delete(&self.store_key(key, start));
    }

    /// `key`'s live windows with `from <= start <= to`, by ascending start. No window starts
    /// after the stream time (a window holds at least one record), so `to` is capped there.
    pub fn fetch(
        &self,
        kv: &impl RangeRead,
        key: &[u8],
        from: i64,
        to: i64,
        stream_time: i64,
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        let from = from.max(self.earliest_live(stream_time));
        let to = to.min(stream_time);
        let mut out = Vec::new();
        if from > to {
            return Ok(out);
        }
        for segment in segment_of(from, self.interval)..=segment_of(to, self.interval) {
            let seg_from = segment_start(segment, self.interval).max(from);
            let seg_to = (segment_start(segment + 1, self.interval) - 1).min(to);
            let lo = self.store_key_in(segment, key, seg_from);
            let mut hi = self.store_key_in(segment, key, seg_to);
            hi.extend(std::iter::repeat_n(0xff, self.suffix));
            for entry in kv.read_range(Bound::Included(&lo), Bound::Included(&hi))? {
                let (k, v) = entry?;
                let start = read_be(&k, k.len() - 8 - self.suffix).unwrap_or_default() as i64;
                out.push((start, v));
            }
        }
        Ok(out)
    }

    /// Every live window of every key with `from <= start <= to`, ordered by segment, then key
    /// length, then key bytes and start.
    pub fn fetch_all(
        &self,
        kv: &impl RangeRead,
        from: i64,
        to: i64,
        stream_time: i64,
    ) -> Result<Vec<WindowEntry>, StoreError> {
        let found = self.fetch_stored(
            kv,
            from.max(self.earliest_live(stream_time)),
            to.min(stream_time),
            0,
        )?;
        Ok(found.windows)
    }

    /// Every stored window with `from <= start <= to`, expired or not (until its segment is
    /// dropped): what closed windows' final results are read from. Also returns what the scan
    /// saw past `to`: the `(start, key)` of up to `ahead` of the stored windows starting after
    /// it, the least, and a horizon: every stored window starting after `to` and before the
    /// horizon is among them (the horizon is at most the next segment's start, which the scan
    /// did not read; with `ahead` 0 it is `to + 1`). A caller that also tracks what it writes
    /// can then emit the next windows to close without scanning again until its cut-off reaches
    /// the horizon.
    pub fn fetch_stored(
        &self,
        kv: &impl RangeRead,
        from: i64,
        to: i64,
        ahead: usize,
    ) -> Result<StoredWindows, StoreError> {
        let mut found = StoredWindows {
            windows: Vec::new(),
            later: Vec::new(),
            horizon: to.saturating_add(1),
        };
        if from > to {
            return Ok(found);
        }
        let next_segment = segment_of(to, self.interval) + 1;
        if ahead > 0 {
            found.horizon = segment_start(next_segment, self.interval);
        }
        // The least `ahead` later windows: a max-heap whose evicted starts lower the horizon.
        let mut later = std::collections::BinaryHeap::new();
        let lo = segment_prefix(segment_of(from, self.interval));
        let hi = segment_prefix(next_segment);
        for entry in kv.read_range(Bound::Included(&lo), Bound::Excluded(&hi))? {
            let (k, value) = entry?;
            if let Some((key, start)) = self.decode(&k) {
                if (from..=to).contains(&start) {
                    found.windows.push(WindowEntry { key, start, value });
                } else if start > to && start < found.horizon {
                    later.push((start, key));
                    if later.len() > ahead {
                        let (evicted, _) = later.pop().expect("not empty");
                        found.horizon = found.horizon.min(evicted);
                    }
                }
            }
        }
        found.later = later.into_vec();
        found.later.retain(|(start, _)| *start < found.horizon);
        found.later.sort_unstable();
        Ok(found)
    }

    /// Drops the segments whose windows all expired at `stream_time`, with one range delete when
    /// the first live segment moves past `expired_below` (which it then updates).
    pub fn expire(&self, kv: &mut KeyValueStore, stream_time: i64, expired_below: &mut u64) {
        let first_live = segment_of(self.earliest_live(stream_time), self.interval);
        if first_live > *expired_below {
            kv.delete_range(&segment_prefix(0), &segment_prefix(first_live));
            *expired_below = first_live;
        }
    }

    fn store_key_in(&self, segment: u64, key: &[u8], start: i64) -> Vec<u8> {
        let mut k = self.store_key(key, start);
        k[..8].copy_from_slice(&segment_prefix(segment));
        k
    }
}
