//! What every store view shares: the store's codec, the way to the tasks' stores, and the
//! instance's state, with the errors queries answer.

use super::StoreCodec;
use crate::error::StreamsError;
use crate::runtime::query_registry::QueryRegistry;
use crate::runtime::state::StateBoard;
use sluice_state::KeyValueStore;
use std::sync::Arc;

pub(crate) struct QueryTarget<K, V> {
    pub(crate) codec: StoreCodec<K, V>,
    queries: Arc<QueryRegistry>,
    board: Arc<StateBoard>,
}

impl<K, V> QueryTarget<K, V> {
    pub(crate) fn new(codec: StoreCodec<K, V>, queries: Arc<QueryRegistry>, board: Arc<StateBoard>) -> Self {
        QueryTarget {
            codec,
            queries,
            board,
        }
    }

    /// Bytes the store holds that its serdes cannot read (or a key they cannot write).
    pub(crate) fn unreadable(&self, what: impl std::fmt::Display) -> StreamsError {
        StreamsError::StoreAccess {
            store: self.codec.name.clone(),
            reason: what.to_string(),
        }
    }

    /// The stored bytes of `key` (`None`: its serde writes it as null, so no store holds it).
    pub(crate) fn key_bytes(&self, key: &K) -> Result<Option<Vec<u8>>, StreamsError>
    where
        K: sluice_dsl::dynamic::Data + Clone,
        V: 'static,
    {
        self.codec
            .key_bytes(key)
            .map_err(|e| self.unreadable(format_args!("cannot serialize the key: {e}")))
    }

    /// Runs `f` on every local active task's store and its committed stream time, once the
    /// instance is `Running` (else, or while such a task restores: `StoreUnavailable`).
    pub(crate) fn visit(
        &self,
        mut f: impl FnMut(&KeyValueStore, i64) -> Result<(), StreamsError>,
    ) -> Result<(), StreamsError> {
        self.queries.visit(&self.board, &self.codec.name, &mut f)
    }
}
