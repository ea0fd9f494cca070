//! Where interactive queries find an instance's stores: every stream thread registers its
//! task manager here, and a query visits them in turn.

use super::state::{StateBoard, StreamsState};
use super::task_manager::TaskManager;
use crate::error::StreamsError;
use sluice_state::KeyValueStore;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

/// The stream threads' task managers, by thread index.
///
/// Weak references: a thread that ends (or is replaced) takes its tasks with it, and a query
/// never keeps a dead thread's stores alive.
#[derive(Default)]
pub(crate) struct QueryRegistry {
    threads: Mutex<BTreeMap<usize, Weak<Mutex<TaskManager>>>>,
}

impl QueryRegistry {
    /// Thread `index`'s manager (replacing a failed thread's of the same index).
    pub(crate) fn register(&self, index: usize, manager: &Arc<Mutex<TaskManager>>) {
        self.threads
            .lock()
            .expect("query registry lock poisoned")
            .insert(index, Arc::downgrade(manager));
    }

    /// Calls `f` with the store `name` of every active task of this instance that holds it
    /// (and the task's committed stream time), once the instance (`board`) is `Running`;
    /// fails (before calling `f` for any task of that thread) if one of them is restoring.
    ///
    /// Each thread's manager is locked while its stores are read, so a query waits for the
    /// thread's current step (a batch of records, a commit) and sees committed state only.
    pub(crate) fn visit(
        &self,
        board: &StateBoard,
        name: &str,
        f: &mut dyn FnMut(&KeyValueStore, i64) -> Result<(), StreamsError>,
    ) -> Result<(), StreamsError> {
        let state = board.state();
        if state != StreamsState::Running {
            return Err(StreamsError::StoreUnavailable {
                store: name.to_string(),
                reason: format!("the instance is {state}; stores are queryable while Running"),
            });
        }
        let managers: Vec<Arc<Mutex<TaskManager>>> = self
            .threads
            .lock()
            .expect("query registry lock poisoned")
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        for manager in managers {
            manager
                .lock()
                .expect("task manager lock poisoned")
                .visit_store(name, f)?;
        }
        Ok(())
    }
}
