//! Windows: `TimeWindows` (tumbling and hopping), `SlidingWindows`, `SessionWindows`, the
//! `Windowed<K>` keys of windowed tables, and how their results are emitted.

mod emit;
mod session_windows;
mod sliding_windows;
mod time_windows;
mod windowed;

pub use emit::{BufferConfig, EmitStrategy, Suppressed};
pub use session_windows::SessionWindows;
pub use sliding_windows::SlidingWindows;
pub use time_windows::TimeWindows;
pub use windowed::{Window, Windowed};

use std::time::Duration;

pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// How windows are computed, as the engine needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WindowDefinition {
    /// Fixed-size windows every `advance_ms` (tumbling when `advance_ms == size_ms`);
    /// `[start, start + size)`.
    Time {
        /// Window length.
        size_ms: i64,
        /// Distance between window starts.
        advance_ms: i64,
        /// How long after a window ends late records are still accepted.
        grace_ms: i64,
    },
    /// Windows aligned to record timestamps covering `time_difference_ms`, both bounds
    /// inclusive (Kafka Streams KIP-450).
    Sliding {
        /// Maximum time difference between records of one window.
        time_difference_ms: i64,
        /// Grace period.
        grace_ms: i64,
    },
    /// Per-key sessions of activity separated by gaps longer than `gap_ms`.
    Session {
        /// Inactivity gap.
        gap_ms: i64,
        /// Grace period.
        grace_ms: i64,
    },
}

impl WindowDefinition {
    /// The time windows containing `timestamp`, by ascending start (none start before 0); empty
    /// for sliding and session windows, which depend on other records.
    pub fn windows_for(&self, timestamp: i64) -> Vec<Window> {
        self.iter_windows_for(timestamp).collect()
    }

    /// [`windows_for`](Self::windows_for) without collecting them (a processor's per-record
    /// path allocates nothing for them).
    pub fn iter_windows_for(&self, timestamp: i64) -> impl Iterator<Item = Window> {
        let (size_ms, advance_ms, first) = match *self {
            WindowDefinition::Time {
                size_ms, advance_ms, ..
            } if size_ms > 0 && advance_ms > 0 => (
                size_ms,
                advance_ms,
                Some((timestamp - size_ms + advance_ms).max(0) / advance_ms * advance_ms),
            ),
            // Sliding and session windows depend on other records.
            _ => (0, 1, None),
        };
        std::iter::successors(first, move |start| start.checked_add(advance_ms))
            .take_while(move |&start| start <= timestamp)
            .map(move |start| Window::new(start, start + size_ms))
    }

    /// The grace period.
    pub fn grace_ms(&self) -> i64 {
        match *self {
            WindowDefinition::Time { grace_ms, .. }
            | WindowDefinition::Sliding { grace_ms, .. }
            | WindowDefinition::Session { grace_ms, .. } => grace_ms,
        }
    }

    /// The retention a store needs at least: long enough to accept every record the grace
    /// period admits.
    pub fn min_retention_ms(&self) -> i64 {
        match *self {
            WindowDefinition::Time {
                size_ms, grace_ms, ..
            } => size_ms + grace_ms,
            WindowDefinition::Sliding {
                time_difference_ms,
                grace_ms,
            } => 2 * time_difference_ms + grace_ms,
            WindowDefinition::Session { gap_ms, grace_ms } => gap_ms + grace_ms,
        }
    }

    /// Why the definition is invalid, if it is.
    pub(crate) fn invalid_reason(&self) -> Option<String> {
        match *self {
            WindowDefinition::Time {
                size_ms,
                advance_ms,
                grace_ms,
            } => {
                if size_ms <= 0 {
                    Some("TimeWindows size must be positive".into())
                } else if advance_ms <= 0 || advance_ms > size_ms {
                    Some(format!(
                        "TimeWindows advance must be in (0, size = {size_ms} ms], got {advance_ms} ms"
                    ))
                } else if grace_ms < 0 {
                    Some("grace must not be negative".into())
                } else {
                    None
                }
            }
            WindowDefinition::Sliding {
                time_difference_ms,
                grace_ms,
            } => (time_difference_ms <= 0 || grace_ms < 0)
                .then(|| "SlidingWindows time difference must be positive and grace not negative".into()),
            WindowDefinition::Session { gap_ms, grace_ms } => (gap_ms <= 0 || grace_ms < 0)
                .then(|| "SessionWindows inactivity gap must be positive and grace not negative".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_windows_for_a_timestamp_are_every_window_holding_it() {
        for (size_ms, advance_ms) in [(10, 10), (10, 3), (10, 1), (7, 7), (1, 1)] {
            let def = WindowDefinition::Time {
                size_ms,
                advance_ms,
                grace_ms: 0,
            };
            for timestamp in -3..40 {
                // Reference: every start that is a multiple of the advance, not negative, and
                // whose window [start, start + size) holds the timestamp.
                let expected: Vec<Window> = (0..=timestamp.max(0))
                    .filter(|s| s % advance_ms == 0 && *s <= timestamp && timestamp < s + size_ms)
                    .map(|s| Window::new(s, s + size_ms))
                    .collect();
                assert_eq!(
                    def.windows_for(timestamp),
                    expected,
                    "{size_ms}/{advance_ms} at {timestamp}"
                );
                assert!(def.iter_windows_for(timestamp).eq(expected));
            }
        }
        let sliding = WindowDefinition::Sliding {
            time_difference_ms: 10,
            grace_ms: 0,
        };
        assert_eq!(sliding.iter_windows_for(i64::MAX).count(), 0);
    }
}
