//! RocksDB storage: one database per task, a column family per store, and a metadata column
//! family holding the changelog offset each store reflects.
//!
//! Durability comes from the changelog, not from RocksDB: the write-ahead log is off and a
//! dropped database does not flush its memtables (`avoid_flush_during_shutdown`), exactly like a
//! crash. Flushes are atomic across column families (`atomic_flush`), so whatever survives on
//! disk is a consistent cut: each store's data together with the offset it reflects. Restoration
//! replays the changelog from that offset. A clean close flushes explicitly.

mod backend;
mod range_iter;
mod resources;

pub use backend::RocksDbBackend;
pub use resources::RocksDbResources;

use crate::error::StoreError;
use crate::KvBackend;
use rocksdb::{ColumnFamilyDescriptor, DBWithThreadMode, FlushOptions, MultiThreaded, Options};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) type Db = DBWithThreadMode<MultiThreaded>;

/// Column family holding `store name -> last applied changelog offset (i64, big-endian)`.
pub(crate) const OFFSETS_CF: &str = "__sluice_offsets";

/// The RocksDB instance of one task.
pub struct TaskDb {
    db: Arc<Db>,
    path: PathBuf,
    resources: RocksDbResources,
}

impl std::fmt::Debug for TaskDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskDb").field("path", &self.path).finish()
    }
}

pub(crate) fn backend_error(store: &str, operation: &'static str, e: rocksdb::Error) -> StoreError {
    if e.kind() == rocksdb::ErrorKind::Corruption {
        StoreError::Corrupt {
            store: store.to_string(),
            reason: e.into_string(),
        }
    } else {
        StoreError::Backend {
            store: store.to_string(),
            operation,
            reason: e.into_string(),
        }
    }
}

impl TaskDb {
    /// Opens (or creates) the database at `path` with a column family for each of `stores`;
    /// column families of stores no longer in the topology are kept, untouched. Corruption is
    /// reported as [`StoreError::Corrupt`]: the caller deletes the directory and restores from
    /// the changelog.
    pub fn open(path: &Path, stores: &[&str], resources: &RocksDbResources) -> Result<TaskDb, StoreError> {
        let label = path.display().to_string();
        std::fs::create_dir_all(path).map_err(|source| StoreError::Io {
            store: label.clone(),
            operation: format!("create {label}"),
            source,
        })?;
        let options = resources
            .db_options()
            .map_err(|e| backend_error(&label, "configure", e))?;
        // A fresh directory has no database yet, hence no column families.
        let mut names: Vec<String> = Db::list_cf(&options, path).unwrap_or_default();
        for wanted in stores.iter().copied().chain([OFFSETS_CF]) {
            if !names.iter().any(|n| n == wanted) {
                names.push(wanted.to_string());
            }
        }
        let descriptors = names
            .iter()
            .map(|n| ColumnFamilyDescriptor::new(n, resources.cf_options()));
        let db = Db::open_cf_descriptors(&options, path, descriptors).map_err(|e| {
            // RocksDB reports its LOCK file held as an I/O error; the caller retries later.
            let message = e.to_string();
            if message.contains("lock hold by current process") || message.contains("/LOCK:") {
                StoreError::Locked { store: label.clone() }
            } else {
                backend_error(&label, "open", e)
            }
        })?;
        Ok(TaskDb {
            db: Arc::new(db),
            path: path.to_path_buf(),
            resources: resources.clone(),
        })
    }

    /// The committed storage of `store` (its column family must have been named at open).
    pub fn backend(&self, store: &str) -> Result<Box<dyn KvBackend>, StoreError> {
        RocksDbBackend::new(Arc::clone(&self.db), store, self.resources.clone())
            .map(|b| Box::new(b) as Box<dyn KvBackend>)
    }

    /// Writes every memtable to disk in one atomic flush: the durable state then reflects every
    /// commit so far.
    pub fn flush(&self) -> Result<(), StoreError> {
        flush_all(&self.db, &self.path.display().to_string())
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a checkpoint of the database into `dir` (which must not exist): every memtable is
    /// flushed (atomically across stores), then the SST files are hard-linked and the small
    /// files copied. Pending (uncommitted) writes never reach RocksDB, so the checkpoint holds
    /// exactly the committed state, each store with the changelog offset it reflects.
    pub fn checkpoint(&self, dir: &Path) -> Result<(), StoreError> {
        let label = self.path.display().to_string();
        rocksdb::checkpoint::Checkpoint::new(&self.db)
            .and_then(|c| c.create_checkpoint(dir))
            .map_err(|e| backend_error(&label, "checkpoint", e))
    }

    /// The incarnation of this database: an id kept in its directory, made when first asked
    /// for. A database restored from a snapshot (whose directory holds only RocksDB's files)
    /// or created anew gets a new one, so that two instances never upload different files
    /// under one name.
    pub fn incarnation(&self) -> Result<String, StoreError> {
        let file = self.path.join(INCARNATION_FILE);
        let io = |operation: &str, source| StoreError::Io {
            store: self.path.display().to_string(),
            operation: format!("{operation} {}", file.display()),
            source,
        };
        match std::fs::read_to_string(&file) {
            Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_string()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("read", e)),
        }
        let id = new_incarnation(&self.path);
        std::fs::write(&file, &id).map_err(|e| io("write", e))?;
        Ok(id)
    }

    /// Deletes a task's database directory (corrupt state is rebuilt from the changelog).
    pub fn destroy(path: &Path) -> Result<(), StoreError> {
        match std::fs::remove_dir_all(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StoreError::Io {
                store: path.display().to_string(),
                operation: format!("delete {}", path.display()),
                source,
            }),
        }
    }
}

/// The file in a database directory holding its incarnation id.
const INCARNATION_FILE: &str = "SLUICE-INCARNATION";

/// A fresh, practically unique id: the time, the process and the directory, hashed.
fn new_incarnation(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let seed = format!("{now}/{}/{}", std::process::id(), path.display());
    crate::snapshot::hex(&Sha256::digest(seed.as_bytes())[..12])
}

pub(crate) fn flush_all(db: &Db, label: &str) -> Result<(), StoreError> {
    let mut names =
        Db::list_cf(&Options::default(), db.path()).map_err(|e| backend_error(label, "flush", e))?;
    names.retain(|n| n != "default");
    let handles: Vec<_> = names.iter().filter_map(|n| db.cf_handle(n)).collect();
    let refs: Vec<_> = handles.iter().collect();
    let mut fo = FlushOptions::default();
    fo.set_wait(true);
    db.flush_cfs_opt(&refs, &fo)
        .map_err(|e| backend_error(label, "flush", e))
}
