//! `suppress(Suppressed::until_window_closes(..))`: buffer a windowed table's updates, forward
//! each window's last value once stream time (observed by this node) passes its end plus grace.
//!
//! The buffer is a logged key-value store, so buffered updates survive restarts. Its keys are
//! `window end (8 bytes, big-endian) | windowed key`, so closed windows are a prefix range;
//! values are `timestamp (8 bytes) | 1 | value`, or `timestamp | 0` for a delete.

use super::{Processor, ProcessorContext};
use crate::error::StreamsError;
use crate::metrics::DropReason;
use crate::record::{Headers, Record};
use crate::task::UNKNOWN_TIME;
use sluice_dsl::dynamic::WindowOfFn;
use sluice_dsl::serde::ErasedSerde;
use std::ops::Bound;

pub(crate) struct Suppress {
    store: usize,
    store_name: String,
    key_serde: ErasedSerde,
    value_serde: ErasedSerde,
    window_of: WindowOfFn,
    grace_ms: i64,
    max_records: Option<u64>,
    observed: i64,
    /// Buffered windows, counted from the store on first use (only with a bound).
    buffered: Option<u64>,
}

impl Suppress {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store: usize,
        store_name: String,
        key_serde: ErasedSerde,
        value_serde: ErasedSerde,
        window_of: WindowOfFn,
        grace_ms: i64,
        max_records: Option<u64>,
    ) -> Self {
        Suppress {
            store,
            store_name,
            key_serde,
            value_serde,
            window_of,
            grace_ms,
            max_records,
            observed: UNKNOWN_TIME,
            buffered: None,
        }
    }

    fn count(&mut self, ctx: &mut ProcessorContext<'_>) -> Result<u64, StreamsError> {
        if let Some(n) = self.buffered {
            return Ok(n);
        }
        let task = ctx.task;
        let n = ctx
            .stores
            .kv(self.store)
            .all()
            .map_err(|source| StreamsError::Store { task, source })?
            .count() as u64;
        self.buffered = Some(n);
        Ok(n)
    }

    /// Forwards and removes every buffered window with `end <= observed - grace`.
    fn evict(&mut self, ctx: &mut ProcessorContext<'_>) -> Result<(), StreamsError> {
        let expiry = self.observed - self.grace_ms;
        if expiry < 0 {
            return Ok(());
        }
        let upper = ((expiry as u64) + 1).to_be_bytes();
        let task = ctx.task;
        let store_error = |source| StreamsError::Store { task, source };
        let closed: Vec<(Vec<u8>, Vec<u8>)> = ctx
            .stores
            .kv(self.store)
            .range(Bound::Unbounded, Bound::Excluded(&upper))
            .map_err(store_error)?
            .collect::<Result<_, _>>()
            .map_err(store_error)?;
        for (buffer_key, stored) in closed {
            let corrupt = |what: &str| {
                ctx.store_data_error(
                    &self.store_name,
                    sluice_dsl::serde::SerdeError::deserialize::<()>(format!("suppression buffer {what}")),
                )
            };
            let key = self
                .key_serde
                .deserialize(Some(buffer_key.get(8..).ok_or_else(|| corrupt("key too short"))?))
                .map_err(|e| ctx.store_data_error(&self.store_name, e))?;
            let timestamp = i64::from_be_bytes(
                stored
                    .get(..8)
                    .ok_or_else(|| corrupt("value too short"))?
                    .try_into()
                    .expect("8 bytes"),
            );
            let value = match stored.get(8) {
                Some(1) => Some(
                    self.value_serde
                        .deserialize(Some(&stored[9..]))
                        .map_err(|e| ctx.store_data_error(&self.store_name, e))?,
                ),
                Some(0) => None,
                _ => return Err(corrupt("value has no tag")),
            };
            ctx.stores.kv(self.store).delete(&buffer_key);
            if let Some(n) = &mut self.buffered {
                *n = n.saturating_sub(1);
            }
            ctx.forward(Record::new(key, value, timestamp, Headers::new()));
        }
        Ok(())
    }
}

impl Processor for Suppress {
    fn init(&mut self, stream_time: i64) {
        self.observed = self.observed.max(stream_time);
    }

    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        self.observed = self.observed.max(record.timestamp);
        let window = (self.window_of)(&record.key);
        let Some(key_bytes) = self
            .key_serde
            .serialize(&record.key)
            .map_err(|e| ctx.store_data_error(&self.store_name, e))?
        else {
            ctx.drop_record(DropReason::NullKey);
            return Ok(());
        };
        let mut buffer_key = (window.end.max(0) as u64).to_be_bytes().to_vec();
        buffer_key.extend_from_slice(&key_bytes);
        let mut stored = record.timestamp.to_be_bytes().to_vec();
        match record
            .value
            .as_ref()
            .map(|v| self.value_serde.serialize(v))
            .transpose()
        {
            Ok(Some(Some(bytes))) => {
                stored.push(1);
                stored.extend_from_slice(&bytes);
            }
            Ok(_) => stored.push(0),
            Err(e) => return Err(ctx.store_data_error(&self.store_name, e)),
        }
        if let Some(max) = self.max_records {
            let task = ctx.task;
            let exists = ctx
                .stores
                .kv(self.store)
                .get(&buffer_key)
                .map_err(|source| StreamsError::Store { task, source })?
                .is_some();
            let n = self.count(ctx)? + u64::from(!exists);
            if n > max {
                return Err(StreamsError::SuppressionBufferFull {
                    task: ctx.task,
                    node: ctx.node.to_string(),
                    max_records: max,
                });
            }
            self.buffered = Some(n);
        }
        ctx.stores.kv(self.store).put(&buffer_key, &stored);
        self.evict(ctx)
    }

    fn abort(&mut self) {
        self.buffered = None;
        // Back to the committed stream time (the task re-inits it).
        self.observed = UNKNOWN_TIME;
    }
}
