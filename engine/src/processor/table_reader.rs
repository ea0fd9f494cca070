//! Reading a table's current value for a key: its store, then the table operators applied
//! since (Kafka Streams' value getters).

use super::table::TIMESTAMP_PREFIX;
use super::ProcessorContext;
use crate::error::StreamsError;
use sluice_dsl::dynamic::Dyn;
use sluice_dsl::serde::{ErasedSerde, SerdeError};
use sluice_dsl::topology::{StoreKind, StoreSpec, TableView, ViewStep};

pub(crate) struct TableReader {
    store: usize,
    store_name: String,
    key_serde: ErasedSerde,
    value_serde: ErasedSerde,
    timestamped: bool,
    /// The store is versioned: reads can be as of a time.
    versioned: Option<sluice_state::VersionedSchema>,
    steps: Vec<ViewStep>,
}

impl TableReader {
    pub(crate) fn new(view: &TableView, spec: &StoreSpec, store: usize) -> Self {
        TableReader {
            store,
            store_name: spec.name.clone(),
            key_serde: spec.key_serde.clone(),
            value_serde: spec.value_serde.clone(),
            timestamped: spec.timestamped,
            versioned: match spec.kind {
                StoreKind::Versioned { history_retention_ms } => {
                    Some(sluice_state::VersionedSchema::new(history_retention_ms))
                }
                _ => None,
            },
            steps: view.steps.clone(),
        }
    }

    /// The table's value for `key` as of `as_of` if its store is versioned (Kafka Streams'
    /// `get(key, asOfTimestamp)`), else its current value.
    pub(crate) fn lookup_at(
        &self,
        ctx: &mut ProcessorContext<'_>,
        key: &Dyn,
        as_of: i64,
    ) -> Result<Option<(Dyn, i64)>, StreamsError> {
        let Some(schema) = self.versioned else {
            return self.lookup(ctx, key);
        };
        self.read_with(ctx, key, |kv, k, decode| {
            Ok(schema
                .get_as_of(kv, k, as_of, false)?
                .map(|(ts, v)| (ts, decode(&v))))
        })
    }

    /// Reads `key` with `read`, which finds its time and decodes its stored value with the
    /// function it is given, then applies the steps.
    fn read_with(
        &self,
        ctx: &mut ProcessorContext<'_>,
        key: &Dyn,
        read: impl FnOnce(
            &mut sluice_state::KeyValueStore,
            &[u8],
            &dyn Fn(&[u8]) -> Result<Dyn, SerdeError>,
        ) -> Result<Option<(i64, Result<Dyn, SerdeError>)>, sluice_state::StoreError>,
    ) -> Result<Option<(Dyn, i64)>, StreamsError> {
        let Some(key_bytes) = self
            .key_serde
            .serialize(key)
            .map_err(|e| ctx.store_data_error(&self.store_name, e))?
        else {
            return Ok(None);
        };
        let task = ctx.task;
        let decode = |bytes: &[u8]| self.value_serde.deserialize(Some(bytes));
        let Some((timestamp, value)) = read(ctx.stores.kv(self.store), &key_bytes, &decode)
            .map_err(|source| StreamsError::Store { task, source })?
        else {
            return Ok(None);
        };
        let value = value.map_err(|e| ctx.store_data_error(&self.store_name, e))?;
        Ok(apply_steps(&self.steps, key, value).map(|v| (v, timestamp)))
    }

    /// The table's value for `key` and the time of its last update, if it has one.
    pub(crate) fn lookup(
        &self,
        ctx: &mut ProcessorContext<'_>,
        key: &Dyn,
    ) -> Result<Option<(Dyn, i64)>, StreamsError> {
        if let Some(schema) = self.versioned {
            return self.read_with(ctx, key, |kv, k, decode| {
                Ok(schema.latest(kv, k, false)?.map(|(ts, v)| (ts, decode(&v))))
            });
        }
        let (timestamped, stream_time) = (self.timestamped, ctx.stream_time);
        self.read_with(ctx, key, |kv, k, decode| {
            // The stored bytes are lent (from the store's pending writes or read cache) and
            // decoded in place.
            kv.read(k, |stored| {
                stored.map(|stored| match stored.split_at_checked(TIMESTAMP_PREFIX) {
                    Some((ts, value)) if timestamped => {
                        (i64::from_be_bytes(ts.try_into().expect("8 bytes")), decode(value))
                    }
                    _ => (stream_time, decode(stored)),
                })
            })
        })
    }
}

/// Replays `KTable::filter` / `map_values` on a stored value.
pub(crate) fn apply_steps(steps: &[ViewStep], key: &Dyn, mut value: Dyn) -> Option<Dyn> {
    for step in steps {
        match step {
            ViewStep::Filter { predicate, negate } => {
                if predicate(key, &value) == *negate {
                    return None;
                }
            }
            ViewStep::MapValues(f) => value = f(key, &value),
        }
    }
    Some(value)
}
