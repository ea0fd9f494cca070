//! Stateless operators. Null values pass value-only operators untouched (the closure is not
//! called); operators that need the value to compute a key drop them and count the drop.

use super::{Processor, ProcessorContext};
use crate::error::StreamsError;
use crate::metrics::DropReason;
use crate::record::Record;
use sluice_dsl::dynamic::*;

pub(crate) struct Filter {
    pub(crate) predicate: PredicateFn,
    pub(crate) negate: bool,
}

impl Processor for Filter {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        let keep = match &record.value {
            None => true,
            Some(v) => (self.predicate)(&record.key, v) != self.negate,
        };
        if keep {
            ctx.forward(record);
        }
        Ok(())
    }
}

pub(crate) struct Map(pub(crate) KeyValueMapperFn);

impl Processor for Map {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        match &record.value {
            None => ctx.drop_record(DropReason::NullValue),
            Some(v) => {
                let (k, v) = (self.0)(&record.key, v);
                ctx.forward(record.with_key_value(k, Some(v)));
            }
        }
        Ok(())
    }
}

pub(crate) struct MapValues(pub(crate) ValueMapperIntoFn);

impl Processor for MapValues {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, mut record: Record) -> Result<(), StreamsError> {
        // The value is given up to the mapper, which reuses its allocation for a result of the
        // same type: no allocation per record here.
        record.value = record.value.take().map(|v| (self.0)(&record.key, v));
        record.old_value = None;
        ctx.forward(record);
        Ok(())
    }
}

pub(crate) struct SelectKey(pub(crate) KeySelectorFn);

impl Processor for SelectKey {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        match &record.value {
            None => ctx.drop_record(DropReason::NullValue),
            Some(v) => {
                let k = (self.0)(&record.key, v);
                ctx.forward(record.with_key_value(k, record.value.clone()));
            }
        }
        Ok(())
    }
}

pub(crate) struct FlatMap(pub(crate) FlatMapperFn);

impl Processor for FlatMap {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        match &record.value {
            None => ctx.drop_record(DropReason::NullValue),
            Some(v) => {
                for (k, v) in (self.0)(&record.key, v) {
                    ctx.forward(record.with_key_value(k, Some(v)));
                }
            }
        }
        Ok(())
    }
}

pub(crate) struct FlatMapValues(pub(crate) FlatValueMapperFn);

impl Processor for FlatMapValues {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        match &record.value {
            None => ctx.forward(record),
            Some(v) => {
                for v in (self.0)(&record.key, v) {
                    ctx.forward(record.with_key_value(record.key.clone(), Some(v)));
                }
            }
        }
        Ok(())
    }
}

pub(crate) struct Peek(pub(crate) ForeachFn);

impl Processor for Peek {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        if let Some(v) = &record.value {
            (self.0)(&record.key, v);
        }
        ctx.forward(record);
        Ok(())
    }
}

pub(crate) struct Foreach(pub(crate) ForeachFn);

impl Processor for Foreach {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        match &record.value {
            Some(v) => (self.0)(&record.key, v),
            // The action never sees a null value (it takes `&V`): the record ends here, counted.
            None => ctx.drop_record(DropReason::NullValue),
        }
        Ok(())
    }
}

/// `split()`: the first matching predicate's child; a null value goes to the default branch
/// (the only one that needs no predicate), else is dropped and counted.
pub(crate) struct Branch(pub(crate) Vec<Option<PredicateFn>>);

impl Processor for Branch {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        let target = self.0.iter().position(|p| match (p, &record.value) {
            (None, _) => true,
            (Some(p), Some(v)) => p(&record.key, v),
            (Some(_), None) => false,
        });
        match target {
            Some(i) => ctx.forward_to(i, record),
            None if record.value.is_none() => ctx.drop_record(DropReason::NoBranch),
            // Records matching no branch and no default branch are dropped by definition.
            None => {}
        }
        Ok(())
    }
}

/// Drops (and counts) records whose key is null, before a repartition topic: such a key has
/// no partition.
pub(crate) struct DropNullKeys {
    pub(crate) key_serde: sluice_dsl::serde::ErasedSerde,
}

impl Processor for DropNullKeys {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        if ctx.is_null_key(&self.key_serde, &record.key)? {
            ctx.drop_record(DropReason::NullKey);
        } else {
            ctx.forward(record);
        }
        Ok(())
    }
}
