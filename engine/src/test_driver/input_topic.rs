//! `TestInputTopic`: pipes typed records into the test driver.

use super::{DriverState, TestRecord};
use crate::error::StreamsError;
use crate::record::Headers;
use sluice_dsl::serde::Serde;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

/// Pipes records into one topic of a [`TopologyTestDriver`](super::TopologyTestDriver).
///
/// Records piped without a timestamp get the topic's current time, which starts at 0 and moves
/// by the auto-advance step after each record (0 unless [`with_auto_advance`](Self::with_auto_advance)).
/// `pipe_*` methods panic if processing fails, like an assertion; `try_pipe_*` return the error.
pub struct TestInputTopic<K, V> {
    state: Rc<RefCell<DriverState>>,
    topic: String,
    key_serde: Serde<K>,
    value_serde: Serde<V>,
    time: Cell<i64>,
    advance: Cell<i64>,
}

impl<K: 'static, V: 'static> TestInputTopic<K, V> {
    pub(crate) fn new(
        state: Rc<RefCell<DriverState>>,
        topic: &str,
        key_serde: Serde<K>,
        value_serde: Serde<V>,
    ) -> Self {
        TestInputTopic {
            state,
            topic: topic.to_string(),
            key_serde,
            value_serde,
            time: Cell::new(0),
            advance: Cell::new(0),
        }
    }

    /// Sets the current time and the step it advances by after each record.
    pub fn with_auto_advance(self, start_timestamp: i64, advance: Duration) -> Self {
        self.time.set(start_timestamp);
        self.advance.set(advance.as_millis() as i64);
        self
    }

    /// Moves the current time forward.
    pub fn advance_time(&self, by: Duration) {
        self.time.set(self.time.get() + by.as_millis() as i64);
    }

    fn next_time(&self) -> i64 {
        let t = self.time.get();
        self.time.set(t + self.advance.get());
        t
    }

    /// Pipes `key -> value` at the current time.
    pub fn pipe_input(&self, key: K, value: V) {
        let ts = self.next_time();
        self.try_pipe_record(TestRecord::new(key, value, ts))
            .unwrap_or_else(|e| fail(&e));
    }

    /// Pipes `key -> value` at `timestamp` (ms).
    pub fn pipe_input_at(&self, key: K, value: V, timestamp: i64) {
        self.try_pipe_input_at(key, value, timestamp)
            .unwrap_or_else(|e| fail(&e));
    }

    /// Pipes `key -> value` at `timestamp`, returning a processing error instead of panicking.
    pub fn try_pipe_input_at(&self, key: K, value: V, timestamp: i64) -> Result<(), StreamsError> {
        self.try_pipe_record(TestRecord::new(key, value, timestamp))
    }

    /// Pipes a tombstone (null value) for `key` at `timestamp`.
    pub fn pipe_tombstone_at(&self, key: K, timestamp: i64) {
        self.try_pipe_record(TestRecord::tombstone(key, timestamp))
            .unwrap_or_else(|e| fail(&e));
    }

    /// Pipes each pair at the current time, advancing after each.
    pub fn pipe_key_value_list(&self, pairs: impl IntoIterator<Item = (K, V)>) {
        for (k, v) in pairs {
            self.pipe_input(k, v);
        }
    }

    /// Pipes a full record (timestamp, headers, possibly a null value).
    pub fn pipe_record(&self, record: TestRecord<K, V>) {
        self.try_pipe_record(record).unwrap_or_else(|e| fail(&e));
    }

    /// Pipes a full record, returning a processing error instead of panicking.
    pub fn try_pipe_record(&self, record: TestRecord<K, V>) -> Result<(), StreamsError> {
        let key = self
            .key_serde
            .serialize(&record.key)
            .unwrap_or_else(|e| panic!("test input for {}: cannot serialize key: {e}", self.topic));
        let value = match &record.value {
            Some(v) => self
                .value_serde
                .serialize(v)
                .unwrap_or_else(|e| panic!("test input for {}: cannot serialize value: {e}", self.topic)),
            None => None,
        };
        self.try_pipe_raw(key, value, record.timestamp, record.headers)
    }

    /// Pipes raw bytes, e.g. corrupt input or a null key.
    pub fn try_pipe_raw(
        &self,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<(), StreamsError> {
        self.state
            .borrow_mut()
            .pipe(&self.topic, key, value, timestamp, headers)
    }
}

fn fail(e: &StreamsError) -> ! {
    panic!("processing failed: {e}")
}
