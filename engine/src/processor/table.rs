//! Table processors: materializing a stream or topic as a table, table-to-stream, and the
//! stateless table operators that map old and new values alike.

use super::record_cache::{CacheBudget, RecordCache};
use super::{Processor, ProcessorContext};
use crate::error::StreamsError;
use crate::metrics::DropReason;
use crate::record::{Headers, Record};
use sluice_dsl::dynamic::{Dyn, PredicateFn, ValueMapperFn};
use sluice_dsl::serde::{ErasedSerde, SerdeError};
use sluice_dsl::topology::StoreSpec;

/// Writes a table store and forwards each change `(new, old)` downstream, through the record
/// cache when the store caches.
pub(crate) struct TableEmitter {
    pub(crate) store: usize,
    pub(crate) store_name: String,
    pub(crate) key_serde: ErasedSerde,
    pub(crate) value_serde: ErasedSerde,
    /// Bytes before the serialized value in stored values (window stores keep the window's
    /// latest record timestamp there).
    value_prefix: usize,
    cache: Option<RecordCache>,
    /// Window stores: the largest window start written by any processor writing the store
    /// (Kafka Streams' window stores' own "observed stream time"). A window starting a
    /// retention before it is gone from the store. With one writer a window that old has
    /// closed already; in a cogroup another stream's aggregation may still have it open.
    pub(crate) store_time: i64,
    /// Where [`stamped_value_bytes`](Self::stamped_value_bytes) encodes a value before it is
    /// copied behind its timestamp (kept: one per emitter, not one per record).
    scratch: Vec<u8>,
}

/// Window store values: `timestamp (8 bytes, big-endian) | value`.
pub(crate) const TIMESTAMP_PREFIX: usize = 8;

/// `timestamp | value`, as window stores keep values.
pub(crate) fn timestamped(timestamp: i64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(TIMESTAMP_PREFIX + value.len());
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// The timestamp of a timestamped value.
pub(crate) fn timestamp_of(stored: &[u8]) -> i64 {
    stored
        .get(..TIMESTAMP_PREFIX)
        .map_or(0, |b| i64::from_be_bytes(b.try_into().expect("8 bytes")))
}

impl TableEmitter {
    pub(crate) fn new(store: usize, spec: &StoreSpec, budget: &CacheBudget) -> Self {
        TableEmitter {
            store,
            store_name: spec.name.clone(),
            key_serde: spec.key_serde.clone(),
            value_serde: spec.value_serde.clone(),
            value_prefix: if spec.timestamped { TIMESTAMP_PREFIX } else { 0 },
            cache: (spec.caching && budget.enabled()).then(|| RecordCache::new(budget.clone())),
            store_time: crate::task::UNKNOWN_TIME,
            scratch: Vec::new(),
        }
    }

    /// Forward every update immediately, whatever the store's caching (windowed aggregations
    /// that emit only final results never forward through the emitter).
    pub(crate) fn without_cache(mut self) -> Self {
        self.cache = None;
        self
    }

    /// The store key of `key`; `None` if the key serializes to null (such records are skipped).
    pub(crate) fn key_bytes(
        &self,
        ctx: &ProcessorContext<'_>,
        key: &Dyn,
    ) -> Result<Option<Vec<u8>>, StreamsError> {
        self.key_serde
            .serialize(key)
            .map_err(|e| ctx.store_data_error(&self.store_name, e))
    }

    pub(crate) fn read(
        &self,
        ctx: &mut ProcessorContext<'_>,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StreamsError> {
        ctx.stores
            .kv(self.store)
            .read(key, |v| v.map(<[u8]>::to_vec))
            .map_err(|source| StreamsError::Store {
                task: ctx.task,
                source,
            })
    }

    pub(crate) fn value_bytes(
        &self,
        ctx: &ProcessorContext<'_>,
        value: &Dyn,
    ) -> Result<Vec<u8>, StreamsError> {
        match self.value_serde.serialize(value) {
            Ok(Some(b)) => Ok(b),
            Ok(None) => Err(ctx.store_data_error(
                &self.store_name,
                SerdeError::serialize::<()>("a table value serialized to null"),
            )),
            Err(e) => Err(ctx.store_data_error(&self.store_name, e)),
        }
    }

    /// `timestamp | value` as a timestamped store keeps it: one allocation, sized exactly.
    pub(crate) fn stamped_value_bytes(
        &mut self,
        ctx: &ProcessorContext<'_>,
        value: &Dyn,
        timestamp: i64,
    ) -> Result<Vec<u8>, StreamsError> {
        match self.value_serde.serialize_into(value, &mut self.scratch) {
            Ok(true) => Ok(timestamped(timestamp, &self.scratch)),
            Ok(false) => Err(ctx.store_data_error(
                &self.store_name,
                SerdeError::serialize::<()>("a table value serialized to null"),
            )),
            Err(e) => Err(ctx.store_data_error(&self.store_name, e)),
        }
    }

    /// Deserializes a stored value (after its prefix) for a user closure that takes it by value.
    pub(crate) fn deserialize_box(
        &self,
        ctx: &ProcessorContext<'_>,
        stored: &[u8],
    ) -> Result<sluice_dsl::dynamic::DynBox, StreamsError> {
        self.payload(stored)
            .and_then(|p| self.value_serde.deserialize_box(Some(p)))
            .map_err(|e| ctx.store_data_error(&self.store_name, e))
    }

    /// Deserializes a stored value (after its prefix).
    pub(crate) fn deserialize(
        &self,
        ctx: &ProcessorContext<'_>,
        stored: Option<&[u8]>,
    ) -> Result<Option<Dyn>, StreamsError> {
        self.decode(stored)
            .map_err(|e| ctx.store_data_error(&self.store_name, e))
    }

    /// [`deserialize`](Self::deserialize) without a context: for values read while the
    /// context's stores are borrowed.
    fn decode(&self, stored: Option<&[u8]>) -> Result<Option<Dyn>, SerdeError> {
        stored
            .map(|b| self.value_serde.deserialize(Some(self.payload(b)?)))
            .transpose()
    }

    /// The serialized value in stored bytes (after the timestamp of timestamped stores).
    fn payload<'b>(&self, stored: &'b [u8]) -> Result<&'b [u8], SerdeError> {
        stored
            .get(self.value_prefix..)
            .ok_or_else(|| SerdeError::deserialize::<()>("stored value shorter than its timestamp"))
    }

    /// The time forwarded with a flushed value: the stored one for timestamped stores,
    /// else the latest update's.
    fn latest_timestamp(&self, stored: Option<&[u8]>, updated: i64) -> i64 {
        match stored {
            Some(stored) if self.value_prefix > 0 => timestamp_of(stored),
            _ => updated,
        }
    }

    /// Writes `new` (`None` deletes; serialized value and the value itself) for `key` and emits
    /// the change. `old` is the stored value before this write, as stored. Timestamped stores
    /// keep `timestamp` with the value.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write(
        &mut self,
        ctx: &mut ProcessorContext<'_>,
        key_bytes: &[u8],
        key: &Dyn,
        old: Option<Vec<u8>>,
        new: Option<(Vec<u8>, Dyn)>,
        timestamp: i64,
        headers: &Headers,
    ) -> Result<(), StreamsError> {
        let new = match new {
            Some((bytes, value)) if self.value_prefix > 0 => Some((timestamped(timestamp, &bytes), value)),
            other => other,
        };
        self.write_with(ctx, key_bytes, || key.clone(), old, new, timestamp, headers)
    }

    /// [`write`](Self::write) of a value already as the store keeps it (behind its timestamp
    /// in timestamped stores: stored without a copy), with the key made only when needed: a
    /// key the record cache holds already is not made again (a windowed key costs allocations
    /// to build).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write_with(
        &mut self,
        ctx: &mut ProcessorContext<'_>,
        key_bytes: &[u8],
        key: impl FnOnce() -> Dyn,
        old: Option<Vec<u8>>,
        new: Option<(Vec<u8>, Dyn)>,
        timestamp: i64,
        headers: &Headers,
    ) -> Result<(), StreamsError> {
        let store = ctx.stores.kv(self.store);
        let new = match new {
            Some((stored, value)) => {
                store.put_owned(key_bytes, stored);
                Some(value)
            }
            None => {
                store.delete(key_bytes);
                None
            }
        };
        match &mut self.cache {
            Some(cache) => {
                if cache.update(key_bytes, key, old, timestamp, headers) {
                    self.flush(ctx)?;
                }
            }
            None => {
                let old = self.deserialize(ctx, old.as_deref())?;
                ctx.forward(Record {
                    key: key(),
                    value: new,
                    old_value: old,
                    timestamp,
                    headers: headers.clone(),
                });
            }
        }
        Ok(())
    }

    /// Forwards the latest value of every cached key with its value as of the last flush.
    pub(crate) fn flush(&mut self, ctx: &mut ProcessorContext<'_>) -> Result<(), StreamsError> {
        let Some(cache) = &mut self.cache else {
            return Ok(());
        };
        for (key_bytes, entry) in cache.drain() {
            // The latest write, even if retention hid it since (a window that expired before
            // this flush): its update happened and must reach downstream. Read in place: a
            // flush forwards every dirty key once, and copying each value first showed in
            // profiles.
            let task = ctx.task;
            let store = ctx.stores.kv(self.store);
            let read;
            let new = match store.written_ref(&key_bytes) {
                Some(written) => written,
                None => {
                    read = store
                        .get(&key_bytes)
                        .map_err(|source| StreamsError::Store { task, source })?;
                    read.as_deref()
                }
            };
            if new.is_none() && entry.old.is_none() {
                continue;
            }
            let timestamp = self.latest_timestamp(new, entry.timestamp);
            let value = self
                .decode(new)
                .map_err(|e| ctx.store_data_error(&self.store_name, e))?;
            let old_value = self.deserialize(ctx, entry.old.as_deref())?;
            ctx.forward(Record {
                key: entry.key,
                value,
                old_value,
                timestamp,
                headers: entry.headers,
            });
        }
        Ok(())
    }

    pub(crate) fn has_cache(&self) -> bool {
        self.cache.is_some()
    }

    /// The record time kept with a stored value, for timestamped stores.
    pub(crate) fn stored_timestamp(&self, stored: &[u8]) -> Option<i64> {
        (self.value_prefix > 0).then(|| timestamp_of(stored))
    }

    /// A closed window's final result, from its key bytes and value as stored. An emission
    /// builds all its records before it forwards any: one that fails half way (a store serde
    /// that panics) has forwarded nothing, and the next emission forwards every window again.
    pub(crate) fn final_record(
        &self,
        ctx: &ProcessorContext<'_>,
        windowed_key: &sluice_dsl::dynamic::WindowedKeyFn,
        key_bytes: &[u8],
        window: sluice_dsl::windows::Window,
        stored: &[u8],
        timestamp: i64,
    ) -> Result<Record, StreamsError> {
        let key = self
            .key_serde
            .deserialize(Some(key_bytes))
            .map_err(|e| ctx.store_data_error(&self.store_name, e))?;
        let value = self.deserialize(ctx, Some(stored))?;
        Ok(Record::new(
            windowed_key(&key, window),
            value,
            timestamp,
            Headers::new(),
        ))
    }

    pub(crate) fn abort(&mut self) {
        if let Some(c) = &mut self.cache {
            c.clear();
        }
    }
}

/// `builder.table(...)`, `KStream::to_table` and table-table join results: the latest value
/// per key; null deletes.
pub(crate) struct Materialize {
    emitter: TableEmitter,
    /// Whether the deletion of an absent key goes downstream when the store does not cache:
    /// true for table sources, as Kafka Streams' `KTableSource` forwards it (its caching store
    /// drops it); false for join results, which Kafka Streams does not materialize.
    forward_absent_deletes: bool,
}

impl Materialize {
    pub(crate) fn new(emitter: TableEmitter, forward_absent_deletes: bool) -> Self {
        Materialize {
            emitter,
            forward_absent_deletes,
        }
    }
}

impl Processor for Materialize {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        let Some(key_bytes) = self.emitter.key_bytes(ctx, &record.key)? else {
            ctx.drop_record(DropReason::NullKey);
            return Ok(());
        };
        let old = self.emitter.read(ctx, &key_bytes)?;
        if record.value.is_none() && old.is_none() {
            // Deleting an absent key changes nothing in the store. As Kafka Streams: a caching
            // source store drops it; without a cache the tombstone is forwarded all the same.
            if self.forward_absent_deletes && !self.emitter.has_cache() {
                ctx.forward(record);
            }
            return Ok(());
        }
        let new = match record.value {
            Some(v) => Some((self.emitter.value_bytes(ctx, &v)?, v)),
            None => None,
        };
        self.emitter.write(
            ctx,
            &key_bytes,
            &record.key,
            old,
            new,
            record.timestamp,
            &record.headers,
        )
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_>) -> Result<(), StreamsError> {
        self.emitter.flush(ctx)
    }

    fn has_cache(&self) -> bool {
        self.emitter.has_cache()
    }

    fn abort(&mut self) {
        self.emitter.abort();
    }
}

/// A table source that nothing reads: no store, every record forwarded as a change without an
/// old value (deletions of absent keys too), as Kafka Streams' unmaterialized `KTableSource`.
pub(crate) struct UnmaterializedSource {
    pub(crate) key_serde: ErasedSerde,
}

impl Processor for UnmaterializedSource {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        if ctx.is_null_key(&self.key_serde, &record.key)? {
            ctx.drop_record(DropReason::NullKey);
            return Ok(());
        }
        ctx.forward(Record {
            old_value: None,
            ..record
        });
        Ok(())
    }
}

/// `KTable::to_stream`: each change's new value; deletes become null values.
pub(crate) struct ToStream;

impl Processor for ToStream {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, mut record: Record) -> Result<(), StreamsError> {
        record.old_value = None;
        ctx.forward(record);
        Ok(())
    }
}

/// `KTable::filter`, as Kafka Streams' `KTableFilter`: a filtered-out new value is forwarded
/// as a deletion. When a downstream operator reads old values, old values are filtered alike
/// and a change whose both sides are filtered out is not forwarded; otherwise no old value
/// goes on and every change is forwarded.
pub(crate) struct TableFilter {
    pub(crate) predicate: PredicateFn,
    pub(crate) negate: bool,
    pub(crate) send_old_values: bool,
}

impl Processor for TableFilter {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        let keep = |v: &Option<Dyn>| {
            v.clone()
                .filter(|v| (self.predicate)(&record.key, v) != self.negate)
        };
        let value = keep(&record.value);
        let old_value = if self.send_old_values {
            keep(&record.old_value)
        } else {
            None
        };
        if self.send_old_values && value.is_none() && old_value.is_none() {
            return Ok(());
        }
        ctx.forward(Record {
            value,
            old_value,
            ..record
        });
        Ok(())
    }
}

/// `KTable::map_values`: maps old and new values.
pub(crate) struct TableMapValues(pub(crate) ValueMapperFn);

impl Processor for TableMapValues {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        let value = record.value.as_ref().map(|v| (self.0)(&record.key, v));
        let old_value = record.old_value.as_ref().map(|v| (self.0)(&record.key, v));
        ctx.forward(Record {
            value,
            old_value,
            ..record
        });
        Ok(())
    }
}

/// A [`TableEmitter`] of one processor, or shared by the processors that write one store (a
/// cogroup's aggregations): one record cache then coalesces all their updates of a key, and
/// the first of them to flush forwards them all (they share their child, the merge node).
pub(crate) enum EmitterHandle {
    Own(TableEmitter),
    Shared(std::sync::Arc<std::sync::Mutex<TableEmitter>>),
}

/// A borrowed emitter (see [`EmitterHandle::get`]).
pub(crate) enum EmitterGuard<'a> {
    Own(&'a mut TableEmitter),
    Shared(std::sync::MutexGuard<'a, TableEmitter>),
}

impl EmitterHandle {
    /// See [`TableEmitter::has_cache`].
    pub(crate) fn has_cache(&self) -> bool {
        match self {
            EmitterHandle::Own(e) => e.has_cache(),
            EmitterHandle::Shared(e) => e.lock().expect("emitter lock poisoned").has_cache(),
        }
    }

    /// The emitter. The lock is never contended: the processors sharing it run in one task.
    pub(crate) fn get(&mut self) -> EmitterGuard<'_> {
        match self {
            EmitterHandle::Own(e) => EmitterGuard::Own(e),
            EmitterHandle::Shared(e) => EmitterGuard::Shared(e.lock().expect("emitter lock poisoned")),
        }
    }
}

impl std::ops::Deref for EmitterGuard<'_> {
    type Target = TableEmitter;
    fn deref(&self) -> &TableEmitter {
        match self {
            EmitterGuard::Own(e) => e,
            EmitterGuard::Shared(e) => e,
        }
    }
}

impl std::ops::DerefMut for EmitterGuard<'_> {
    fn deref_mut(&mut self) -> &mut TableEmitter {
        match self {
            EmitterGuard::Own(e) => e,
            EmitterGuard::Shared(e) => e,
        }
    }
}
