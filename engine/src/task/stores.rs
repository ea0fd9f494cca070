//! The state stores of one task.

use crate::error::StreamsError;
use crate::state_provider::StateProvider;
use crate::task_id::TaskId;
use sluice_dsl::topology::{StoreKind, StoreSpec, Topology};
use sluice_state::{KeyValueStore, SessionSchema, StoreError, WindowSchema};
use std::sync::Arc;

/// How a store's keys map to changelog keys: window and session stores drop the time segment
/// from changelog keys (it is derived again on restore).
#[derive(Debug, Clone, Copy)]
pub(crate) enum StoreLayout {
    KeyValue,
    Window(WindowSchema),
    Session(SessionSchema),
}

impl StoreLayout {
    fn of(kind: StoreKind) -> Self {
        match kind {
            StoreKind::Window {
                retention_ms,
                size_ms,
                retain_duplicates,
            } => {
                let schema = WindowSchema::new(retention_ms, size_ms);
                StoreLayout::Window(if retain_duplicates {
                    schema.with_duplicates()
                } else {
                    schema
                })
            }
            StoreKind::Session { retention_ms } => StoreLayout::Session(SessionSchema::new(retention_ms)),
            _ => StoreLayout::KeyValue,
        }
    }

    pub(crate) fn changelog_key<'a>(&self, store_key: &'a [u8]) -> &'a [u8] {
        match self {
            StoreLayout::KeyValue => store_key,
            StoreLayout::Window(w) => w.changelog_key(store_key),
            StoreLayout::Session(s) => s.changelog_key(store_key),
        }
    }

    pub(crate) fn store_key(&self, changelog_key: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        match self {
            StoreLayout::KeyValue => Ok(changelog_key),
            StoreLayout::Window(w) => w.from_changelog_key(&changelog_key),
            StoreLayout::Session(s) => s.from_changelog_key(&changelog_key),
        }
    }
}

pub(crate) struct TaskStore {
    pub(crate) name: String,
    /// Resolved changelog topic, if logging is on.
    pub(crate) changelog: Option<Arc<str>>,
    pub(crate) layout: StoreLayout,
    /// Values carry an 8-byte timestamp prefix, which changelog records carry as their record
    /// timestamp instead (as Kafka Streams' timestamped stores log).
    pub(crate) timestamped: bool,
    /// Kept in the task's RocksDB database (part of its snapshots).
    pub(crate) persistent: bool,
    pub(crate) kv: KeyValueStore,
}

impl TaskStore {
    /// The changelog value and timestamp of a stored value (`default_ts` when it has none).
    pub(crate) fn changelog_payload<'a>(
        &self,
        stored: Option<&'a [u8]>,
        default_ts: i64,
    ) -> (Option<&'a [u8]>, i64) {
        match stored {
            Some(v) if self.timestamped && v.len() >= 8 => {
                let ts = i64::from_be_bytes(v[..8].try_into().expect("8 bytes"));
                (Some(&v[8..]), ts)
            }
            other => (other, default_ts),
        }
    }

    /// The stored value of a changelog value with its record timestamp.
    pub(crate) fn stored_value(&self, value: Option<Vec<u8>>, timestamp: i64) -> Option<Vec<u8>> {
        match value {
            Some(v) if self.timestamped => {
                let mut out = timestamp.to_be_bytes().to_vec();
                out.extend_from_slice(&v);
                Some(out)
            }
            other => other,
        }
    }
}

/// The stores a task's processors use, by index (resolved once at task creation).
pub(crate) struct StoreSet {
    stores: Vec<TaskStore>,
    /// The task's database, if a store is persistent (for checkpoints).
    db: Option<sluice_state::TaskDb>,
}

impl StoreSet {
    pub(crate) fn open(
        task: TaskId,
        topology: &Topology,
        app_id: &str,
        state: &StateProvider,
    ) -> Result<StoreSet, StreamsError> {
        let sub = topology
            .sub_topology(task.sub_topology)
            .expect("tasks belong to stream sub-topologies");
        let specs: Vec<&StoreSpec> = sub
            .stores
            .iter()
            .map(|name| topology.store(name).expect("sub-topologies list declared stores"))
            .collect();
        let (backends, db) = state.open(task, &specs)?;
        let stores = specs
            .into_iter()
            .zip(backends)
            .map(|(spec, backend)| TaskStore {
                name: spec.name.clone(),
                changelog: spec.changelog_topic().map(|t| t.resolve(app_id).into()),
                layout: StoreLayout::of(spec.kind),
                timestamped: spec.timestamped,
                persistent: state.is_persistent(spec),
                kv: state.store(spec, backend),
            })
            .collect();
        Ok(StoreSet { stores, db })
    }

    /// No stores (while a task's database is closed to be replaced).
    pub(crate) fn closed() -> StoreSet {
        StoreSet {
            stores: Vec::new(),
            db: None,
        }
    }

    /// The task's database, if it has one.
    pub(crate) fn db(&self) -> Option<&sluice_state::TaskDb> {
        self.db.as_ref()
    }

    /// The index of store `name`.
    ///
    /// # Panics
    /// If the task has no such store: the topology lists every store a processor uses.
    pub(crate) fn index(&self, name: &str) -> usize {
        self.stores
            .iter()
            .position(|s| s.name == name)
            .unwrap_or_else(|| panic!("store {name} is not part of this task"))
    }

    pub(crate) fn kv(&mut self, index: usize) -> &mut KeyValueStore {
        &mut self.stores[index].kv
    }

    pub(crate) fn get(&self, name: &str) -> Option<&TaskStore> {
        self.stores.iter().find(|s| s.name == name)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &TaskStore> {
        self.stores.iter()
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut TaskStore> {
        self.stores.iter_mut()
    }
}
