//! The runtime's clock: what commit intervals, task idling and timeouts are measured on.

use std::fmt;
use std::time::Instant;

/// Milliseconds on a monotonic clock. Real clients use the system clock; the simulated cluster
/// its own, advanced by the simulation, so that a seeded run takes the same path every time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Milliseconds since some fixed point.
    fn now_ms(&self) -> u64;
}

/// The system's monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    start: Instant,
}

impl SystemClock {
    /// A clock counting from now.
    pub fn new() -> Self {
        SystemClock {
            start: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}
