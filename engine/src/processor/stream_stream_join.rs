//! A windowed KStream-KStream join, as Kafka Streams computes it (`KStreamJoinWindow` and
//! `KStreamKStreamJoin`, KIP-633 for left and outer joins).
//!
//! Each side has two nodes. Its [`JoinWindow`] node keeps the side's records in the side's
//! window store and forwards them to its [`StreamStreamJoin`] processor, which joins each record
//! with the other side's records within the join window, at the later of both times.
//!
//! Invariants (Kafka Streams' behaviour, which the conformance suite checks):
//! - A window store holds a record while it is within the store's retention
//!   (`before + after + grace`) of the newest record *that store* received; null values count
//!   as received. A record already outside it is not stored, but still joins.
//! - There is no lateness check in the join itself: a record joins whatever the other store
//!   still holds.
//! - Left and outer joins: a record without a partner waits in the shared outer store, keyed
//!   `time | side (right 0, left 1) | key` (Kafka Streams' byte order), unless its window
//!   already ended before the join's stream time (then it is emitted at once, joined with
//!   `None`). Records of one `(time, side, key)` share one entry, a list in arrival order (Kafka
//!   Streams' list-value store). Waiting records are emitted, in that key order, only while a record at the join's stream time is processed,
//!   once stream time passes their time + the side's look-ahead + grace; a partner arriving
//!   earlier removes them. The join's stream time is shared by both sides and advanced by every
//!   record, null values too.

use super::{Processor, ProcessorContext};
use crate::error::StreamsError;
use crate::metrics::DropReason;
use crate::record::Record;
use crate::task::UNKNOWN_TIME;
use sluice_dsl::dynamic::{Dyn, JoinerFn};
use sluice_dsl::serde::ErasedSerde;
use sluice_dsl::topology::{JoinType, JoinWindowsSpec};
use sluice_state::WindowSchema;
use std::sync::{Arc, Mutex};

/// Outer store key side markers: Kafka Streams' order puts the right side first.
const RIGHT: u8 = 0;
const LEFT: u8 = 1;

/// What both sides of one join share.
#[derive(Debug)]
pub(crate) struct JoinClock {
    /// The join's stream time: the latest record time either side saw.
    stream_time: i64,
    /// Kafka Streams' `minTime`: a lower bound of the waiting records' times, or what the last
    /// emission pass saw last; `i64::MAX` when nothing is known.
    min_time: i64,
    /// Per side (`RIGHT`, `LEFT`): the newest record time its window store received.
    observed: [i64; 2],
}

impl Default for JoinClock {
    fn default() -> Self {
        JoinClock {
            stream_time: UNKNOWN_TIME,
            min_time: i64::MAX,
            observed: [UNKNOWN_TIME; 2],
        }
    }
}

pub(crate) type SharedClock = Arc<Mutex<JoinClock>>;

fn lock(clock: &SharedClock) -> std::sync::MutexGuard<'_, JoinClock> {
    clock.lock().expect("join clock lock poisoned")
}

fn side_of(is_left: bool) -> u8 {
    if is_left {
        LEFT
    } else {
        RIGHT
    }
}

/// Sequence numbers that keep duplicate records apart, seeded per instance so that a restart
/// does not overwrite records stored before it.
fn seed() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

/// A side's window node: stores the side's records, then forwards them to its join processor.
pub(crate) struct JoinWindow {
    store: usize,
    schema: WindowSchema,
    key_serde: ErasedSerde,
    value_serde: ErasedSerde,
    side: u8,
    clock: SharedClock,
    seq: u32,
    expired_below: u64,
}

impl JoinWindow {
    pub(crate) fn new(
        store: usize,
        retention_ms: i64,
        key_serde: ErasedSerde,
        value_serde: ErasedSerde,
        this_is_left: bool,
        clock: SharedClock,
    ) -> Self {
        JoinWindow {
            store,
            schema: WindowSchema::new(retention_ms, 0).with_duplicates(),
            key_serde,
            value_serde,
            side: side_of(this_is_left),
            clock,
            seq: seed(),
            expired_below: 0,
        }
    }
}

impl Processor for JoinWindow {
    fn init(&mut self, stream_time: i64) {
        // After a restart, the newest time the store received is taken as the task's stream
        // time (an upper bound): records it may still hold past that are not joined any more.
        let mut c = lock(&self.clock);
        let observed = &mut c.observed[self.side as usize];
        *observed = (*observed).max(stream_time);
    }

    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        let t = record.timestamp;
        let key_bytes = self
            .key_serde
            .serialize(&record.key)
            .map_err(|e| ctx.store_data_error("join store", e))?;
        if let Some(key_bytes) = key_bytes {
            let observed = {
                let mut c = lock(&self.clock);
                let o = &mut c.observed[self.side as usize];
                *o = (*o).max(t);
                *o
            };
            if let Some(value) = &record.value {
                if t > observed - self.schema.retention_ms() {
                    let bytes = self
                        .value_serde
                        .serialize(value)
                        .map_err(|e| ctx.store_data_error("join store", e))?
                        .unwrap_or_default();
                    self.seq = self.seq.wrapping_add(1);
                    let store_key = self.schema.store_key_seq(&key_bytes, t, self.seq);
                    ctx.stores.kv(self.store).put(&store_key, &bytes);
                } else {
                    // Too old to be kept; it still joins what the other side holds.
                    ctx.drop_record(DropReason::ExpiredWindow);
                }
            }
            self.schema
                .expire(ctx.stores.kv(self.store), observed, &mut self.expired_below);
        }
        ctx.forward(record);
        Ok(())
    }

    fn abort(&mut self) {
        // Back to the committed state: the task re-inits with its committed stream time.
        lock(&self.clock).observed[self.side as usize] = UNKNOWN_TIME;
        self.expired_below = 0;
    }
}

/// The stores and serdes of both sides.
pub(crate) struct JoinSides {
    pub(crate) other_store: usize,
    pub(crate) outer_store: Option<usize>,
    pub(crate) key_serde: ErasedSerde,
    pub(crate) this_serde: ErasedSerde,
    pub(crate) other_serde: ErasedSerde,
}

/// A side's join processor.
pub(crate) struct StreamStreamJoin {
    sides: JoinSides,
    this_is_left: bool,
    join_type: JoinType,
    windows: JoinWindowsSpec,
    joiner: JoinerFn,
    /// The other side's store, as it reads it.
    other_schema: WindowSchema,
    clock: SharedClock,
}

/// Outer store values: the waiting values of one `(time, side, key)`, each `len (u32) | bytes`.
fn append_value(list: &mut Vec<u8>, value: &[u8]) {
    list.extend_from_slice(&(value.len() as u32).to_be_bytes());
    list.extend_from_slice(value);
}

/// The values of an outer store entry; `None` if malformed.
fn values_of(mut list: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !list.is_empty() {
        let len = u32::from_be_bytes(list.get(..4)?.try_into().ok()?) as usize;
        out.push(list.get(4..4 + len)?);
        list = &list[4 + len..];
    }
    Some(out)
}

impl StreamStreamJoin {
    pub(crate) fn new(
        sides: JoinSides,
        this_is_left: bool,
        join_type: JoinType,
        windows: JoinWindowsSpec,
        joiner: JoinerFn,
        clock: SharedClock,
    ) -> Self {
        StreamStreamJoin {
            sides,
            this_is_left,
            join_type,
            other_schema: WindowSchema::new(windows.before_ms + windows.after_ms + windows.grace_ms, 0)
                .with_duplicates(),
            windows,
            joiner,
            clock,
        }
    }

    /// How far before and after its own time a record of this side finds partners.
    fn join_before_after(&self) -> (i64, i64) {
        if self.this_is_left {
            (self.windows.before_ms, self.windows.after_ms)
        } else {
            (self.windows.after_ms, self.windows.before_ms)
        }
    }

    /// How long after its time a waiting record of `side` may still find a partner.
    fn look_ahead(&self, side: u8) -> i64 {
        if side == LEFT {
            self.windows.after_ms
        } else {
            self.windows.before_ms
        }
    }

    fn this_side(&self) -> u8 {
        side_of(self.this_is_left)
    }

    fn other_side(&self) -> u8 {
        side_of(!self.this_is_left)
    }

    /// Does this side emit its records without a partner?
    fn this_outer(&self) -> bool {
        match self.join_type {
            JoinType::Inner => false,
            JoinType::Left => self.this_is_left,
            _ => true,
        }
    }

    fn join(&self, key: &Dyn, this: &Dyn, other: Option<&Dyn>) -> Dyn {
        if self.this_is_left {
            (self.joiner)(key, Some(this), other)
        } else {
            (self.joiner)(key, other, Some(this))
        }
    }

    /// Outer store key of the records of `key` at `time` waiting on `side`.
    fn outer_key(time: i64, side: u8, key: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(8 + 1 + key.len());
        k.extend_from_slice(&time.to_be_bytes());
        k.push(side);
        k.extend_from_slice(key);
        k
    }

    /// Kafka Streams' `emitNonJoinedOuterRecords`: emits, joined with `None`, the waiting
    /// records whose window closed, in the outer store's order, until both sides reach a record
    /// whose window is still open. Emitted records take the triggering record's headers.
    fn emit_non_joined(
        &mut self,
        ctx: &mut ProcessorContext<'_>,
        record: &Record,
    ) -> Result<(), StreamsError> {
        let Some(outer) = self.sides.outer_store else {
            return Ok(());
        };
        let grace = self.windows.grace_ms;
        let (_, join_after) = self.join_before_after();
        let now = {
            let c = lock(&self.clock);
            // Java's long arithmetic, overflow included: an unknown minimum (i64::MAX) wraps
            // around and never skips the scan.
            if c.min_time.wrapping_add(join_after).wrapping_add(grace) >= c.stream_time {
                return Ok(());
            }
            c.stream_time
        };
        let task = ctx.task;
        let store_error = |source| StreamsError::Store { task, source };
        let waiting: Vec<(Vec<u8>, Vec<u8>)> = ctx
            .stores
            .kv(outer)
            .all()
            .map_err(store_error)?
            .collect::<Result<_, _>>()
            .map_err(store_error)?;
        let mut min_time = i64::MAX;
        let (mut left_open, mut right_open) = (false, false);
        // Kafka Streams visits each waiting value (a list's elements one by one): the minimum
        // it leaves behind is the time of the value it stopped at.
        'scan: for (k, v) in waiting {
            let corrupt = || {
                ctx.store_data_error(
                    "outer join store",
                    sluice_dsl::serde::SerdeError::deserialize::<()>("malformed waiting record"),
                )
            };
            if k.len() < 8 + 1 {
                return Err(corrupt());
            }
            let time = i64::from_be_bytes(k[..8].try_into().expect("8 bytes"));
            let side = k[8];
            let values = values_of(&v).ok_or_else(corrupt)?;
            let open = time + self.look_ahead(side) + grace >= now;
            let mut key = None;
            for bytes in values {
                min_time = time;
                if left_open && right_open {
                    break 'scan;
                }
                if open {
                    if side == LEFT {
                        left_open = true;
                    } else {
                        right_open = true;
                    }
                    continue;
                }
                let key = match &key {
                    Some(key) => key,
                    None => key.insert(
                        self.sides
                            .key_serde
                            .deserialize(Some(&k[9..]))
                            .map_err(|e| ctx.store_data_error("outer join store", e))?,
                    ),
                };
                let serde = if side == self.this_side() {
                    &self.sides.this_serde
                } else {
                    &self.sides.other_serde
                };
                let value = serde
                    .deserialize(Some(bytes))
                    .map_err(|e| ctx.store_data_error("outer join store", e))?;
                let joined = if side == LEFT {
                    (self.joiner)(key, Some(&value), None)
                } else {
                    (self.joiner)(key, None, Some(&value))
                };
                ctx.forward(Record::new(
                    key.clone(),
                    Some(joined),
                    time,
                    record.headers.clone(),
                ));
            }
            // A list is emitted whole or not at all: its values share one time and side.
            if !open {
                ctx.stores.kv(outer).delete(&k);
            }
        }
        lock(&self.clock).min_time = min_time;
        Ok(())
    }

    /// Removes the other side's waiting records of `key` at `time`: they found a partner.
    fn remove_waiting(&self, ctx: &mut ProcessorContext<'_>, time: i64, key_bytes: &[u8]) {
        if let Some(outer) = self.sides.outer_store {
            let k = Self::outer_key(time, self.other_side(), key_bytes);
            ctx.stores.kv(outer).delete(&k);
        }
    }
}

impl Processor for StreamStreamJoin {
    fn init(&mut self, stream_time: i64) {
        let mut c = lock(&self.clock);
        c.stream_time = c.stream_time.max(stream_time);
    }

    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        let t = record.timestamp;
        // One lock: advance the join's stream time, and read how far the other store reaches.
        let (now, other_observed) = {
            let mut c = lock(&self.clock);
            c.stream_time = c.stream_time.max(t);
            (c.stream_time, c.observed[self.other_side() as usize])
        };
        let Some(value) = &record.value else {
            ctx.drop_record(DropReason::NullValue);
            return Ok(());
        };
        let Some(key_bytes) = self
            .sides
            .key_serde
            .serialize(&record.key)
            .map_err(|e| ctx.store_data_error("join store", e))?
        else {
            ctx.drop_record(DropReason::NullKey);
            return Ok(());
        };
        if t == now {
            self.emit_non_joined(ctx, &record)?;
        }
        let (before, after) = self.join_before_after();
        let (from, to) = ((t - before).max(0), (t + after).max(0));
        let task = ctx.task;
        let matches = self
            .other_schema
            .fetch(
                ctx.stores.kv(self.sides.other_store),
                &key_bytes,
                from,
                to,
                other_observed,
            )
            .map_err(|source| StreamsError::Store { task, source })?;
        let matched = !matches.is_empty();
        for (other_time, other_bytes) in matches {
            let other = self
                .sides
                .other_serde
                .deserialize(Some(&other_bytes))
                .map_err(|e| ctx.store_data_error("join store", e))?;
            self.remove_waiting(ctx, other_time, &key_bytes);
            let joined = self.join(&record.key, value, Some(&other));
            ctx.forward(Record::new(
                record.key.clone(),
                Some(joined),
                t.max(other_time),
                record.headers.clone(),
            ));
        }
        if !matched && self.this_outer() {
            match self.sides.outer_store {
                Some(outer) if to >= now => {
                    let value_bytes = self
                        .sides
                        .this_serde
                        .serialize(value)
                        .map_err(|e| ctx.store_data_error("join store", e))?
                        .unwrap_or_default();
                    let k = Self::outer_key(t, self.this_side(), &key_bytes);
                    let task = ctx.task;
                    let mut list = ctx
                        .stores
                        .kv(outer)
                        .get(&k)
                        .map_err(|source| StreamsError::Store { task, source })?
                        .unwrap_or_default();
                    append_value(&mut list, &value_bytes);
                    ctx.stores.kv(outer).put(&k, &list);
                    let mut c = lock(&self.clock);
                    c.min_time = c.min_time.min(t);
                }
                // The window already ended before stream time: emit at once.
                _ => {
                    let joined = self.join(&record.key, value, None);
                    ctx.forward(Record::new(
                        record.key.clone(),
                        Some(joined),
                        t,
                        record.headers.clone(),
                    ));
                }
            }
        }
        Ok(())
    }

    fn abort(&mut self) {
        let mut c = lock(&self.clock);
        // Waiting records may have been dropped with the aborted writes: scan again.
        c.min_time = i64::MAX;
        // Back to the committed stream time (the task re-inits it).
        c.stream_time = UNKNOWN_TIME;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_lists_round_trip_and_reject_truncation() {
        let mut list = Vec::new();
        append_value(&mut list, b"first");
        append_value(&mut list, b"");
        append_value(&mut list, b"third");
        assert_eq!(values_of(&list), Some(vec![&b"first"[..], b"", b"third"]));
        assert_eq!(values_of(&list[..list.len() - 1]), None);
    }

    #[test]
    fn outer_keys_sort_by_time_then_right_side_then_key_bytes() {
        // Found by the conformance suite: a key that extends another ("k2", "k23") must sort
        // after it, whatever else the entry holds, as in Kafka Streams' outer store.
        let keys = [
            StreamStreamJoin::outer_key(5, LEFT, b"k23"),
            StreamStreamJoin::outer_key(5, LEFT, b"k2"),
            StreamStreamJoin::outer_key(5, RIGHT, b"z"),
            StreamStreamJoin::outer_key(4, LEFT, b"z"),
        ];
        let mut sorted = keys.to_vec();
        sorted.sort();
        assert_eq!(
            sorted,
            vec![keys[3].clone(), keys[2].clone(), keys[1].clone(), keys[0].clone()]
        );
    }
}
