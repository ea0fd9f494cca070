//! Restoring a task's stores from their changelogs before the task processes anything.
//!
//! A store opened with a recorded changelog offset replays only the records after it; a store
//! with no local state replays from the beginning. If the changelog ends before the recorded
//! offset (the topic was recreated), local state cannot be trusted: the store is wiped and
//! replayed in full.

use crate::error::StreamsError;

/// One record of a changelog partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChangelogRecord {
    pub(crate) offset: i64,
    pub(crate) key: Vec<u8>,
    pub(crate) value: Option<Vec<u8>>,
    /// The record timestamp (the value's time, for timestamped stores).
    pub(crate) timestamp: i64,
}

/// Reads committed changelog records (a restore consumer, or the test driver's captured topics).
pub(crate) trait ChangelogReader {
    /// The offset after the last committed record of the partition.
    fn end_offset(&mut self, topic: &str, partition: i32) -> Result<i64, StreamsError>;

    /// Waits until the partition's committed end passes `offset` (an open transaction may hold
    /// it back until the transaction is aborted or committed) and returns the new end; an
    /// error if it does not within the reader's patience.
    fn wait_for_end_past(&mut self, topic: &str, partition: i32, offset: i64) -> Result<i64, StreamsError>;

    /// Up to `max` records at or after offset `from`, in order; offsets may have gaps
    /// (transaction markers). Empty once the reader caught up with the partition.
    fn read(
        &mut self,
        topic: &str,
        partition: i32,
        from: i64,
        max: usize,
    ) -> Result<Vec<ChangelogRecord>, StreamsError>;
}

/// Records applied per batch (one atomic write each).
pub(crate) const RESTORE_BATCH: usize = 10_000;

/// What restoring one store did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoreRestore {
    pub(crate) store: String,
    /// The offset restoration started from.
    pub(crate) from: i64,
    /// Records replayed.
    pub(crate) records: u64,
    /// True if local state was discarded and the changelog replayed in full.
    pub(crate) wiped: bool,
}
