//! The in-memory backend: a B-tree, rebuilt from the changelog after a restart.

use crate::backend::{KvBackend, KvIter, WriteBatch};
use crate::error::StoreError;
use std::collections::BTreeMap;
use std::ops::Bound;

/// Committed data in a `BTreeMap`.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
    offset: Option<i64>,
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> Self {
        Self::default()
    }
}

impl KvBackend for MemoryBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.map.get(key).cloned())
    }

    fn range<'a>(&'a self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<KvIter<'a>, StoreError> {
        if crate::bounds::is_empty_range(from, to) {
            return Ok(Box::new(std::iter::empty()));
        }
        let from = from.map(|b| b.to_vec());
        let to = to.map(|b| b.to_vec());
        Ok(Box::new(
            self.map
                .range::<Vec<u8>, _>((from, to))
                .map(|(k, v)| Ok((k.clone(), v.clone()))),
        ))
    }

    fn apply(&mut self, batch: WriteBatch) -> Result<(), StoreError> {
        for (from, to) in batch.delete_ranges {
            let doomed: Vec<Vec<u8>> = self.map.range(from..to).map(|(k, _)| k.clone()).collect();
            for k in doomed {
                self.map.remove(&k);
            }
        }
        for (k, v) in batch.entries {
            match v {
                Some(v) => self.map.insert(k, v),
                None => self.map.remove(&k),
            };
        }
        if batch.changelog_offset.is_some() {
            self.offset = batch.changelog_offset;
        }
        Ok(())
    }

    fn committed_offset(&self) -> Option<i64> {
        self.offset
    }

    fn approximate_num_entries(&self) -> u64 {
        self.map.len() as u64
    }

    fn wipe(&mut self) -> Result<(), StoreError> {
        self.map.clear();
        self.offset = None;
        Ok(())
    }
}
