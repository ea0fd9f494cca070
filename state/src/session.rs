//! Session stores: a value per (key, session start, session end), over a [`KeyValueStore`].
//!
//! Store key: `segment(end) | len(key) as u32 | key | end | start`, big-endian: one key's
//! sessions are ordered by end time within a segment (Kafka Streams' session key schema, plus the
//! segment). Sessions with `end < stream time - retention` are expired.

use crate::error::StoreError;
use crate::kv_store::{KeyValueStore, RangeRead};
use crate::segments::{be, read_be, segment_interval, segment_of, segment_prefix, segment_start};
use std::ops::Bound;

/// One session of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// First record time (ms).
    pub start: i64,
    /// Last record time (ms, inclusive).
    pub end: i64,
    /// The stored value.
    pub value: Vec<u8>,
}

/// The layout and retention of a session store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSchema {
    retention_ms: i64,
    interval: i64,
}

/// What [`SessionSchema::find_by_end`] found: the `(key, session)` pairs ending in the range,
/// and a lower bound on the end of every stored session ending after it.
pub type SessionsByEnd = (Vec<(Vec<u8>, Session)>, i64);

impl SessionSchema {
    /// A session store keeping sessions for `retention_ms` of stream time after they end.
    pub fn new(retention_ms: i64) -> Self {
        SessionSchema {
            retention_ms,
            interval: segment_interval(retention_ms),
        }
    }

    /// The store key of `key`'s session `[start, end]`.
    pub fn store_key(&self, key: &[u8], start: i64, end: i64) -> Vec<u8> {
        let mut k = Vec::with_capacity(8 + 4 + key.len() + 16);
        k.extend_from_slice(&segment_prefix(segment_of(end, self.interval)));
        k.extend_from_slice(&(key.len() as u32).to_be_bytes());
        k.extend_from_slice(key);
        k.extend_from_slice(&be(end.max(0) as u64));
        k.extend_from_slice(&be(start.max(0) as u64));
        k
    }

    /// `(key, start, end)` of a store key.
    pub fn decode(&self, store_key: &[u8]) -> Option<(Vec<u8>, i64, i64)> {
        let len = u32::from_be_bytes(store_key.get(8..12)?.try_into().ok()?) as usize;
        let key = store_key.get(12..12 + len)?.to_vec();
        let end = read_be(store_key, 12 + len)? as i64;
        let start = read_be(store_key, 20 + len)? as i64;
        (store_key.len() == 28 + len).then_some((key, start, end))
    }

    /// The changelog key of a store key: without its segment.
    pub fn changelog_key<'a>(&self, store_key: &'a [u8]) -> &'a [u8] {
        &store_key[8.min(store_key.len())..]
    }

    /// The store key of a changelog key.
    pub fn from_changelog_key(&self, changelog_key: &[u8]) -> Result<Vec<u8>, StoreError> {
        let corrupt = || StoreError::Corrupt {
            store: "session store".into(),
            reason: format!(
                "changelog key of {} bytes is not a session key",
                changelog_key.len()
            ),
        };
        if changelog_key.len() < 20 {
            return Err(corrupt());
        }
        let end = read_be(changelog_key, changelog_key.len() - 16).ok_or_else(corrupt)? as i64;
        let mut k = segment_prefix(segment_of(end, self.interval)).to_vec();
        k.extend_from_slice(changelog_key);
        self.decode(&k).map(|_| k).ok_or_else(corrupt)
    }

    /// Inclusive, so that a session is still stored when it closes (end + gap + grace).
    fn earliest_live_end(&self, stream_time: i64) -> i64 {
        (stream_time - self.retention_ms).max(0)
    }

    /// Every live session of `key`, by end (what a query of the key answers).
    pub fn key_sessions(
        &self,
        kv: &impl RangeRead,
        key: &[u8],
        stream_time: i64,
    ) -> Result<Vec<Session>, StoreError> {
        self.find_sessions(kv, key, i64::MIN / 2, i64::MAX / 2, stream_time)
    }

    /// `key`'s live sessions with `end >= earliest_end` and `start <= latest_start`, by end;
    /// sessions never end after `stream_time`.
    pub fn find_sessions(
        &self,
        kv: &impl RangeRead,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
        stream_time: i64,
    ) -> Result<Vec<Session>, StoreError> {
        let from = earliest_end.max(self.earliest_live_end(stream_time));
        // No session ends after the stream time.
        let to = stream_time;
        let mut out = Vec::new();
        if from > to {
            return Ok(out);
        }
        for segment in segment_of(from, self.interval)..=segment_of(to, self.interval) {
            let mut prefix = segment_prefix(segment).to_vec();
            prefix.extend_from_slice(&(key.len() as u32).to_be_bytes());
            prefix.extend_from_slice(key);
            let mut lo = prefix.clone();
            lo.extend_from_slice(&be(from.max(0) as u64));
            let mut hi = prefix;
            hi.extend_from_slice(&be(to.max(0) as u64));
            hi.extend_from_slice(&be(u64::MAX));
            for entry in kv.read_range(Bound::Included(&lo), Bound::Included(&hi))? {
                let (k, value) = entry?;
                if let Some((_, start, end)) = self.decode(&k) {
                    if start <= latest_start {
                        out.push(Session { start, end, value });
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every stored session of every key with `from <= end <= to`, expired or not (until its
    /// segment is dropped), as `(key, session)`: one range scan over the segments holding those
    /// ends. Also returns a lower bound on the end of every stored session that ends after `to`
    /// (the least such end in the scanned segments, or the start of the next segment): until a
    /// cut-off reaches it, a caller that also tracks what it writes has nothing to scan for.
    pub fn find_by_end(&self, kv: &KeyValueStore, from: i64, to: i64) -> Result<SessionsByEnd, StoreError> {
        let mut out = Vec::new();
        if from > to {
            return Ok((out, to.saturating_add(1)));
        }
        let next_segment = segment_of(to, self.interval) + 1;
        let mut next_end = segment_start(next_segment, self.interval);
        let lo = segment_prefix(segment_of(from, self.interval));
        let hi = segment_prefix(next_segment);
        for entry in kv.range(Bound::Included(&lo), Bound::Excluded(&hi))? {
            let (k, value) = entry?;
            if let Some((key, start, end)) = self.decode(&k) {
                if (from..=to).contains(&end) {
                    out.push((key, Session { start, end, value }));
                } else if end > to {
                    next_end = next_end.min(end);
                }
            }
        }
        Ok((out, next_end))
    }

    /// Writes `key`'s session `[start, end]`.
    pub fn put(&self, kv: &mut KeyValueStore, key: &[u8], start: i64, end: i64, value: &[u8]) {
        kv.put(&self.store_key(key, start, end), value);
    }

    /// Deletes `key`'s session `[start, end]`.
    pub fn delete(&self, kv: &mut KeyValueStore, key: &[u8], start: i64, end: i64) {
        kv.delete(&self.store_key(key, start, end));
    }

    /// Drops the segments whose sessions all expired at `stream_time`, with one range delete when
    /// the first live segment moves past `expired_below` (which it then updates).
    pub fn expire(&self, kv: &mut KeyValueStore, stream_time: i64, expired_below: &mut u64) {
        let first_live = segment_of(self.earliest_live_end(stream_time), self.interval);
        if first_live > *expired_below {
            kv.delete_range(&segment_prefix(0), &segment_prefix(first_live));
            *expired_below = first_live;
        }
    }
}
