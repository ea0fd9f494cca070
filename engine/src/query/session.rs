//! [`ReadOnlySessionStore`]: a typed, read-only view of a session aggregation's store across
//! the instance's active tasks.

use super::target::QueryTarget;
use crate::error::StreamsError;
use sluice_dsl::dynamic::Data;
use sluice_dsl::windows::Window;
use sluice_state::{Committed, SessionSchema};

/// The session store of a session aggregation of a running instance, read-only and typed
/// (Kafka Streams' `ReadOnlySessionStore`). Reads committed state only, of this instance's
/// tasks; sessions that expired (retention) by the task's committed stream time are gone.
/// Unavailable while the instance is not `Running` or a task holding the store restores.
///
/// ```no_run
/// # use sluice_engine::Streams;
/// # fn demo(streams: &Streams) -> Result<(), sluice_engine::StreamsError> {
/// let visits = streams.session_store::<String, i64>("visits")?;
/// for (session, clicks) in visits.fetch(&"user-1".to_string())? {
///     println!("{}..{}: {clicks}", session.start, session.end);
/// }
/// # Ok(()) }
/// ```
pub struct ReadOnlySessionStore<K, V> {
    target: QueryTarget<K, V>,
    schema: SessionSchema,
}

impl<K: Data + Clone, V: 'static> ReadOnlySessionStore<K, V> {
    pub(crate) fn new(target: QueryTarget<K, V>, schema: SessionSchema) -> Self {
        ReadOnlySessionStore { target, schema }
    }

    /// `key`'s sessions (start and end: its first and last record's times), by end.
    pub fn fetch(&self, key: &K) -> Result<Vec<(Window, V)>, StreamsError> {
        let t = &self.target;
        let Some(key_bytes) = t.key_bytes(key)? else {
            return Ok(Vec::new());
        };
        let mut sessions = Vec::new();
        t.visit(|kv, stream_time| {
            sessions.extend(
                self.schema
                    .key_sessions(&Committed(kv), &key_bytes, stream_time)
                    .map_err(|e| t.unreadable(e))?,
            );
            Ok(())
        })?;
        sessions.sort_by_key(|s| (s.end, s.start));
        sessions
            .into_iter()
            .map(|s| {
                let value = t.codec.decode_value(&s.value).map_err(|e| t.unreadable(e))?;
                Ok((Window::new(s.start, s.end), value))
            })
            .collect()
    }
}
