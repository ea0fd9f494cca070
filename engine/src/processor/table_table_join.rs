//! One side of a KTable-KTable join, as Kafka Streams' `KTableKTable{Inner,Left,Right,Outer}Join`
//! processors: each change on this side is joined with the other side's current value and
//! forwarded, at the later of both sides' times, to the join's merge node. The result is not a
//! table of its own unless materialized: what is forwarded depends only on this change and the
//! other side's value, never on results forwarded before.
//!
//! | join, side       | other side absent                         | other side present        |
//! |------------------|-------------------------------------------|---------------------------|
//! | inner, any       | nothing                                   | joined value, or deletion |
//! | left, left side  | joined with `None`; deletion if old value | joined value, or deletion |
//! | left, right side | nothing (the left side is absent)         | left joined with new/None |
//! | outer, any       | joined with `None`; deletion if old value | joined value              |
//!
//! "Deletion if old value": a deletion of this side while the other is absent goes on only if
//! this side held a value (left and outer joins have their sides send old values for this).

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
        // The outer side of this join for this processor: its own absent values still join.
        let this_outer = match self.join_type {
            JoinType::Inner => false,
            JoinType::Left => self.this_is_left,
            _ => true,
        };
        let (other, timestamp) = match other {
            Some((value, ts)) => (Some(value), record.timestamp.max(ts)),
            None if !this_outer => return Ok(()),
            None if record.value.is_none() && record.old_value.is_none() => return Ok(()),
            None => (None, record.timestamp),
        };
        // A present value always joins. Otherwise: the right side of a left join joins (the
        // left value is present), an outer join joins while the other side has a value, and
        // the rest forward a deletion.
        let joins = record.value.is_some()
            || match self.join_type {
                JoinType::Inner => false,
                JoinType::Left => !self.this_is_left,
                _ => other.is_some(),
            };
        let joined = joins.then(|| {
            let (left, right) = if self.this_is_left {
                (record.value.as_ref(), other.as_ref())
            } else {
                (other.as_ref(), record.value.as_ref())
            };
            (self.joiner)(&record.key, left, right)
        });
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
