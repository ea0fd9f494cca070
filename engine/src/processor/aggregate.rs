//! `aggregate`, `count` and `reduce` on grouped streams.

use super::table::EmitterHandle;
use super::{Processor, ProcessorContext};
use crate::error::StreamsError;
use crate::metrics::DropReason;
use crate::record::Record;
use sluice_dsl::topology::Aggregation;

/// A per-key aggregate in a key-value store. Records with a null key or value are skipped
/// and counted, as in Kafka Streams.
pub(crate) struct Aggregate {
    emitter: EmitterHandle,
    aggregation: Aggregation,
}

impl Aggregate {
    pub(crate) fn new(emitter: EmitterHandle, aggregation: Aggregation) -> Self {
        Aggregate { emitter, aggregation }
    }
}

impl Processor for Aggregate {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        let Some(value) = &record.value else {
            ctx.drop_record(DropReason::NullValue);
            return Ok(());
        };
        let mut emitter = self.emitter.get();
        let Some(key_bytes) = emitter.key_bytes(ctx, &record.key)? else {
            ctx.drop_record(DropReason::NullKey);
            return Ok(());
        };
        let old = emitter.read(ctx, &key_bytes)?;
        let aggregate = old
            .as_deref()
            .map(|b| emitter.deserialize_box(ctx, b))
            .transpose()?;
        let new = self.aggregation.fold(&record.key, value, aggregate);
        let new_bytes = emitter.value_bytes(ctx, &new)?;
        // As Kafka Streams: an aggregate's time is the latest time of the records in it.
        let timestamp = old
            .as_deref()
            .and_then(|o| emitter.stored_timestamp(o))
            .map_or(record.timestamp, |t| t.max(record.timestamp));
        emitter.write(
            ctx,
            &key_bytes,
            &record.key,
            old,
            Some((new_bytes, new)),
            timestamp,
            &record.headers,
        )
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_>) -> Result<(), StreamsError> {
        self.emitter.get().flush(ctx)
    }

    fn has_cache(&self) -> bool {
        self.emitter.has_cache()
    }

    fn abort(&mut self) {
        self.emitter.get().abort();
    }
}
