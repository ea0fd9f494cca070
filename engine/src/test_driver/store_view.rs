//! Typed, read-only views of the driver's stores: key-value, window and session.

use super::DriverState;
use crate::error::StreamsError;
use crate::query::StoreCodec;
use sluice_dsl::dynamic::Data;
use sluice_dsl::topology::StoreKind;
use sluice_dsl::windows::{Window, Windowed};
use sluice_state::{KeyValueStore, SessionSchema, VersionedSchema, WindowSchema};
use std::cell::RefCell;
use std::rc::Rc;

/// What the views share: the store's codec (serdes checked against `K`, `V`) and access.
struct TypedStore<K, V> {
    state: Rc<RefCell<DriverState>>,
    codec: StoreCodec<K, V>,
}

impl<K: Data + Clone, V: 'static> TypedStore<K, V> {
    fn open(state: Rc<RefCell<DriverState>>, name: &str) -> Result<Self, StreamsError> {
        let codec = StoreCodec::new(&state.borrow().instance.topology, name)?;
        Ok(TypedStore { state, codec })
    }

    fn fail(&self, what: impl std::fmt::Display) -> ! {
        panic!("store {}: {what}", self.codec.name)
    }

    fn key_bytes(&self, key: &K) -> Option<Vec<u8>> {
        self.codec
            .key_bytes(key)
            .unwrap_or_else(|e| self.fail(format_args!("cannot serialize key: {e}")))
    }

    fn decode_key(&self, bytes: &[u8]) -> K {
        self.codec
            .decode_key(bytes)
            .unwrap_or_else(|e| self.fail(format_args!("unreadable key: {e}")))
    }

    fn decode_value(&self, stored: &[u8]) -> V {
        self.codec
            .decode_value(stored)
            .unwrap_or_else(|e| self.fail(format_args!("unreadable value: {e}")))
    }

    /// Runs `f` on the store and the stream time of the task owning it.
    fn with<R>(&self, f: impl FnOnce(&KeyValueStore, i64) -> R) -> Option<R> {
        let state = self.state.borrow();
        let task = state.store_task(&self.codec.name)?;
        Some(f(task.store(&self.codec.name)?, task.stream_time()))
    }
}

/// Typed, read-only access to a key-value store of the driver's topology (committed and
/// pending state alike, as the processors see it).
pub struct KeyValueStoreView<K, V>(TypedStore<K, V>);

impl<K: Data + Clone, V: 'static> KeyValueStoreView<K, V> {
    pub(crate) fn new(state: Rc<RefCell<DriverState>>, name: &str) -> Result<Self, StreamsError> {
        let store = TypedStore::open(state, name)?;
        if matches!(store.codec.kind, StoreKind::Versioned { .. }) {
            return Err(StreamsError::StoreAccess {
                store: name.to_string(),
                reason: "a versioned store: read it with versioned_store".into(),
            });
        }
        Ok(KeyValueStoreView(store))
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        let s = &self.0;
        let key_bytes = s.key_bytes(key)?;
        let bytes = s.with(|kv, _| kv.get(&key_bytes).unwrap_or_else(|e| s.fail(e)))??;
        Some(s.decode_value(&bytes))
    }

    /// Every entry, in key-byte order.
    pub fn all(&self) -> Vec<(K, V)> {
        let s = &self.0;
        s.with(|kv, _| {
            kv.all()
                .unwrap_or_else(|e| s.fail(e))
                .map(|r| {
                    let (k, v) = r.unwrap_or_else(|e| s.fail(e));
                    (s.decode_key(&k), s.decode_value(&v))
                })
                .collect()
        })
        .unwrap_or_default()
    }

    /// An estimate of the number of entries.
    pub fn approximate_num_entries(&self) -> u64 {
        self.0.with(|kv, _| kv.approximate_num_entries()).unwrap_or(0)
    }
}

/// Typed, read-only access to a versioned key-value store (Kafka Streams'
/// `getVersionedKeyValueStore`): the latest value, or the value as of a time.
pub struct VersionedStoreView<K, V> {
    store: TypedStore<K, V>,
    schema: VersionedSchema,
}

impl<K: Data + Clone, V: 'static> VersionedStoreView<K, V> {
    pub(crate) fn new(state: Rc<RefCell<DriverState>>, name: &str) -> Result<Self, StreamsError> {
        let store = TypedStore::open(state, name)?;
        let StoreKind::Versioned { history_retention_ms } = store.codec.kind else {
            return Err(StreamsError::StoreAccess {
                store: name.to_string(),
                reason: "not a versioned store".into(),
            });
        };
        Ok(VersionedStoreView {
            store,
            schema: VersionedSchema::new(history_retention_ms),
        })
    }

    /// The latest value of `key` and the time it became valid.
    pub fn get(&self, key: &K) -> Option<(V, i64)> {
        self.read(key, |kv, k| self.schema.latest(kv, k, false))
    }

    /// The value `key` had at `as_of` and the time it became valid (`None` if it had none, or
    /// `as_of` is beyond the history retention and the latest value is newer).
    pub fn get_as_of(&self, key: &K, as_of: i64) -> Option<(V, i64)> {
        self.read(key, |kv, k| self.schema.get_as_of(kv, k, as_of, false))
    }

    fn read(
        &self,
        key: &K,
        f: impl FnOnce(&KeyValueStore, &[u8]) -> Result<Option<(i64, Vec<u8>)>, sluice_state::StoreError>,
    ) -> Option<(V, i64)> {
        let s = &self.store;
        let key_bytes = s.key_bytes(key)?;
        let (ts, bytes) = s.with(|kv, _| f(kv, &key_bytes).unwrap_or_else(|e| s.fail(e)))??;
        Some((s.decode_value(&bytes), ts))
    }
}

/// Typed, read-only access to the window store of a windowed aggregation.
pub struct WindowStoreView<K, V> {
    store: TypedStore<K, V>,
    schema: WindowSchema,
    size_ms: i64,
}

impl<K: Data + Clone, V: 'static> WindowStoreView<K, V> {
    pub(crate) fn new(state: Rc<RefCell<DriverState>>, name: &str) -> Result<Self, StreamsError> {
        let store = TypedStore::open(state, name)?;
        let StoreKind::Window {
            retention_ms,
            size_ms,
            ..
        } = store.codec.kind
        else {
            return Err(StreamsError::StoreAccess {
                store: name.into(),
                reason: "not a window store".into(),
            });
        };
        Ok(WindowStoreView {
            store,
            schema: WindowSchema::new(retention_ms, size_ms),
            size_ms,
        })
    }

    fn value(&self, stored: &[u8]) -> V {
        self.store.decode_value(stored)
    }

    /// `key`'s windows with `from <= start <= to` that have not expired, by start.
    pub fn fetch(&self, key: &K, from: i64, to: i64) -> Vec<(Window, V)> {
        let s = &self.store;
        let Some(key_bytes) = s.key_bytes(key) else {
            return Vec::new();
        };
        s.with(|kv, now| {
            self.schema
                .fetch(kv, &key_bytes, from, to, now)
                .unwrap_or_else(|e| s.fail(e))
                .into_iter()
                .map(|(start, v)| (Window::new(start, start + self.size_ms), self.value(&v)))
                .collect()
        })
        .unwrap_or_default()
    }

    /// Every window that has not expired, by start then key.
    pub fn all(&self) -> Vec<(Windowed<K>, V)> {
        let s = &self.store;
        let mut entries = s
            .with(|kv, now| {
                self.schema
                    .fetch_all(kv, 0, i64::MAX / 2, now)
                    .unwrap_or_else(|e| s.fail(e))
            })
            .unwrap_or_default();
        entries.sort_by(|a, b| (a.start, &a.key).cmp(&(b.start, &b.key)));
        entries
            .into_iter()
            .map(|e| {
                let window = Window::new(e.start, e.start + self.size_ms);
                (Windowed::new(s.decode_key(&e.key), window), self.value(&e.value))
            })
            .collect()
    }
}

/// Typed, read-only access to the session store of a session aggregation.
pub struct SessionStoreView<K, V> {
    store: TypedStore<K, V>,
    schema: SessionSchema,
}

impl<K: Data + Clone, V: 'static> SessionStoreView<K, V> {
    pub(crate) fn new(state: Rc<RefCell<DriverState>>, name: &str) -> Result<Self, StreamsError> {
        let store = TypedStore::open(state, name)?;
        let StoreKind::Session { retention_ms } = store.codec.kind else {
            return Err(StreamsError::StoreAccess {
                store: name.into(),
                reason: "not a session store".into(),
            });
        };
        Ok(SessionStoreView {
            store,
            schema: SessionSchema::new(retention_ms),
        })
    }

    /// `key`'s sessions that have not expired, by end.
    pub fn fetch(&self, key: &K) -> Vec<(Window, V)> {
        let s = &self.store;
        let Some(key_bytes) = s.key_bytes(key) else {
            return Vec::new();
        };
        s.with(|kv, now| {
            self.schema
                .find_sessions(kv, &key_bytes, 0, i64::MAX / 2, now)
                .unwrap_or_else(|e| s.fail(e))
                .into_iter()
                .map(|x| (Window::new(x.start, x.end), s.decode_value(&x.value)))
                .collect()
        })
        .unwrap_or_default()
    }
}
