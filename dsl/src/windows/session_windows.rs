//! `SessionWindows`: per-key sessions of activity.

use super::{millis, WindowDefinition};
use std::time::Duration;

/// Sessions (Kafka Streams' `SessionWindows`): a key's records belong to one session while each
/// is within `gap` of the next; a record that bridges two sessions merges them, also when it
/// arrives out of order. A session `[first, last]` closes when stream time passes
/// `last + gap + grace`.
///
/// ```
/// use sluice_dsl::windows::SessionWindows;
/// use std::time::Duration;
/// let s = SessionWindows::of_inactivity_gap_and_grace(Duration::from_secs(300), Duration::from_secs(30));
/// assert_eq!(s.inactivity_gap_ms(), 300_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWindows {
    pub(crate) gap_ms: i64,
    pub(crate) grace_ms: i64,
}

impl SessionWindows {
    /// Sessions split by inactivity longer than `gap`, accepting records up to `grace` late.
    pub fn of_inactivity_gap_and_grace(gap: Duration, grace: Duration) -> Self {
        SessionWindows {
            gap_ms: millis(gap),
            grace_ms: millis(grace),
        }
    }

    /// Sessions split by inactivity longer than `gap`, without grace.
    pub fn of_inactivity_gap_with_no_grace(gap: Duration) -> Self {
        Self::of_inactivity_gap_and_grace(gap, Duration::ZERO)
    }

    /// The inactivity gap (ms).
    pub fn inactivity_gap_ms(&self) -> i64 {
        self.gap_ms
    }

    pub(crate) fn definition(&self) -> WindowDefinition {
        WindowDefinition::Session {
            gap_ms: self.gap_ms,
            grace_ms: self.grace_ms,
        }
    }
}
