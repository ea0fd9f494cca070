//! Explicit state machines: the application instance's and each stream thread's, with Kafka
//! Streams' states and valid transitions, and a board that derives the former from the latter.

use std::fmt;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The state of a [`Streams`](super::Streams) instance (Kafka Streams' `KafkaStreams.State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamsState {
    /// Built, not started.
    Created,
    /// Threads are (re)joining the group or restoring state.
    Rebalancing,
    /// Every thread is processing its tasks.
    Running,
    /// Closing: committing and leaving the group.
    PendingShutdown,
    /// Closed.
    NotRunning,
    /// A thread failed and the error policy is shutting the instance down.
    PendingError,
    /// Stopped after an error.
    Error,
}

impl StreamsState {
    /// Kafka Streams' transition table.
    pub fn can_become(self, next: StreamsState) -> bool {
        use StreamsState::*;
        matches!(
            (self, next),
            (Created, Rebalancing | PendingError | PendingShutdown)
                | (
                    Rebalancing,
                    Running | Rebalancing | PendingError | PendingShutdown
                )
                | (Running, Rebalancing | PendingError | PendingShutdown)
                | (PendingShutdown, NotRunning)
                | (PendingError, Error)
                | (Error, PendingShutdown)
        )
    }

    /// True once the instance stopped for good.
    pub fn is_terminal(self) -> bool {
        matches!(self, StreamsState::NotRunning | StreamsState::Error)
    }
}

impl fmt::Display for StreamsState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The state of one stream thread (Kafka Streams' `StreamThread.State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ThreadState {
    Created,
    Starting,
    PartitionsRevoked,
    PartitionsAssigned,
    Running,
    PendingShutdown,
    Dead,
}

impl ThreadState {
    pub(crate) fn can_become(self, next: ThreadState) -> bool {
        use ThreadState::*;
        matches!(
            (self, next),
            (Created, Starting | PendingShutdown)
                | (Starting, PartitionsRevoked | PartitionsAssigned | PendingShutdown)
                | (
                    PartitionsRevoked,
                    PartitionsRevoked | PartitionsAssigned | PendingShutdown
                )
                | (
                    PartitionsAssigned,
                    PartitionsRevoked | PartitionsAssigned | Running | PendingShutdown
                )
                | (Running, PartitionsRevoked | PartitionsAssigned | PendingShutdown)
                | (PendingShutdown, Dead)
        )
    }
}

type Listener = Box<dyn Fn(StreamsState, StreamsState) + Send + Sync>;

struct Board {
    state: StreamsState,
    threads: Vec<ThreadState>,
}

/// The instance's state and its threads' states; the instance is Rebalancing while any live
/// thread is, Running once all are.
pub(crate) struct StateBoard {
    board: Mutex<Board>,
    changed: Condvar,
    listener: Mutex<Option<Listener>>,
    /// Where the states are published as gauges, once attached.
    metrics: std::sync::OnceLock<crate::metrics::Metrics>,
}

impl StateBoard {
    pub(crate) fn new() -> Self {
        StateBoard {
            board: Mutex::new(Board {
                state: StreamsState::Created,
                threads: Vec::new(),
            }),
            changed: Condvar::new(),
            listener: Mutex::new(None),
            metrics: std::sync::OnceLock::new(),
        }
    }

    /// Publishes the instance's and threads' states in `metrics` from now on:
    /// `sluice_instance_state{state}` and `sluice_stream_thread_state{thread,state}`, 1 for the
    /// current state and 0 for states left (Prometheus' state-set pattern).
    pub(crate) fn attach_metrics(&self, metrics: crate::metrics::Metrics) {
        let b = self.board.lock().expect("state lock poisoned");
        if self.metrics.set(metrics).is_ok() {
            self.publish_instance(None, b.state);
            for (i, s) in b.threads.iter().enumerate() {
                self.publish_thread(i, None, *s);
            }
        }
    }

    fn publish_instance(&self, old: Option<StreamsState>, new: StreamsState) {
        let Some(m) = self.metrics.get() else { return };
        let gauge = |s: StreamsState| {
            m.gauge(
                crate::metrics::names::INSTANCE_STATE,
                "1 for the instance's current state",
                &[("state", &s.to_string())],
            )
        };
        if let Some(old) = old {
            gauge(old).set(0);
        }
        gauge(new).set(1);
    }

    fn publish_thread(&self, index: usize, old: Option<ThreadState>, new: ThreadState) {
        let Some(m) = self.metrics.get() else { return };
        let thread = index.to_string();
        let gauge = |s: ThreadState| {
            m.gauge(
                crate::metrics::names::THREAD_STATE,
                "1 for a stream thread's current state",
                &[("thread", &thread), ("state", &format!("{s:?}"))],
            )
        };
        if let Some(old) = old {
            gauge(old).set(0);
        }
        gauge(new).set(1);
    }

    pub(crate) fn state(&self) -> StreamsState {
        self.board.lock().expect("state lock poisoned").state
    }

    pub(crate) fn set_listener(&self, listener: Listener) {
        *self.listener.lock().expect("listener lock poisoned") = Some(listener);
    }

    /// Moves the instance to `next` if that is a valid transition; returns whether it moved.
    pub(crate) fn transition(&self, next: StreamsState) -> bool {
        let mut b = self.board.lock().expect("state lock poisoned");
        self.transition_locked(&mut b, next)
    }

    fn transition_locked(&self, b: &mut Board, next: StreamsState) -> bool {
        let old = b.state;
        if old == next && next != StreamsState::Rebalancing {
            return false;
        }
        if !old.can_become(next) {
            return false;
        }
        b.state = next;
        self.publish_instance(Some(old), next);
        tracing::info!(from = %old, to = %next, "streams state");
        if let Some(l) = self.listener.lock().expect("listener lock poisoned").as_ref() {
            l(old, next);
        }
        self.changed.notify_all();
        true
    }

    /// Registers thread slot `index`.
    pub(crate) fn add_thread(&self, index: usize) {
        let mut b = self.board.lock().expect("state lock poisoned");
        if b.threads.len() <= index {
            b.threads.resize(index + 1, ThreadState::Created);
        }
        let old = b.threads[index];
        b.threads[index] = ThreadState::Created;
        self.publish_thread(index, Some(old), ThreadState::Created);
    }

    /// Records a thread's transition (invalid ones are ignored and logged) and derives the
    /// instance's state.
    pub(crate) fn set_thread(&self, index: usize, next: ThreadState) {
        let mut b = self.board.lock().expect("state lock poisoned");
        let old = b.threads[index];
        if old == next {
            return;
        }
        if !old.can_become(next) {
            tracing::debug!(thread = index, ?old, ?next, "ignoring invalid thread transition");
            return;
        }
        b.threads[index] = next;
        self.publish_thread(index, Some(old), next);
        let live: Vec<ThreadState> = b
            .threads
            .iter()
            .copied()
            .filter(|s| !matches!(s, ThreadState::Dead | ThreadState::PendingShutdown))
            .collect();
        let derived = if live.is_empty() {
            None
        } else if live.iter().all(|s| *s == ThreadState::Running) {
            Some(StreamsState::Running)
        } else {
            Some(StreamsState::Rebalancing)
        };
        if let Some(d) = derived {
            if matches!(b.state, StreamsState::Rebalancing | StreamsState::Running) && b.state != d {
                self.transition_locked(&mut b, d);
            }
        }
        self.changed.notify_all();
    }

    /// Waits until the instance's state satisfies `pred`, or `timeout` passes.
    pub(crate) fn wait_for(&self, timeout: Duration, pred: impl Fn(StreamsState) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut b = self.board.lock().expect("state lock poisoned");
        loop {
            if pred(b.state) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            b = self
                .changed
                .wait_timeout(b, deadline - now)
                .expect("state lock poisoned")
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_state_follows_threads() {
        let board = StateBoard::new();
        board.add_thread(0);
        board.add_thread(1);
        assert!(board.transition(StreamsState::Rebalancing));
        for i in 0..2 {
            board.set_thread(i, ThreadState::Starting);
            board.set_thread(i, ThreadState::PartitionsAssigned);
        }
        board.set_thread(0, ThreadState::Running);
        assert_eq!(board.state(), StreamsState::Rebalancing);
        board.set_thread(1, ThreadState::Running);
        assert_eq!(board.state(), StreamsState::Running);
        board.set_thread(1, ThreadState::PartitionsRevoked);
        assert_eq!(board.state(), StreamsState::Rebalancing);
        // Invalid transitions are refused.
        board.set_thread(0, ThreadState::Created);
        assert!(!board.transition(StreamsState::NotRunning));
        assert!(board.transition(StreamsState::PendingShutdown));
        assert!(board.transition(StreamsState::NotRunning));
        assert!(board.state().is_terminal());
    }
}
