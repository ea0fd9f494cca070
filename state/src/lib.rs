//! Sluice's state stores. They know bytes, not types: the engine serializes keys and values
//! with the topology's serdes before they get here.
//!
//! A [`KeyValueStore`] is a pending overlay of uncommitted writes over a committed
//! [`KvBackend`]. Reads see both; a commit applies the overlay together with the changelog offset
//! it reflects, atomically; an abort drops it. Every backend passes the same conformance suite.

mod backend;
pub mod bounds;
mod error;
mod kv_store;
mod memory;
mod overlay;
mod read_cache;
pub mod rocksdb;
mod segments;
pub mod session;
pub mod snapshot;
pub mod versioned;
pub mod window;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod test_rng;

pub use backend::{KvBackend, KvIter, WriteBatch};
pub use error::StoreError;
pub use kv_store::{Committed, KeyValueStore, MergedIter, RangeRead};
pub use memory::MemoryBackend;
pub use read_cache::ReadCacheBudget;
pub use rocksdb::{RocksDbBackend, RocksDbResources, TaskDb};
pub use segments::segment_interval;
pub use session::{Session, SessionSchema};
pub use versioned::{VersionedPut, VersionedSchema};
pub use window::{StoredWindows, WindowEntry, WindowSchema};

#[cfg(test)]
mod tests {
    #[test]
    fn memory_backend_passes_conformance() {
        crate::conformance::run_all(&mut || Box::new(crate::MemoryBackend::new()));
    }

    #[test]
    fn rocksdb_backend_passes_conformance() {
        rocksdb_conformance(crate::RocksDbResources::bounded(16 << 20, 4 << 20));
    }

    fn rocksdb_conformance(resources: crate::RocksDbResources) {
        let dir = tempfile::tempdir().unwrap();
        let mut n = 0;
        crate::conformance::run_all(&mut || {
            n += 1;
            let db = crate::TaskDb::open(
                &dir.path().join(format!("task-{n}")),
                &["conformance"],
                &resources,
            )
            .unwrap();
            db.backend("conformance").unwrap()
        });
    }

    #[test]
    fn a_database_open_elsewhere_in_the_process_is_reported_locked() {
        let dir = tempfile::tempdir().unwrap();
        let resources = crate::RocksDbResources::bounded(16 << 20, 4 << 20);
        let first = crate::TaskDb::open(dir.path(), &["s"], &resources).unwrap();
        let second = crate::TaskDb::open(dir.path(), &["s"], &resources);
        assert!(
            matches!(second, Err(crate::StoreError::Locked { .. })),
            "{:?}",
            second.err()
        );
        drop(first);
        crate::TaskDb::open(dir.path(), &["s"], &resources).expect("free once the first copy closed");
    }
}
