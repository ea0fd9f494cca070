//! How far a windowed aggregation has emitted final results (`EmitStrategy::on_window_close`),
//! kept in a logged store so that a restart does not emit a window twice.

use super::ProcessorContext;
use crate::error::StreamsError;

const KEY: &[u8] = b"emitted-through";

pub(crate) struct EmitProgress {
    store: usize,
    /// `None`: not read yet; `Some(None)`: nothing emitted yet.
    cached: Option<Option<i64>>,
}

impl EmitProgress {
    pub(crate) fn new(store: usize) -> Self {
        EmitProgress { store, cached: None }
    }

    /// The cut-off of the last emission, if any.
    pub(crate) fn get(&mut self, ctx: &mut ProcessorContext<'_>) -> Result<Option<i64>, StreamsError> {
        if let Some(v) = self.cached {
            return Ok(v);
        }
        let task = ctx.task;
        let stored = ctx
            .stores
            .kv(self.store)
            .get(KEY)
            .map_err(|source| StreamsError::Store { task, source })?;
        let v = stored.and_then(|b| b.try_into().ok().map(i64::from_be_bytes));
        self.cached = Some(v);
        Ok(v)
    }

    pub(crate) fn set(&mut self, ctx: &mut ProcessorContext<'_>, cutoff: i64) {
        ctx.stores.kv(self.store).put(KEY, &cutoff.to_be_bytes());
        self.cached = Some(Some(cutoff));
    }

    /// Forgets the cached value (its store's pending write was aborted).
    pub(crate) fn abort(&mut self) {
        self.cached = None;
    }
}
