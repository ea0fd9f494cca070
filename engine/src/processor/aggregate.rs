//! `aggregate`, `count` and `reduce` on grouped streams.

use super::table::TableEmitter;
use super::{Processor, ProcessorContext};
use crate::error::StreamsError;
use crate::metrics::DropReason;
use crate::record::Record;
use sluice_dsl::dynamic::{AggregatorFn, InitializerFn, ReducerFn};

/// How a new value folds into the aggregate.
pub(crate) enum Fold {
    /// `aggregate` (and `count`): `aggregator(key, value, aggregate or initializer())`.
    Aggregate {
        initializer: InitializerFn,
        aggregator: AggregatorFn,
    },
    /// `reduce`: the first value is the aggregate, later ones fold in with `reducer`.
    Reduce(ReducerFn),
}

/// A per-key aggregate in a key-value store. Records with a null key or value are skipped
/// and counted, as in Kafka Streams.
pub(crate) struct Aggregate {
    emitter: TableEmitter,
    fold: Fold,
}

impl Aggregate {
    pub(crate) fn new(emitter: TableEmitter, fold: Fold) -> Self {
        Aggregate { emitter, fold }
    }
}

impl Processor for Aggregate {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        let Some(value) = &record.value else {
            ctx.drop_record(DropReason::NullValue);
            return Ok(());
        };
        let Some(key_bytes) = self.emitter.key_bytes(ctx, &record.key)? else {
            ctx.drop_record(DropReason::NullKey);
            return Ok(());
        };
        let old = self.emitter.read(ctx, &key_bytes)?;
        let new = match (&self.fold, &old) {
            (
                Fold::Aggregate {
                    initializer,
                    aggregator,
                },
                old,
            ) => {
                let agg = match old {
                    Some(bytes) => self.emitter.deserialize_box(ctx, bytes)?,
                    None => initializer(),
                };
                aggregator(&record.key, value, agg)
            }
            (Fold::Reduce(reducer), Some(bytes)) => reducer(self.emitter.deserialize_box(ctx, bytes)?, value),
            (Fold::Reduce(_), None) => value.clone(),
        };
        let new_bytes = self.emitter.value_bytes(ctx, &new)?;
        self.emitter.write(
            ctx,
            &key_bytes,
            &record.key,
            old,
            Some((new_bytes, new)),
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
