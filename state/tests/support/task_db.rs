//! A task database as the snapshot tests fill it: two stores, 100-byte values, a changelog
//! offset per commit.

use sluice_state::snapshot::StoreOffset;
use sluice_state::{RocksDbResources, TaskDb, WriteBatch};
use std::path::Path;

/// The stores of the test database.
pub const STORES: [&str; 2] = ["counts", "profiles"];

/// Every store's name, committed offset, and entries in key order.
pub type Contents = Vec<(String, Option<i64>, Vec<(Vec<u8>, Vec<u8>)>)>;

/// Opens (or creates) the database at `path`.
pub fn open(path: &Path) -> TaskDb {
    TaskDb::open(path, &STORES, &RocksDbResources::unbounded()).unwrap()
}

/// Commits keys `from..from + n` (100-byte values) to every store with changelog offset
/// `offset`, then flushes so that they land in new SST files.
pub fn commit(db: &TaskDb, from: usize, n: usize, offset: i64) {
    for store in STORES {
        let entries = (from..from + n)
            .map(|i| {
                (
                    format!("key-{i:08}").into_bytes(),
                    Some(vec![(i % 251) as u8; 100]),
                )
            })
            .collect();
        db.backend(store)
            .unwrap()
            .apply(WriteBatch {
                entries,
                delete_ranges: Vec::new(),
                changelog_offset: Some(offset),
            })
            .unwrap();
    }
    db.flush().unwrap();
}

/// Each store's changelog position (changelog `app-<store>-changelog`, partition `partition`).
pub fn offsets(db: &TaskDb, partition: i32) -> Vec<StoreOffset> {
    STORES
        .iter()
        .map(|store| StoreOffset {
            store: store.to_string(),
            changelog_topic: format!("app-{store}-changelog"),
            partition,
            offset: db.backend(store).unwrap().committed_offset(),
        })
        .collect()
}

/// Every key and value of every store, and each store's offset.
pub fn contents(db: &TaskDb) -> Contents {
    STORES
        .iter()
        .map(|store| {
            let backend = db.backend(store).unwrap();
            let entries = backend
                .range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded)
                .unwrap()
                .map(|e| e.unwrap())
                .collect();
            (store.to_string(), backend.committed_offset(), entries)
        })
        .collect()
}
