//! Memory shared by every task database of an application instance.

use super::row_cache::RowCache;
use rocksdb::{BlockBasedOptions, Cache, DBCompressionType, Options, WriteBufferManager};
use std::sync::Arc;

/// The block cache and write-buffer manager shared by all task databases, so that hundreds of
/// tasks cannot each claim their own memory (the problem of Kafka Streams before 2.3).
///
/// Memtables are charged to the block cache: `block_cache_bytes` bounds both together, and
/// `write_buffer_bytes` (inside it) bounds memtables, past which RocksDB flushes the largest.
/// With [`with_row_cache`](Self::with_row_cache), point reads are answered from a cache of
/// committed values in front of every store (the row cache, its own bound).
#[derive(Clone)]
pub struct RocksDbResources {
    shared: Option<(Cache, WriteBufferManager)>,
    rows: Option<Arc<RowCache>>,
}

impl std::fmt::Debug for RocksDbResources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbResources")
            .field("bounded", &self.shared.is_some())
            .field("row_cache", &self.rows.is_some())
            .finish()
    }
}

impl RocksDbResources {
    /// One bound for all databases: `block_cache_bytes` for cached blocks, index and filter
    /// blocks and memtables together, of which at most `write_buffer_bytes` memtables.
    pub fn bounded(block_cache_bytes: usize, write_buffer_bytes: usize) -> Self {
        let cache = Cache::new_lru_cache(block_cache_bytes);
        let wbm =
            WriteBufferManager::new_write_buffer_manager_with_cache(write_buffer_bytes, false, cache.clone());
        RocksDbResources {
            shared: Some((cache, wbm)),
            rows: None,
        }
    }

    /// Adds a row cache of at most `bytes` (keys, values and about 64 bytes of bookkeeping per
    /// entry) shared by every store of these resources: repeated point reads of a key skip
    /// RocksDB. 0 leaves it off.
    ///
    /// ```
    /// use sluice_state::RocksDbResources;
    ///
    /// let resources = RocksDbResources::bounded(64 << 20, 16 << 20).with_row_cache(16 << 20);
    /// assert_eq!(resources.row_cache_usage(), Some(0));
    /// ```
    pub fn with_row_cache(mut self, bytes: usize) -> Self {
        self.rows = (bytes > 0).then(|| Arc::new(RowCache::new(bytes)));
        self
    }

    /// RocksDB's defaults per database: each has its own cache and write buffers. Only for
    /// comparison in benchmarks.
    pub fn unbounded() -> Self {
        RocksDbResources {
            shared: None,
            rows: None,
        }
    }

    /// Current memory use of all memtables under the bound, if bounded.
    pub fn memtable_usage(&self) -> Option<usize> {
        self.shared.as_ref().map(|(_, wbm)| wbm.get_usage())
    }

    /// Current memory use of the shared cache (blocks and charged memtables), if bounded.
    pub fn cache_usage(&self) -> Option<usize> {
        self.shared.as_ref().map(|(c, _)| c.get_usage())
    }

    /// Bytes held by the row cache, if there is one.
    pub fn row_cache_usage(&self) -> Option<u64> {
        self.rows.as_ref().map(|r| r.usage())
    }

    pub(crate) fn row_cache(&self) -> Option<&RowCache> {
        self.rows.as_deref()
    }

    pub(crate) fn db_options(&self) -> Result<Options, rocksdb::Error> {
        let mut base = Options::default();
        base.create_if_missing(true);
        base.create_missing_column_families(true);
        // A consistent on-disk cut across stores and their offsets.
        base.set_atomic_flush(true);
        base.set_max_background_jobs(2);
        if let Some((_, wbm)) = &self.shared {
            base.set_write_buffer_manager(wbm);
        }
        // Not exposed by the Rust API: without it, dropping a database would flush memtables,
        // which a crash cannot do. Clean closes flush explicitly.
        let mut options = base.get_options_from_string("avoid_flush_during_shutdown=true")?;
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        if let Some((_, wbm)) = &self.shared {
            options.set_write_buffer_manager(wbm);
        }
        Ok(options)
    }

    pub(crate) fn cf_options(&self) -> Options {
        let mut o = Options::default();
        o.set_compression_type(DBCompressionType::Lz4);
        if let Some((cache, _)) = &self.shared {
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(cache);
            // Index and filter blocks count against the cache instead of growing per table.
            table.set_cache_index_and_filter_blocks(true);
            table.set_pin_l0_filter_and_index_blocks_in_cache(true);
            o.set_block_based_table_factory(&table);
            o.set_write_buffer_size(8 << 20);
        }
        o
    }
}
