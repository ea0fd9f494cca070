//! `KeyValueStoreView`: typed reads of a store inside the test driver.

use super::DriverState;
use crate::error::StreamsError;
use sluice_dsl::dynamic::{downcast_box, DynBox};
use sluice_dsl::serde::ErasedSerde;
use std::any::TypeId;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;

/// Typed, read-only access to a key-value store of the driver's topology (committed and
/// pending state alike, as the processors see it).
pub struct KeyValueStoreView<K, V> {
    state: Rc<RefCell<DriverState>>,
    name: String,
    key_serde: ErasedSerde,
    value_serde: ErasedSerde,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: 'static, V: 'static> KeyValueStoreView<K, V> {
    pub(crate) fn new(state: Rc<RefCell<DriverState>>, name: &str) -> Result<Self, StreamsError> {
        let access = |reason: String| StreamsError::StoreAccess {
            store: name.to_string(),
            reason,
        };
        let (key_serde, value_serde) = {
            let s = state.borrow();
            let spec = s
                .topology
                .store(name)
                .ok_or_else(|| access("no such store".into()))?;
            (spec.key_serde.clone(), spec.value_serde.clone())
        };
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
        Ok(KeyValueStoreView {
            state,
            name: name.to_string(),
            key_serde,
            value_serde,
            _types: PhantomData,
        })
    }

    fn decode_value(&self, bytes: &[u8]) -> V {
        let boxed: DynBox = self
            .value_serde
            .deserialize_box(Some(bytes))
            .unwrap_or_else(|e| panic!("store {}: unreadable value: {e}", self.name));
        downcast_box::<V>(boxed)
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Option<V>
    where
        K: Send + Sync + Clone,
    {
        let key_bytes = self
            .key_serde
            .serialize(&sluice_dsl::dynamic::erase(key.clone()))
            .unwrap_or_else(|e| panic!("store {}: cannot serialize key: {e}", self.name))?;
        let state = self.state.borrow();
        let store = state.store_task(&self.name).and_then(|t| t.store(&self.name))?;
        let bytes = store
            .get(&key_bytes)
            .unwrap_or_else(|e| panic!("store {}: read failed: {e}", self.name))?;
        Some(self.decode_value(&bytes))
    }

    /// Every entry, in key-byte order.
    pub fn all(&self) -> Vec<(K, V)> {
        let state = self.state.borrow();
        let Some(store) = state.store_task(&self.name).and_then(|t| t.store(&self.name)) else {
            return Vec::new();
        };
        store
            .all()
            .unwrap_or_else(|e| panic!("store {}: read failed: {e}", self.name))
            .map(|r| {
                let (k, v) = r.unwrap_or_else(|e| panic!("store {}: read failed: {e}", self.name));
                let key = self
                    .key_serde
                    .deserialize_box(Some(&k))
                    .unwrap_or_else(|e| panic!("store {}: unreadable key: {e}", self.name));
                (downcast_box::<K>(key), self.decode_value(&v))
            })
            .collect()
    }

    /// An estimate of the number of entries.
    pub fn approximate_num_entries(&self) -> u64 {
        let state = self.state.borrow();
        state
            .store_task(&self.name)
            .and_then(|t| t.store(&self.name))
            .map_or(0, |s| s.approximate_num_entries())
    }
}
