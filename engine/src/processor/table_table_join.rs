//! One side of a KTable-KTable join. Each change on this side is joined with the other side's
//! current value and forwarded, at the later of both sides' times, to the result table, which
//! turns it into a change with the previous result (so deletes only propagate for results that
//! existed, as in Kafka Streams' join semantics tables).

use super::table_reader::TableReader;
use super::{Processor, ProcessorContext};
use crate::error::StreamsError;
use crate::record::Record;
use sluice_dsl::dynamic::JoinerFn;
use sluice_dsl::topology::JoinType;

pub(crate) struct TableTableJoin {
    pub(crate) other: TableReader,
    pub(crate) this_is_left: bool,
    pub(crate) join_type: JoinType,
    pub(crate) joiner: JoinerFn,
}

impl Processor for TableTableJoin {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        let other = self.other.lookup(ctx, &record.key)?;
        let timestamp = other
            .as_ref()
            .map_or(record.timestamp, |(_, t)| record.timestamp.max(*t));
        let other = other.map(|(v, _)| v);
        let (left, right) = if self.this_is_left {
            (record.value.as_ref(), other.as_ref())
        } else {
            (other.as_ref(), record.value.as_ref())
        };
        let present = match self.join_type {
            JoinType::Inner => left.is_some() && right.is_some(),
            JoinType::Left => left.is_some(),
            _ => left.is_some() || right.is_some(),
        };
        let joined = present.then(|| (self.joiner)(&record.key, left, right));
        ctx.forward(Record {
            key: record.key,
            value: joined,
            old_value: None,
            timestamp,
            headers: record.headers,
        });
        Ok(())
    }
}
