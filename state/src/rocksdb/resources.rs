//! Memory shared by every task database of an application instance.

use rocksdb::{BlockBasedOptions, Cache, DBCompressionType, Options, WriteBufferManager};

/// The block cache and write-buffer manager shared by all task databases, so that hundreds of
/// tasks cannot each claim their own memory (the problem of Kafka Streams before 2.3).
///
/// Memtables are charged to the block cache: `block_cache_bytes` bounds both together, and
/// `write_buffer_bytes` (inside it) bounds memtables, past which RocksDB flushes the largest.
/// (Point reads can be answered before RocksDB by a store's read cache:
/// [`KeyValueStore::with_read_cache`](crate::KeyValueStore::with_read_cache).)
#[derive(Clone)]
pub struct RocksDbResources {
    shared: Option<(Cache, WriteBufferManager)>,
}

impl std::fmt::Debug for RocksDbResources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbResources")
            .field("bounded", &self.shared.is_some())
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
        }
    }

    /// RocksDB's defaults per database: each has its own cache and write buffers. Only for
    /// comparison in benchmarks.
    pub fn unbounded() -> Self {
        RocksDbResources { shared: None }
    }

    /// Current memory use of all memtables under the bound, if bounded.
    pub fn memtable_usage(&self) -> Option<usize> {
        self.shared.as_ref().map(|(_, wbm)| wbm.get_usage())
    }

    /// Current memory use of the shared cache (blocks and charged memtables), if bounded.
    pub fn cache_usage(&self) -> Option<usize> {
        self.shared.as_ref().map(|(c, _)| c.get_usage())
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
