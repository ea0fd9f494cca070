//! KStream-KTable and KStream-GlobalKTable joins: each stream record looks up the table's
//! current value; output at the stream record's time. Records with a null value are skipped
//! and counted, as in Kafka Streams.

use super::table::TIMESTAMP_PREFIX;
use super::table_reader::TableReader;
use super::{Processor, ProcessorContext};
use crate::error::StreamsError;
use crate::global::GLOBAL_TASK;
use crate::metrics::DropReason;
use crate::record::Record;
use sluice_dsl::dynamic::{Dyn, JoinerFn, KeyValueToKeyFn};
use sluice_dsl::serde::ErasedSerde;

pub(crate) struct StreamTableJoin {
    pub(crate) table: TableReader,
    pub(crate) joiner: JoinerFn,
    pub(crate) left: bool,
}

/// Forwards `joiner(key, value, table value)` when the join type calls for it.
fn emit(
    ctx: &mut ProcessorContext<'_>,
    joiner: &JoinerFn,
    left: bool,
    record: &Record,
    value: &Dyn,
    other: Option<Dyn>,
) {
    if other.is_none() && !left {
        return;
    }
    let joined = joiner(&record.key, Some(value), other.as_ref());
    ctx.forward(record.with_key_value(record.key.clone(), Some(joined)));
}

impl Processor for StreamTableJoin {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        let Some(value) = &record.value else {
            ctx.drop_record(DropReason::NullValue);
            return Ok(());
        };
        // A versioned table answers as of the stream record's time (KIP-914).
        let other = self
            .table
            .lookup_at(ctx, &record.key, record.timestamp)?
            .map(|(v, _)| v);
        emit(ctx, &self.joiner, self.left, &record, value, other);
        Ok(())
    }
}

pub(crate) struct GlobalTableJoin {
    pub(crate) store: String,
    pub(crate) key_mapper: KeyValueToKeyFn,
    pub(crate) key_serde: ErasedSerde,
    pub(crate) joiner: JoinerFn,
    pub(crate) left: bool,
}

impl GlobalTableJoin {
    fn lookup(
        &self,
        ctx: &ProcessorContext<'_>,
        key: &Dyn,
        value: &Dyn,
    ) -> Result<Option<Dyn>, StreamsError> {
        let global_key = (self.key_mapper)(key, value);
        let data_error = |source| StreamsError::StoreData {
            task: GLOBAL_TASK,
            store: self.store.clone(),
            source: Box::new(source),
        };
        let Some(key_bytes) = self.key_serde.serialize(&global_key).map_err(data_error)? else {
            return Ok(None);
        };
        let store = ctx
            .globals
            .get(&self.store)
            .expect("global stores are opened with the topology")
            .read()
            .expect("global store lock poisoned");
        let stored = store.kv.get(&key_bytes).map_err(|source| StreamsError::Store {
            task: GLOBAL_TASK,
            source,
        })?;
        let Some(stored) = stored else { return Ok(None) };
        let bytes = stored.get(TIMESTAMP_PREFIX..).unwrap_or_default();
        let v = store
            .spec
            .value_serde
            .deserialize(Some(bytes))
            .map_err(data_error)?;
        Ok(Some(v))
    }
}

impl Processor for GlobalTableJoin {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        let Some(value) = &record.value else {
            ctx.drop_record(DropReason::NullValue);
            return Ok(());
        };
        let other = self.lookup(ctx, &record.key, value)?;
        emit(ctx, &self.joiner, self.left, &record, value, other);
        Ok(())
    }
}
