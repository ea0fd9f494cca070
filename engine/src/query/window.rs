//! [`ReadOnlyWindowStore`]: a typed, read-only view of a windowed aggregation's store across
//! the instance's active tasks.

use super::target::QueryTarget;
use super::MAX_RANGE_ENTRIES;
use crate::error::StreamsError;
use sluice_dsl::dynamic::Data;
use sluice_dsl::windows::{Window, Windowed};
use sluice_state::{Committed, WindowSchema};

/// The window store of a windowed aggregation of a running instance, read-only and typed
/// (Kafka Streams' `ReadOnlyWindowStore`). Reads committed state only, of this instance's
/// tasks; windows that expired (retention) by the task's committed stream time are not
/// returned. Unavailable while the instance is not `Running` or a task holding the store
/// restores (see [`ReadOnlyKeyValueStore`](super::ReadOnlyKeyValueStore)).
///
/// ```no_run
/// # use sluice_engine::Streams;
/// # fn demo(streams: &Streams) -> Result<(), sluice_engine::StreamsError> {
/// // Transactions per card in 5-minute windows, the last hour of them.
/// let velocity = streams.window_store::<String, i64>("tx-velocity-store")?;
/// let now = 1_700_000_000_000;
/// for (window, count) in velocity.fetch(&"card-1".to_string(), now - 3_600_000, now)? {
///     println!("{}..{}: {count}", window.start, window.end);
/// }
/// # Ok(()) }
/// ```
pub struct ReadOnlyWindowStore<K, V> {
    target: QueryTarget<K, V>,
    schema: WindowSchema,
    size_ms: i64,
}

impl<K: Data + Clone, V: 'static> ReadOnlyWindowStore<K, V> {
    pub(crate) fn new(target: QueryTarget<K, V>, schema: WindowSchema, size_ms: i64) -> Self {
        ReadOnlyWindowStore {
            target,
            schema,
            size_ms,
        }
    }

    /// `key`'s windows with `from <= start <= to`, by start.
    pub fn fetch(&self, key: &K, from: i64, to: i64) -> Result<Vec<(Window, V)>, StreamsError> {
        let t = &self.target;
        let Some(key_bytes) = t.key_bytes(key)? else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        t.visit(|kv, stream_time| {
            found.extend(
                self.schema
                    .fetch(&Committed(kv), &key_bytes, from, to, stream_time)
                    .map_err(|e| t.unreadable(e))?,
            );
            Ok(())
        })?;
        found.sort_by_key(|(start, _)| *start);
        found
            .into_iter()
            .map(|(start, v)| {
                let value = t.codec.decode_value(&v).map_err(|e| t.unreadable(e))?;
                Ok((Window::new(start, start + self.size_ms), value))
            })
            .collect()
    }

    /// Up to `limit` (at most [`MAX_RANGE_ENTRIES`]) windows of any key with
    /// `from <= start <= to`, by start, then serialized key.
    pub fn fetch_all(&self, from: i64, to: i64, limit: usize) -> Result<Vec<(Windowed<K>, V)>, StreamsError> {
        let t = &self.target;
        let mut entries = Vec::new();
        t.visit(|kv, stream_time| {
            entries.extend(
                self.schema
                    .fetch_all(&Committed(kv), from, to, stream_time)
                    .map_err(|e| t.unreadable(e))?,
            );
            Ok(())
        })?;
        entries.sort_by(|a, b| (a.start, &a.key).cmp(&(b.start, &b.key)));
        entries.truncate(limit.min(MAX_RANGE_ENTRIES));
        entries
            .into_iter()
            .map(|e| {
                let key = t.codec.decode_key(&e.key).map_err(|x| t.unreadable(x))?;
                let value = t.codec.decode_value(&e.value).map_err(|x| t.unreadable(x))?;
                Ok((
                    Windowed::new(key, Window::new(e.start, e.start + self.size_ms)),
                    value,
                ))
            })
            .collect()
    }
}
