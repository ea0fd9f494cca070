//! `KGroupedTable` `count`, `reduce` and `aggregate`: folds table changes into per-key
//! aggregates, retracting old values with the subtractor and adding new ones with the adder.

use super::table::TableEmitter;
use super::{Processor, ProcessorContext};
use crate::error::StreamsError;
use crate::metrics::DropReason;
use crate::record::Record;
use sluice_dsl::dynamic::{downcast_box, downcast_ref, Dyn, DynBox};
use sluice_dsl::topology::{TableAggregation, TableChange};
use std::sync::Arc;

/// An aggregate while a change is applied: owned once a closure made it, shared when it is the
/// change's own value (a reduce's first value).
enum Agg {
    Owned(DynBox),
    Shared(Dyn),
}

impl Agg {
    fn into_shared(self) -> Dyn {
        match self {
            Agg::Owned(b) => Arc::from(b),
            Agg::Shared(d) => d,
        }
    }
}

/// Kafka Streams' `KTableAggregate` and `KTableReduce`: retract, then add, then store and
/// forward (the aggregate's time is the latest of the change's and the stored aggregate's).
pub(crate) struct TableAggregate {
    emitter: TableEmitter,
    aggregation: TableAggregation,
}

impl TableAggregate {
    pub(crate) fn new(emitter: TableEmitter, aggregation: TableAggregation) -> Self {
        TableAggregate { emitter, aggregation }
    }

    fn subtract(&self, key: &Dyn, old: &Dyn, agg: DynBox) -> DynBox {
        match &self.aggregation {
            TableAggregation::Count => Box::new(downcast_box::<i64>(agg) - 1),
            TableAggregation::Reduce { subtractor, .. } => subtractor(agg, old),
            TableAggregation::Aggregate { subtractor, .. } => subtractor(key, old, agg),
        }
    }

    fn add(&self, key: &Dyn, new: &Dyn, agg: Option<DynBox>) -> Agg {
        match (&self.aggregation, agg) {
            (TableAggregation::Count, agg) => Agg::Owned(Box::new(agg.map_or(0, downcast_box::<i64>) + 1)),
            (TableAggregation::Reduce { .. }, None) => Agg::Shared(new.clone()),
            (TableAggregation::Reduce { adder, .. }, Some(agg)) => Agg::Owned(adder(agg, new)),
            (
                TableAggregation::Aggregate {
                    initializer, adder, ..
                },
                agg,
            ) => Agg::Owned(adder(key, new, agg.unwrap_or_else(|| initializer()))),
        }
    }
}

impl Processor for TableAggregate {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        let Some(value) = &record.value else {
            ctx.drop_record(DropReason::NullValue);
            return Ok(());
        };
        let change = downcast_ref::<TableChange>(value).clone();
        let Some(key_bytes) = self.emitter.key_bytes(ctx, &record.key)? else {
            ctx.drop_record(DropReason::NullKey);
            return Ok(());
        };
        let stored = self.emitter.read(ctx, &key_bytes)?;
        let stored_time = stored.as_deref().and_then(|s| self.emitter.stored_timestamp(s));
        let old_agg = stored
            .as_deref()
            .map(|b| self.emitter.deserialize_box(ctx, b))
            .transpose()?;
        let mut timestamp = record.timestamp;
        let intermediate = match (&change.old, old_agg) {
            (Some(old), Some(agg)) => {
                timestamp = stored_time.map_or(timestamp, |t| t.max(record.timestamp));
                Some(self.subtract(&record.key, old, agg))
            }
            (_, agg) => agg,
        };
        let new_agg = match &change.new {
            Some(new) => {
                // As Kafka Streams: adding to a stored aggregate keeps the later time; a
                // reduce's first value (nothing to add to) keeps the change's.
                let adds_to_stored = match self.aggregation {
                    TableAggregation::Reduce { .. } => intermediate.is_some(),
                    _ => true,
                };
                if let (Some(t), true) = (stored_time, adds_to_stored) {
                    timestamp = t.max(record.timestamp);
                }
                Some(self.add(&record.key, new, intermediate).into_shared())
            }
            None => intermediate.map(|b| Agg::Owned(b).into_shared()),
        };
        let new = match new_agg {
            Some(agg) => Some((self.emitter.value_bytes(ctx, &agg)?, agg)),
            None => None,
        };
        self.emitter.write(
            ctx,
            &key_bytes,
            &record.key,
            stored,
            new,
            timestamp,
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
