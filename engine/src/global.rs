//! Global tables' stores: every partition of a topic, shared read-only by all tasks of an
//! instance and updated from the topic itself (their changelog).
//!
//! A global store starts empty and is rebuilt from the beginning of its topic whenever the
//! instance starts (no per-partition offsets are recorded yet), before any task processes.

use crate::config::StreamsConfig;
use crate::error::{RecordPosition, StreamsError};
use crate::metrics::{names, Metrics};
use crate::record::RawRecord;
use crate::state_provider::StateProvider;
use crate::task_id::TaskId;
use sluice_dsl::topology::{GlobalTableSpec, Topology};
use sluice_state::KeyValueStore;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// One global table's store.
pub(crate) struct GlobalStore {
    pub(crate) spec: GlobalTableSpec,
    pub(crate) kv: KeyValueStore,
}

/// Every global store of the topology, by store name.
#[derive(Clone, Default)]
pub(crate) struct GlobalStores {
    stores: Arc<HashMap<String, Arc<RwLock<GlobalStore>>>>,
}

/// Global stores are not part of a task; errors name this pseudo-task.
pub(crate) const GLOBAL_TASK: TaskId = TaskId {
    sub_topology: u32::MAX,
    partition: 0,
};

impl GlobalStores {
    /// Opens (empty) the global stores of `topology`.
    pub(crate) fn open(topology: &Topology, state: &StateProvider) -> Result<Self, StreamsError> {
        let mut stores = HashMap::new();
        for g in topology.global_tables() {
            let spec = topology
                .store(&g.store)
                .expect("global tables declare their store");
            let mut kv = KeyValueStore::new(g.store.clone(), state.open_global(spec)?);
            kv.wipe().map_err(|source| StreamsError::Store {
                task: GLOBAL_TASK,
                source,
            })?;
            stores.insert(
                g.store.clone(),
                Arc::new(RwLock::new(GlobalStore { spec: g.clone(), kv })),
            );
        }
        Ok(GlobalStores {
            stores: Arc::new(stores),
        })
    }

    pub(crate) fn get(&self, store: &str) -> Option<&Arc<RwLock<GlobalStore>>> {
        self.stores.get(store)
    }

    /// The global store fed by `topic`, if any.
    pub(crate) fn for_topic(&self, topic: &str) -> Option<&Arc<RwLock<GlobalStore>>> {
        self.stores
            .values()
            .find(|s| s.read().expect("global store lock poisoned").spec.topic == topic)
    }

    /// Topics of global tables.
    pub(crate) fn topics(&self) -> Vec<String> {
        self.stores
            .values()
            .map(|s| s.read().expect("global store lock poisoned").spec.topic.clone())
            .collect()
    }

    /// Applies one record of a global topic: a value is stored with its timestamp, a null
    /// deletes. A record the table's serdes cannot read goes to the deserialization handler
    /// (failing, or skipped and counted).
    pub(crate) fn apply(
        &self,
        raw: &RawRecord,
        config: &StreamsConfig,
        metrics: &Metrics,
    ) -> Result<(), StreamsError> {
        let Some(store) = self.for_topic(&raw.topic) else {
            return Err(StreamsError::UnknownTopic {
                topic: raw.topic.to_string(),
                known: self.topics(),
            });
        };
        let mut store = store.write().expect("global store lock poisoned");
        let checked = store
            .spec
            .key_serde
            .deserialize(raw.key.as_deref())
            .map(|_| "value")
            .map_err(|e| ("key", e))
            .and_then(|part| match raw.value.as_deref() {
                Some(v) => store
                    .spec
                    .value_serde
                    .deserialize(Some(v))
                    .map(|_| ())
                    .map_err(|e| (part, e)),
                None => Ok(()),
            });
        if let Err((part, source)) = checked {
            let error = StreamsError::Deserialization {
                task: GLOBAL_TASK,
                position: RecordPosition {
                    topic: Arc::clone(&raw.topic),
                    partition: raw.partition,
                    offset: raw.offset,
                },
                part,
                source: Box::new(source),
            };
            if config.deserialization_exception_handler == crate::config::ErrorHandler::LogAndFail {
                return Err(error);
            }
            tracing::warn!(%error, "skipping a record of a global table");
            metrics
                .counter(
                    names::DROPPED,
                    "Records skipped",
                    &[("task", "global"), ("reason", "deserialization_error")],
                )
                .inc();
            return Ok(());
        }
        let key = raw.key.clone().unwrap_or_default();
        match &raw.value {
            Some(v) => {
                let mut stored = raw.timestamp.to_be_bytes().to_vec();
                stored.extend_from_slice(v);
                store.kv.put(&key, &stored);
            }
            None => store.kv.delete(&key),
        }
        store.kv.commit(None).map_err(|source| StreamsError::Store {
            task: GLOBAL_TASK,
            source,
        })
    }
}
