//! Opens the committed storage of a task's stores: in memory, or in the task's RocksDB
//! database under `state.dir/<application.id>/<task>/`.

use crate::config::StreamsConfig;
use crate::error::StreamsError;
use crate::task_id::TaskId;
use sluice_dsl::topology::StoreSpec;
use sluice_dsl::StoreType;
use sluice_state::{
    KeyValueStore, KvBackend, MemoryBackend, ReadCacheBudget, RocksDbResources, StoreError, TaskDb,
};
use std::path::PathBuf;

/// A task's opened stores, in the order asked for, and its database if a store is persistent.
pub(crate) type OpenedStores = (Vec<Box<dyn KvBackend>>, Option<TaskDb>);

/// Where and how an application instance keeps state. One per instance: its RocksDB memory
/// (block cache and write buffers) is shared by every task database.
#[derive(Debug, Clone)]
pub(crate) struct StateProvider {
    root: PathBuf,
    default_type: StoreType,
    rocksdb: RocksDbResources,
    /// The bound of the read caches in front of RocksDB stores (`rocksdb.row.cache.bytes`;
    /// `None`: off).
    read_cache: Option<ReadCacheBudget>,
}

impl StateProvider {
    /// State under `root` (normally `state.dir/<application.id>`).
    pub(crate) fn new(config: &StreamsConfig, root: PathBuf) -> Self {
        StateProvider {
            root,
            default_type: config.default_dsl_store,
            rocksdb: RocksDbResources::bounded(
                config.rocksdb_block_cache_bytes,
                config.rocksdb_write_buffer_bytes,
            ),
            read_cache: (config.rocksdb_row_cache_bytes > 0)
                .then(|| ReadCacheBudget::new(config.rocksdb_row_cache_bytes)),
        }
    }

    /// Bytes in use of the shared RocksDB cache and of its memtables (`None`: unbounded).
    pub(crate) fn rocksdb_usage(&self) -> Option<(usize, usize)> {
        Some((self.rocksdb.cache_usage()?, self.rocksdb.memtable_usage()?))
    }

    /// Bytes held by the read caches of RocksDB stores (`None`: turned off).
    pub(crate) fn row_cache_usage(&self) -> Option<u64> {
        self.read_cache.as_ref().map(ReadCacheBudget::usage)
    }

    /// A task's store named after `spec` over `backend`, with a read cache if it lives in
    /// RocksDB and the caches are on (an in-memory store answers reads as fast itself).
    pub(crate) fn store(&self, spec: &StoreSpec, backend: Box<dyn KvBackend>) -> KeyValueStore {
        let store = KeyValueStore::new(spec.name.clone(), backend);
        match &self.read_cache {
            Some(budget) if self.is_persistent(spec) => store.with_read_cache(budget),
            _ => store,
        }
    }

    /// The directory of `task`'s database.
    pub(crate) fn task_dir(&self, task: TaskId) -> PathBuf {
        self.root.join(task.to_string())
    }

    fn store_type(&self, spec: &StoreSpec) -> StoreType {
        spec.store_type.unwrap_or(self.default_type)
    }

    /// True if `spec`'s store lives in the task's RocksDB database.
    pub(crate) fn is_persistent(&self, spec: &StoreSpec) -> bool {
        self.store_type(spec) == StoreType::RocksDb
    }

    /// Opens every store of `task`, in the order given, with the task's database if any store
    /// is persistent. A task database found corrupt is deleted and recreated empty:
    /// restoration then replays the whole changelog.
    pub(crate) fn open(&self, task: TaskId, specs: &[&StoreSpec]) -> Result<OpenedStores, StreamsError> {
        let rocks: Vec<&str> = specs
            .iter()
            .filter(|s| self.store_type(s) == StoreType::RocksDb)
            .map(|s| s.name.as_str())
            .collect();
        let db = if rocks.is_empty() {
            None
        } else {
            Some(self.open_db(task, &rocks)?)
        };
        let backends = specs
            .iter()
            .map(|spec| match (self.store_type(spec), &db) {
                (StoreType::RocksDb, Some(db)) => db
                    .backend(&spec.name)
                    .map_err(|source| StreamsError::Store { task, source }),
                _ => Ok(Box::new(MemoryBackend::new()) as Box<dyn KvBackend>),
            })
            .collect::<Result<_, _>>()?;
        Ok((backends, db))
    }

    /// Opens a global table's store, under `<root>/global/`.
    pub(crate) fn open_global(&self, spec: &StoreSpec) -> Result<Box<dyn KvBackend>, StreamsError> {
        if self.store_type(spec) == StoreType::InMemory {
            return Ok(Box::new(MemoryBackend::new()));
        }
        let task = crate::global::GLOBAL_TASK;
        let db = self.open_db_at(task, self.root.join("global"), &[spec.name.as_str()])?;
        db.backend(&spec.name)
            .map_err(|source| StreamsError::Store { task, source })
    }

    fn open_db(&self, task: TaskId, stores: &[&str]) -> Result<TaskDb, StreamsError> {
        self.open_db_at(task, self.task_dir(task), stores)
    }

    fn open_db_at(&self, task: TaskId, dir: PathBuf, stores: &[&str]) -> Result<TaskDb, StreamsError> {
        match TaskDb::open(&dir, stores, &self.rocksdb) {
            Ok(db) => Ok(db),
            Err(StoreError::Corrupt { reason, .. }) => {
                tracing::warn!(%task, dir = %dir.display(), %reason, "local state is corrupt: deleting it and restoring from the changelog");
                TaskDb::destroy(&dir).map_err(|source| StreamsError::Store { task, source })?;
                TaskDb::open(&dir, stores, &self.rocksdb)
                    .map_err(|source| StreamsError::Store { task, source })
            }
            Err(source) => Err(StreamsError::Store { task, source }),
        }
    }
}
