//! A table read from a topic into a versioned store (Kafka Streams' `KTableSource` over a
//! `VersionedKeyValueStore`): every update is kept as a version, and forwarded with the key's
//! latest value before it as the old value, out-of-order ones included (as Kafka Streams
//! forwards them, marked not latest); an update older than the history retention is dropped.

use super::{Processor, ProcessorContext};
use crate::error::StreamsError;
use crate::metrics::DropReason;
use crate::record::Record;
use sluice_dsl::serde::ErasedSerde;
use sluice_state::{VersionedPut, VersionedSchema};

pub(crate) struct VersionedSource {
    pub(crate) store: usize,
    pub(crate) store_name: String,
    pub(crate) schema: VersionedSchema,
    pub(crate) key_serde: ErasedSerde,
    pub(crate) value_serde: ErasedSerde,
}

impl Processor for VersionedSource {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        let data_error = |ctx: &ProcessorContext<'_>, e| ctx.store_data_error(&self.store_name, e);
        let Some(key) = self
            .key_serde
            .serialize(&record.key)
            .map_err(|e| data_error(ctx, e))?
        else {
            ctx.drop_record(DropReason::NullKey);
            return Ok(());
        };
        let value = match &record.value {
            Some(v) => self.value_serde.serialize(v).map_err(|e| data_error(ctx, e))?,
            None => None,
        };
        let task = ctx.task;
        let store_error = |source| StreamsError::Store { task, source };
        let kv = ctx.stores.kv(self.store);
        let old = self.schema.latest(kv, &key, false).map_err(store_error)?;
        match self
            .schema
            .put(kv, &key, value.as_deref(), record.timestamp)
            .map_err(store_error)?
        {
            VersionedPut::Expired => {
                ctx.drop_record(DropReason::ExpiredVersion);
                return Ok(());
            }
            VersionedPut::Latest | VersionedPut::History => {}
        }
        let old_value = old
            .map(|(_, bytes)| self.value_serde.deserialize(Some(&bytes)))
            .transpose()
            .map_err(|e| data_error(ctx, e))?;
        ctx.forward(Record { old_value, ..record });
        Ok(())
    }
}
