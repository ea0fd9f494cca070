//! One side of a windowed KStream-KStream join.
//!
//! Each side keeps its records in a window store (duplicates retained) and joins an incoming
//! record with the other side's records within the join window, at the later of both times.
//! Left and outer joins follow KIP-633: a record without a partner waits in the shared outer
//! store and is emitted, joined with `None`, once stream time (the later of both sides') reaches
//! its time + window + grace — the moment Kafka Streams' documented join tables show; Kafka's
//! implementation waits one millisecond longer. A partner arriving earlier removes it.

use super::{Processor, ProcessorContext};
use crate::error::StreamsError;
use crate::metrics::DropReason;
use crate::record::{Headers, Record};
use crate::task::UNKNOWN_TIME;
use sluice_dsl::dynamic::{Dyn, JoinerFn};
use sluice_dsl::serde::ErasedSerde;
use sluice_dsl::topology::{JoinType, JoinWindowsSpec};
use sluice_state::WindowSchema;
use std::sync::{Arc, Mutex};

/// Stream time and earliest waiting record, shared by both sides of one join.
#[derive(Debug)]
pub(crate) struct JoinClock {
    stream_time: i64,
    /// The earliest time in the outer store (`i64::MIN`: unknown, scan to find out).
    min_waiting: i64,
}

impl Default for JoinClock {
    fn default() -> Self {
        JoinClock {
            stream_time: UNKNOWN_TIME,
            min_waiting: i64::MIN,
        }
    }
}

pub(crate) type SharedClock = Arc<Mutex<JoinClock>>;

/// The stores and serdes of both sides.
pub(crate) struct JoinSides {
    pub(crate) this_store: usize,
    pub(crate) other_store: usize,
    pub(crate) outer_store: Option<usize>,
    pub(crate) key_serde: ErasedSerde,
    pub(crate) this_serde: ErasedSerde,
    pub(crate) other_serde: ErasedSerde,
}

pub(crate) struct StreamStreamJoin {
    sides: JoinSides,
    this_is_left: bool,
    join_type: JoinType,
    windows: JoinWindowsSpec,
    joiner: JoinerFn,
    schema: WindowSchema,
    clock: SharedClock,
    /// Sequence numbers that keep duplicate records apart (seeded per instance so that a
    /// restart does not overwrite records stored before it).
    seq: u32,
    expired_below: u64,
}

const LEFT: u8 = 0;
const RIGHT: u8 = 1;

impl StreamStreamJoin {
    pub(crate) fn new(
        sides: JoinSides,
        this_is_left: bool,
        join_type: JoinType,
        windows: JoinWindowsSpec,
        joiner: JoinerFn,
        clock: SharedClock,
    ) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        StreamStreamJoin {
            sides,
            this_is_left,
            join_type,
            schema: WindowSchema::new(windows.before_ms + windows.after_ms + windows.grace_ms, 0)
                .with_duplicates(),
            windows,
            joiner,
            clock,
            seq: seed,
            expired_below: 0,
        }
    }

    /// `[from, to]`: the other side's times this side's record at `t` joins.
    fn window(&self, t: i64) -> (i64, i64) {
        if self.this_is_left {
            (t - self.windows.before_ms, t + self.windows.after_ms)
        } else {
            (t - self.windows.after_ms, t + self.windows.before_ms)
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
        if self.this_is_left {
            LEFT
        } else {
            RIGHT
        }
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

    /// Outer store key: `time | side | len(key) | key | seq`, so waiting records iterate in
    /// time order and one (time, side, key) is a prefix.
    fn outer_prefix(time: i64, side: u8, key: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(8 + 1 + 4 + key.len() + 4);
        k.extend_from_slice(&(time.max(0) as u64).to_be_bytes());
        k.push(side);
        k.extend_from_slice(&(key.len() as u32).to_be_bytes());
        k.extend_from_slice(key);
        k
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Emits, joined with `None`, every waiting record whose window closed.
    fn emit_non_joined(&mut self, ctx: &mut ProcessorContext<'_>) -> Result<(), StreamsError> {
        let Some(outer) = self.sides.outer_store else {
            return Ok(());
        };
        let (now, min_waiting) = {
            let c = self.clock.lock().expect("join clock lock poisoned");
            (c.stream_time, c.min_waiting)
        };
        let grace = self.windows.grace_ms;
        let shortest = self.windows.after_ms.min(self.windows.before_ms);
        if min_waiting != i64::MIN && min_waiting.saturating_add(shortest + grace) > now {
            return Ok(());
        }
        let task = ctx.task;
        let store_error = |source| StreamsError::Store { task, source };
        let waiting: Vec<(Vec<u8>, Vec<u8>)> = ctx
            .stores
            .kv(outer)
            .all()
            .map_err(store_error)?
            .collect::<Result<_, _>>()
            .map_err(store_error)?;
        let (mut left_open, mut right_open) = (false, false);
        let mut next_min = i64::MAX;
        for (k, v) in waiting {
            let corrupt = || {
                ctx.store_data_error(
                    "outer join store",
                    sluice_dsl::serde::SerdeError::deserialize::<()>("malformed waiting record"),
                )
            };
            let time = i64::from_be_bytes(k.get(..8).ok_or_else(corrupt)?.try_into().expect("8 bytes"));
            let side = *k.get(8).ok_or_else(corrupt)?;
            if time + self.look_ahead(side) + grace > now {
                next_min = next_min.min(time);
                if side == LEFT {
                    left_open = true;
                } else {
                    right_open = true;
                }
                if left_open && right_open {
                    break;
                }
                continue;
            }
            let len =
                u32::from_be_bytes(k.get(9..13).ok_or_else(corrupt)?.try_into().expect("4 bytes")) as usize;
            let key_bytes = k.get(13..13 + len).ok_or_else(corrupt)?;
            let key = self
                .sides
                .key_serde
                .deserialize(Some(key_bytes))
                .map_err(|e| ctx.store_data_error("outer join store", e))?;
            let serde = if side == self.this_side() {
                &self.sides.this_serde
            } else {
                &self.sides.other_serde
            };
            let value = serde
                .deserialize(Some(&v))
                .map_err(|e| ctx.store_data_error("outer join store", e))?;
            let joined = if side == LEFT {
                (self.joiner)(&key, Some(&value), None)
            } else {
                (self.joiner)(&key, None, Some(&value))
            };
            ctx.forward(Record::new(key, Some(joined), time, Headers::new()));
            ctx.stores.kv(outer).delete(&k);
        }
        self.clock.lock().expect("join clock lock poisoned").min_waiting = next_min;
        Ok(())
    }

    /// Removes the other side's waiting records of `key` at `time`: they found a partner.
    fn remove_waiting(
        &self,
        ctx: &mut ProcessorContext<'_>,
        time: i64,
        key_bytes: &[u8],
    ) -> Result<(), StreamsError> {
        let Some(outer) = self.sides.outer_store else {
            return Ok(());
        };
        let other_side = if self.this_is_left { RIGHT } else { LEFT };
        let prefix = Self::outer_prefix(time, other_side, key_bytes);
        let task = ctx.task;
        let store_error = |source| StreamsError::Store { task, source };
        let keys: Vec<Vec<u8>> = ctx
            .stores
            .kv(outer)
            .prefix_scan(&prefix)
            .map_err(store_error)?
            .map(|e| e.map(|(k, _)| k))
            .collect::<Result<_, _>>()
            .map_err(store_error)?;
        // Deleted one by one so that each delete reaches the changelog.
        for k in keys {
            ctx.stores.kv(outer).delete(&k);
        }
        Ok(())
    }
}

impl Processor for StreamStreamJoin {
    fn init(&mut self, stream_time: i64) {
        let mut c = self.clock.lock().expect("join clock lock poisoned");
        c.stream_time = c.stream_time.max(stream_time);
    }

    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        let t = record.timestamp;
        let now = {
            let mut c = self.clock.lock().expect("join clock lock poisoned");
            c.stream_time = c.stream_time.max(t);
            c.stream_time
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
        let retention = self.windows.before_ms + self.windows.after_ms + self.windows.grace_ms;
        if t <= now - retention {
            // Past the join stores' retention: no record of the other side can join it any
            // more (the stores' liveness bound, as Kafka Streams' join window stores).
            ctx.drop_record(DropReason::ExpiredWindow);
            return Ok(());
        }
        if t == now {
            self.emit_non_joined(ctx)?;
        }
        let value_bytes = self
            .sides
            .this_serde
            .serialize(value)
            .map_err(|e| ctx.store_data_error("join store", e))?
            .unwrap_or_default();
        let seq = self.next_seq();
        let store_key = self.schema.store_key_seq(&key_bytes, t, seq);
        ctx.stores.kv(self.sides.this_store).put(&store_key, &value_bytes);

        let (from, to) = self.window(t);
        let task = ctx.task;
        let matches = self
            .schema
            .fetch(
                ctx.stores.kv(self.sides.other_store),
                &key_bytes,
                from.max(0),
                to.max(0),
                now,
            )
            .map_err(|source| StreamsError::Store { task, source })?;
        let matched = !matches.is_empty();
        for (other_time, other_bytes) in matches {
            let other = self
                .sides
                .other_serde
                .deserialize(Some(&other_bytes))
                .map_err(|e| ctx.store_data_error("join store", e))?;
            self.remove_waiting(ctx, other_time, &key_bytes)?;
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
                // The window already passed (an out-of-order record): emit at once.
                Some(outer) if to >= now => {
                    let mut k = Self::outer_prefix(t, self.this_side(), &key_bytes);
                    k.extend_from_slice(&seq.to_be_bytes());
                    ctx.stores.kv(outer).put(&k, &value_bytes);
                    let mut c = self.clock.lock().expect("join clock lock poisoned");
                    if c.min_waiting != i64::MIN {
                        c.min_waiting = c.min_waiting.min(t);
                    }
                }
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
        self.schema
            .expire(ctx.stores.kv(self.sides.this_store), now, &mut self.expired_below);
        Ok(())
    }

    fn abort(&mut self) {
        let mut c = self.clock.lock().expect("join clock lock poisoned");
        // Waiting records may have been dropped with the aborted writes: scan again.
        c.min_waiting = i64::MIN;
        // Back to the committed stream time (the task re-inits it).
        c.stream_time = UNKNOWN_TIME;
        drop(c);
        self.expired_below = 0;
    }
}
