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

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod test_rng;

pub use backend::{KvBackend, KvIter, WriteBatch};
pub use error::StoreError;
pub use kv_store::{KeyValueStore, MergedIter};
pub use memory::MemoryBackend;

#[cfg(test)]
mod tests {
    #[test]
    fn memory_backend_passes_conformance() {
        crate::conformance::run_all(&mut || Box::new(crate::MemoryBackend::new()));
    }
}
