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

/// What one [`ChangelogReader::read`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadOutcome {
    /// Records at or after the offset asked for, in order; offsets may have gaps
    /// (transaction markers).
    Records(Vec<ChangelogRecord>),
    /// Nothing more: the reader reached the partition's end.
    CaughtUp,
    /// Nothing yet, before the end: the broker has not delivered it. Ask again.
    Waiting,
}

/// Reads committed changelog records (a restore consumer, or the test driver's captured topics).
/// Every call returns within about one fetch: restoration is stepped between polls of the
/// group consumer, so no call may wait for long.
pub(crate) trait ChangelogReader {
    /// The offset after the last committed record of the partition.
    fn end_offset(&mut self, topic: &str, partition: i32) -> Result<i64, StreamsError>;

    /// Up to `max` records at or after offset `from`.
    fn read(
        &mut self,
        topic: &str,
        partition: i32,
        from: i64,
        max: usize,
    ) -> Result<ReadOutcome, StreamsError>;
}

/// How long a changelog may yield nothing before its end offset is reached.
pub(crate) const STALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// How long an open transaction may hold a changelog's committed end below the offset the
/// committed input offsets vouch for: longer than any producer's `transaction.timeout.ms`
/// plus the coordinator's abort of it.
pub(crate) const END_WAIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);

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
