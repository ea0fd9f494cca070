//! `RocksDbBackend`: one store's column family.

use super::range_iter::IterSlot;
use super::{backend_error, flush_all, Db, RocksDbResources, OFFSETS_CF};
use crate::backend::{KvBackend, KvIter, WriteBatch};
use crate::error::StoreError;
use rocksdb::WriteOptions;
use std::ops::Bound;
use std::sync::Arc;

/// Committed data of one store in its column family of the task's database.
pub struct RocksDbBackend {
    /// The database, and the iterator range reads reuse until the next write.
    slot: IterSlot,
    store: String,
    resources: RocksDbResources,
    /// Cached copy of this store's entry in the offsets column family.
    offset: Option<i64>,
    /// The options of every point read: built once (RocksDB's default read options are a C++
    /// object, allocated and freed by every `get` that does not pass its own).
    read_options: rocksdb::ReadOptions,
}

impl RocksDbBackend {
    pub(crate) fn new(db: Arc<Db>, store: &str, resources: RocksDbResources) -> Result<Self, StoreError> {
        let offsets = db
            .cf_handle(OFFSETS_CF)
            .ok_or_else(|| missing_cf(store, OFFSETS_CF))?;
        let offset = match db
            .get_pinned_cf(&offsets, store.as_bytes())
            .map_err(|e| backend_error(store, "read offset", e))?
        {
            None => None,
            Some(raw) => {
                let bytes: [u8; 8] = raw.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    store: store.to_string(),
                    reason: format!("recorded changelog offset has {} bytes, not 8", raw.len()),
                })?;
                Some(i64::from_be_bytes(bytes))
            }
        };
        drop(offsets);
        if db.cf_handle(store).is_none() {
            return Err(missing_cf(store, store));
        }
        Ok(RocksDbBackend {
            slot: IterSlot::new(db),
            store: store.to_string(),
            resources,
            offset,
            read_options: rocksdb::ReadOptions::default(),
        })
    }

    fn db(&self) -> &Db {
        self.slot.db()
    }

    fn cf(&self) -> Result<Arc<rocksdb::BoundColumnFamily<'_>>, StoreError> {
        self.db()
            .cf_handle(&self.store)
            .ok_or_else(|| missing_cf(&self.store, &self.store))
    }

    fn write_options() -> WriteOptions {
        let mut wo = WriteOptions::default();
        // The changelog is the durability; see the module docs.
        wo.disable_wal(true);
        wo
    }
}

fn missing_cf(store: &str, cf: &str) -> StoreError {
    StoreError::Backend {
        store: store.to_string(),
        operation: "open",
        reason: format!("column family {cf} is missing"),
    }
}

impl KvBackend for RocksDbBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let cf = self.cf()?;
        self.db()
            .get_pinned_cf_opt(&cf, key, &self.read_options)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| backend_error(&self.store, "get", e))
    }

    fn range<'a>(&'a self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<KvIter<'a>, StoreError> {
        if crate::bounds::is_empty_range(from, to) {
            return Ok(Box::new(std::iter::empty()));
        }
        let cf = self.cf()?;
        Ok(Box::new(self.slot.read(&cf, from, to, &self.store)))
    }

    fn apply(&mut self, batch: WriteBatch) -> Result<(), StoreError> {
        self.slot.invalidate();
        let cf = self.cf()?;
        let offsets = self
            .db()
            .cf_handle(OFFSETS_CF)
            .ok_or_else(|| missing_cf(&self.store, OFFSETS_CF))?;
        let mut wb = rocksdb::WriteBatch::default();
        for (from, to) in &batch.delete_ranges {
            wb.delete_range_cf(&cf, from, to);
        }
        for (k, v) in &batch.entries {
            match v {
                Some(v) => wb.put_cf(&cf, k, v),
                None => wb.delete_cf(&cf, k),
            }
        }
        if let Some(offset) = batch.changelog_offset {
            wb.put_cf(&offsets, self.store.as_bytes(), offset.to_be_bytes());
        }
        self.db()
            .write_opt(wb, &Self::write_options())
            .map_err(|e| backend_error(&self.store, "write batch", e))?;
        drop((cf, offsets));
        if batch.changelog_offset.is_some() {
            self.offset = batch.changelog_offset;
        }
        Ok(())
    }

    fn committed_offset(&self) -> Option<i64> {
        self.offset
    }

    fn approximate_num_entries(&self) -> u64 {
        self.cf()
            .ok()
            .and_then(|cf| {
                self.db()
                    .property_int_value_cf(&cf, "rocksdb.estimate-num-keys")
                    .ok()
                    .flatten()
            })
            .unwrap_or(0)
    }

    fn wipe(&mut self) -> Result<(), StoreError> {
        self.slot.invalidate();
        self.db()
            .drop_cf(&self.store)
            .map_err(|e| backend_error(&self.store, "drop column family", e))?;
        self.db()
            .create_cf(&self.store, &self.resources.cf_options())
            .map_err(|e| backend_error(&self.store, "create column family", e))?;
        let offsets = self
            .db()
            .cf_handle(OFFSETS_CF)
            .ok_or_else(|| missing_cf(&self.store, OFFSETS_CF))?;
        self.db()
            .delete_cf_opt(&offsets, self.store.as_bytes(), &Self::write_options())
            .map_err(|e| backend_error(&self.store, "delete offset", e))?;
        drop(offsets);
        self.offset = None;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.slot.invalidate();
        flush_all(self.db(), &self.store)
    }
}
