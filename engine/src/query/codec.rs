//! A store's typed encoding: its serdes checked against the caller's `K` and `V`, keys to
//! bytes, stored bytes back to keys and values. Shared by the test driver's store views and
//! interactive queries.

use crate::error::StreamsError;
use sluice_dsl::dynamic::{downcast_box, erase, Data};
use sluice_dsl::serde::{ErasedSerde, SerdeError};
use sluice_dsl::topology::StoreKind;
use sluice_dsl::Topology;
use std::any::TypeId;
use std::marker::PhantomData;

pub(crate) struct StoreCodec<K, V> {
    pub(crate) name: String,
    pub(crate) kind: StoreKind,
    /// Stored values start with an 8-byte timestamp.
    timestamped: bool,
    key_serde: ErasedSerde,
    value_serde: ErasedSerde,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for StoreCodec<K, V> {
    fn clone(&self) -> Self {
        StoreCodec {
            name: self.name.clone(),
            kind: self.kind,
            timestamped: self.timestamped,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            _types: PhantomData,
        }
    }
}

impl<K: Data + Clone, V: 'static> StoreCodec<K, V> {
    /// The codec of `topology`'s store `name`; fails if there is none, or its serdes are not
    /// of `K` and `V`.
    pub(crate) fn new(topology: &Topology, name: &str) -> Result<Self, StreamsError> {
        let access = |reason: String| StreamsError::StoreAccess {
            store: name.to_string(),
            reason,
        };
        let spec = topology
            .store(name)
            .ok_or_else(|| access("no such store".into()))?;
        let (key_serde, value_serde) = (spec.key_serde.clone(), spec.value_serde.clone());
        if key_serde.value_type_id() != TypeId::of::<K>() || value_serde.value_type_id() != TypeId::of::<V>()
        {
            return Err(access(format!(
                "holds {} -> {}, not {} -> {}",
                key_serde.type_name(),
                value_serde.type_name(),
                std::any::type_name::<K>(),
                std::any::type_name::<V>()
            )));
        }
        Ok(StoreCodec {
            name: name.to_string(),
            kind: spec.kind,
            timestamped: spec.timestamped,
            key_serde,
            value_serde,
            _types: PhantomData,
        })
    }

    /// The stored bytes of `key` (`None`: the serde writes it as null; no store holds it).
    pub(crate) fn key_bytes(&self, key: &K) -> Result<Option<Vec<u8>>, SerdeError> {
        self.key_serde.serialize(&erase(key.clone()))
    }

    pub(crate) fn decode_key(&self, bytes: &[u8]) -> Result<K, SerdeError> {
        self.key_serde.deserialize_box(Some(bytes)).map(downcast_box::<K>)
    }

    pub(crate) fn decode_value(&self, stored: &[u8]) -> Result<V, SerdeError> {
        self.value_serde
            .deserialize_box(Some(value_bytes(self.timestamped, stored)))
            .map(downcast_box::<V>)
    }
}

/// The serialized value in a store's stored bytes: after the 8-byte timestamp of a
/// timestamped store.
pub(crate) fn value_bytes(timestamped: bool, stored: &[u8]) -> &[u8] {
    if timestamped {
        stored.get(8..).unwrap_or_default()
    } else {
        stored
    }
}
