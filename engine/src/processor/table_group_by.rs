//! `KTable::group_by`: sends each table update to its new key as a `TableChange`.

use super::{Processor, ProcessorContext};
use crate::error::StreamsError;
use crate::metrics::DropReason;
use crate::record::Record;
use sluice_dsl::dynamic::{erase, Dyn, KeyValueMapperFn};
use sluice_dsl::serde::ErasedSerde;
use sluice_dsl::topology::TableChange;

/// Kafka Streams' `KTableRepartitionMap`. Invariant: for one update, the retraction reaches the
/// old group before the addition reaches the new one, and an update that stays in its group
/// travels as one record (so the group's aggregate changes once, not twice).
pub(crate) struct TableGroupBy {
    pub(crate) mapper: KeyValueMapperFn,
    pub(crate) key_serde: ErasedSerde,
}

impl TableGroupBy {
    /// The selected key's bytes; `None` for a key that serializes to null (it is skipped).
    fn key_bytes(&self, ctx: &ProcessorContext<'_>, key: &Dyn) -> Result<Option<Vec<u8>>, StreamsError> {
        self.key_serde
            .serialize(key)
            .map_err(|e| StreamsError::Processing {
                task: ctx.task,
                node: ctx.node.to_string(),
                position: ctx.position(),
                message: format!("cannot serialize the selected key: {e}"),
            })
    }

    fn send(ctx: &mut ProcessorContext<'_>, record: &Record, key: Dyn, new: Option<Dyn>, old: Option<Dyn>) {
        let change = TableChange { new, old };
        ctx.forward(record.with_key_value(key, Some(erase(change))));
    }
}

impl Processor for TableGroupBy {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        let new = record.value.as_ref().map(|v| (self.mapper)(&record.key, v));
        let old = record.old_value.as_ref().map(|v| (self.mapper)(&record.key, v));
        let new_key = match &new {
            Some((k, _)) => self.key_bytes(ctx, k)?,
            None => None,
        };
        let old_key = match &old {
            Some((k, _)) => self.key_bytes(ctx, k)?,
            None => None,
        };
        if new.is_some() && new_key.is_none() || old.is_some() && old_key.is_none() {
            ctx.drop_record(DropReason::NullKey);
        }
        match (
            new.filter(|_| new_key.is_some()),
            old.filter(|_| old_key.is_some()),
        ) {
            (Some((k, v)), Some((_, o))) if new_key == old_key => {
                Self::send(ctx, &record, k, Some(v), Some(o))
            }
            (new, old) => {
                if let Some((k, o)) = old {
                    Self::send(ctx, &record, k, None, Some(o));
                }
                if let Some((k, v)) = new {
                    Self::send(ctx, &record, k, Some(v), None);
                }
            }
        }
        Ok(())
    }
}
