//! `JoinWindows`: the time bounds of stream-stream joins.

use crate::topology::JoinWindowsSpec;
use crate::windows::millis;
use std::time::Duration;

/// Which records of two streams join (Kafka Streams' `JoinWindows`): records whose timestamps
/// differ by at most the time difference (by default symmetric; `before` / `after` make it
/// asymmetric). Records may arrive out of order by up to the grace period. Left and outer joins
/// emit a record without a partner once stream time passes its window plus grace (KIP-633).
///
/// ```
/// use sluice_dsl::JoinWindows;
/// use std::time::Duration;
/// let w = JoinWindows::of_time_difference_and_grace(Duration::from_secs(15), Duration::from_secs(5))
///     .before(Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinWindows {
    pub(crate) spec: JoinWindowsSpec,
}

impl JoinWindows {
    /// Records at most `difference` apart join; out-of-order records up to `grace` late still
    /// join.
    pub fn of_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        JoinWindows {
            spec: JoinWindowsSpec {
                before_ms: millis(difference),
                after_ms: millis(difference),
                grace_ms: millis(grace),
            },
        }
    }

    /// Records at most `difference` apart join; no grace for out-of-order records.
    pub fn of_time_difference_with_no_grace(difference: Duration) -> Self {
        Self::of_time_difference_and_grace(difference, Duration::ZERO)
    }

    /// How much earlier than a left record a right record may be.
    pub fn before(mut self, before: Duration) -> Self {
        self.spec.before_ms = millis(before);
        self
    }

    /// How much later than a left record a right record may be.
    pub fn after(mut self, after: Duration) -> Self {
        self.spec.after_ms = millis(after);
        self
    }

    pub(crate) fn invalid_reason(&self) -> Option<String> {
        let s = self.spec;
        if s.before_ms + s.after_ms < 0 || s.grace_ms < 0 {
            Some("JoinWindows must span a non-negative interval and have a non-negative grace".into())
        } else {
            None
        }
    }
}
