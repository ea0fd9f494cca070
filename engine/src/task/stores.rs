//! The state stores of one task.

use crate::error::StreamsError;
use crate::task_id::TaskId;
use sluice_dsl::topology::{StoreSpec, Topology};
use sluice_state::{KeyValueStore, KvBackend, StoreError};
use std::sync::Arc;

/// Opens the committed backend of one store of one task.
pub type BackendFactory<'a> = dyn FnMut(TaskId, &StoreSpec) -> Result<Box<dyn KvBackend>, StoreError> + 'a;

pub(crate) struct TaskStore {
    pub(crate) name: String,
    /// Resolved changelog topic, if logging is on.
    pub(crate) changelog: Option<Arc<str>>,
    pub(crate) kv: KeyValueStore,
}

/// The stores a task's processors use, by index (resolved once at task creation).
pub(crate) struct StoreSet {
    stores: Vec<TaskStore>,
}

impl StoreSet {
    pub(crate) fn open(
        task: TaskId,
        topology: &Topology,
        app_id: &str,
        open_backend: &mut BackendFactory<'_>,
    ) -> Result<StoreSet, StreamsError> {
        let sub = &topology.sub_topologies()[task.sub_topology as usize];
        let mut stores = Vec::with_capacity(sub.stores.len());
        for name in &sub.stores {
            let spec = topology.store(name).expect("sub-topologies list declared stores");
            let backend = open_backend(task, spec).map_err(|source| StreamsError::Store { task, source })?;
            stores.push(TaskStore {
                name: name.clone(),
                changelog: spec.changelog_topic().map(|t| t.resolve(app_id).into()),
                kv: KeyValueStore::new(name.clone(), backend),
            });
        }
        Ok(StoreSet { stores })
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
