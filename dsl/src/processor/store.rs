//! State stores for the Processor API: builders added to the topology, and the typed handle a
//! processor reads and writes through.

use super::context::ContextOps;
use super::ProcessorError;
use crate::dynamic::{downcast_owned, erase, Data};
use crate::materialized::StoreType;
use crate::serde::Serde;
use crate::topology::{StoreKind, StoreSpec};
use std::marker::PhantomData;

/// A key-value store a processor reads and writes (Kafka Streams' `KeyValueStore`), borrowed
/// from its context. Writes are part of the task's transaction: logged to the store's changelog
/// at commit, dropped if the transaction aborts.
pub struct KeyValueStore<'c, K, V> {
    ops: &'c mut dyn ContextOps,
    name: String,
    _types: PhantomData<fn(K, V)>,
}

impl<'c, K: Data + Clone, V: Data + Clone> KeyValueStore<'c, K, V> {
    pub(crate) fn new(ops: &'c mut dyn ContextOps, name: &str) -> Self {
        KeyValueStore {
            ops,
            name: name.to_string(),
            _types: PhantomData,
        }
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value of `key`, if any.
    pub fn get(&mut self, key: &K) -> Result<Option<V>, ProcessorError> {
        let found = self.ops.kv_get(&self.name, &erase(key.clone()))?;
        Ok(found.map(downcast_owned::<V>))
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: K, value: V) -> Result<(), ProcessorError> {
        self.ops.kv_put(&self.name, &erase(key), Some(&erase(value)))
    }

    /// Sets `key` to `value` unless it has one; returns the value it had.
    pub fn put_if_absent(&mut self, key: K, value: V) -> Result<Option<V>, ProcessorError> {
        let old = self.get(&key)?;
        if old.is_none() {
            self.put(key, value)?;
        }
        Ok(old)
    }

    /// Removes `key`; returns the value it had.
    pub fn delete(&mut self, key: &K) -> Result<Option<V>, ProcessorError> {
        let old = self.get(key)?;
        if old.is_some() {
            self.ops.kv_put(&self.name, &erase(key.clone()), None)?;
        }
        Ok(old)
    }

    /// The entries with keys from `from` to `to`, both inclusive, in the byte order of the
    /// serialized keys (as Kafka Streams orders them).
    pub fn range(&mut self, from: &K, to: &K) -> Result<Vec<(K, V)>, ProcessorError> {
        let (from, to) = (erase(from.clone()), erase(to.clone()));
        let entries = self.ops.kv_range(&self.name, Some(&from), Some(&to))?;
        Ok(typed(entries))
    }

    /// Every entry, in the byte order of the serialized keys. The entries are read into memory:
    /// for a large store, walk it in [`range`](Self::range)s.
    pub fn all(&mut self) -> Result<Vec<(K, V)>, ProcessorError> {
        let entries = self.ops.kv_range(&self.name, None, None)?;
        Ok(typed(entries))
    }

    /// An estimate of the number of entries.
    pub fn approximate_num_entries(&mut self) -> Result<u64, ProcessorError> {
        self.ops.kv_approximate_num_entries(&self.name)
    }
}

fn typed<K: Data + Clone, V: Data + Clone>(
    entries: Vec<(crate::dynamic::Dyn, crate::dynamic::Dyn)>,
) -> Vec<(K, V)> {
    entries
        .into_iter()
        .map(|(k, v)| (downcast_owned::<K>(k), downcast_owned::<V>(v)))
        .collect()
}

/// A state store to add to a topology with
/// [`StreamsBuilder::add_state_store`](crate::StreamsBuilder::add_state_store) (Kafka Streams'
/// `StoreBuilder`), made by [`Stores`].
#[derive(Debug, Clone)]
pub struct StoreBuilder {
    pub(crate) spec: StoreSpec,
}

impl StoreBuilder {
    /// The store's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// No changelog topic: the store starts empty after a move or a lost disk.
    pub fn with_logging_disabled(mut self) -> Self {
        self.spec.logging = false;
        self
    }

    /// Changelog on (the default).
    pub fn with_logging_enabled(mut self) -> Self {
        self.spec.logging = true;
        self
    }

    /// Accepted for Kafka Streams' API: Sluice always writes a store's changelog once per key
    /// and commit, which is what Kafka Streams' caching buys for a processor's own store (its
    /// forwarding is the processor's).
    pub fn with_caching_enabled(self) -> Self {
        self
    }

    /// See [`with_caching_enabled`](Self::with_caching_enabled).
    pub fn with_caching_disabled(self) -> Self {
        self
    }
}

/// Factories of store builders (Kafka Streams' `Stores`).
///
/// ```
/// use sluice_dsl::prelude::*;
/// use sluice_dsl::processor::Stores;
///
/// let counts = Stores::key_value_store_builder(
///     Stores::persistent_key_value_store("counts"),
///     Serde::string(),
///     Serde::<i64>::i64(),
/// );
/// assert_eq!(counts.name(), "counts");
/// ```
pub struct Stores;

/// Which implementation a key-value store uses (Kafka Streams' `KeyValueBytesStoreSupplier`).
#[derive(Debug, Clone)]
pub struct KeyValueStoreSupplier {
    name: String,
    store_type: StoreType,
}

impl Stores {
    /// A RocksDB store (kept on disk, snapshotted).
    pub fn persistent_key_value_store(name: &str) -> KeyValueStoreSupplier {
        KeyValueStoreSupplier {
            name: name.to_string(),
            store_type: StoreType::RocksDb,
        }
    }

    /// An in-memory store (restored from its changelog after a restart).
    pub fn in_memory_key_value_store(name: &str) -> KeyValueStoreSupplier {
        KeyValueStoreSupplier {
            name: name.to_string(),
            store_type: StoreType::InMemory,
        }
    }

    /// A key-value store of `K` and `V` with a changelog.
    pub fn key_value_store_builder<K: Data, V: Data>(
        supplier: KeyValueStoreSupplier,
        key_serde: Serde<K>,
        value_serde: Serde<V>,
    ) -> StoreBuilder {
        StoreBuilder {
            spec: StoreSpec {
                name: supplier.name,
                kind: StoreKind::KeyValue,
                key_serde: key_serde.into(),
                value_serde: value_serde.into(),
                caching: false,
                logging: true,
                store_type: Some(supplier.store_type),
                timestamped: false,
            },
        }
    }
}
