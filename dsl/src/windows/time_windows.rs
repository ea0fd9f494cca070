//! `TimeWindows`: tumbling and hopping windows.

use super::{millis, Window, WindowDefinition};
use std::time::Duration;

/// Fixed-size windows aligned to the epoch (Kafka Streams' `TimeWindows`): tumbling by default,
/// hopping with [`advance_by`](Self::advance_by). A window `[start, start + size)` accepts
/// records until stream time reaches its end plus the grace period.
///
/// ```
/// use sluice_dsl::windows::TimeWindows;
/// use std::time::Duration;
///
/// let tumbling = TimeWindows::of_size_with_no_grace(Duration::from_secs(300));
/// assert_eq!(tumbling.windows_for(301_000).len(), 1);
/// let hopping = TimeWindows::of_size_and_grace(Duration::from_secs(300), Duration::from_secs(60))
///     .advance_by(Duration::from_secs(60));
/// assert_eq!(hopping.windows_for(301_000).len(), 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindows {
    pub(crate) size_ms: i64,
    pub(crate) advance_ms: i64,
    pub(crate) grace_ms: i64,
}

impl TimeWindows {
    /// Tumbling windows of `size` that close as soon as stream time passes their end.
    pub fn of_size_with_no_grace(size: Duration) -> Self {
        Self::of_size_and_grace(size, Duration::ZERO)
    }

    /// Tumbling windows of `size` that accept out-of-order records for `grace` after their end.
    pub fn of_size_and_grace(size: Duration, grace: Duration) -> Self {
        TimeWindows {
            size_ms: millis(size),
            advance_ms: millis(size),
            grace_ms: millis(grace),
        }
    }

    /// Hopping windows: a new window every `advance` (at most the size).
    pub fn advance_by(self, advance: Duration) -> Self {
        TimeWindows {
            advance_ms: millis(advance),
            ..self
        }
    }

    /// Window length (ms).
    pub fn size_ms(&self) -> i64 {
        self.size_ms
    }

    /// Grace period (ms).
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    /// The windows containing `timestamp`, by ascending start (none start before 0).
    pub fn windows_for(&self, timestamp: i64) -> Vec<Window> {
        self.definition().windows_for(timestamp)
    }

    pub(crate) fn definition(&self) -> WindowDefinition {
        WindowDefinition::Time {
            size_ms: self.size_ms,
            advance_ms: self.advance_ms,
            grace_ms: self.grace_ms,
        }
    }
}
