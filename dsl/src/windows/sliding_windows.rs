//! `SlidingWindows`: windows aligned to record timestamps (KIP-450).

use super::{millis, WindowDefinition};
use std::time::Duration;

/// Windows aligned to records (Kafka Streams' `SlidingWindows`, KIP-450): each record at `t`
/// has a window `[t - difference, t]` (both bounds inclusive), and a window starting at `t + 1`
/// when later records fall within `difference` of it. So every distinct set of records that lie
/// within `difference` of each other has exactly one window, as in Kafka Streams.
///
/// ```
/// use sluice_dsl::windows::SlidingWindows;
/// use std::time::Duration;
/// let w = SlidingWindows::of_time_difference_and_grace(Duration::from_secs(10), Duration::from_secs(2));
/// assert_eq!(w.time_difference_ms(), 10_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindows {
    pub(crate) time_difference_ms: i64,
    pub(crate) grace_ms: i64,
}

impl SlidingWindows {
    /// Windows of records at most `difference` apart, accepting records up to `grace` late.
    pub fn of_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        SlidingWindows {
            time_difference_ms: millis(difference),
            grace_ms: millis(grace),
        }
    }

    /// Windows of records at most `difference` apart, closing as soon as stream time passes.
    pub fn of_time_difference_with_no_grace(difference: Duration) -> Self {
        Self::of_time_difference_and_grace(difference, Duration::ZERO)
    }

    /// The time difference (ms).
    pub fn time_difference_ms(&self) -> i64 {
        self.time_difference_ms
    }

    /// Grace period (ms).
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    pub(crate) fn definition(&self) -> WindowDefinition {
        WindowDefinition::Sliding {
            time_difference_ms: self.time_difference_ms,
            grace_ms: self.grace_ms,
        }
    }
}
