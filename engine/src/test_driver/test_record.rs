//! `TestRecord`: a typed record read from or piped into the test driver.

use crate::record::Headers;

/// A typed record with its timestamp and headers. `value` is `None` for a tombstone.
#[derive(Debug, Clone, PartialEq)]
pub struct TestRecord<K, V> {
    /// Key.
    pub key: K,
    /// Value; `None` is a null value (tombstone).
    pub value: Option<V>,
    /// Timestamp (ms).
    pub timestamp: i64,
    /// Headers.
    pub headers: Headers,
}

impl<K, V> TestRecord<K, V> {
    /// A record with a value.
    pub fn new(key: K, value: V, timestamp: i64) -> Self {
        TestRecord {
            key,
            value: Some(value),
            timestamp,
            headers: Headers::new(),
        }
    }

    /// A tombstone.
    pub fn tombstone(key: K, timestamp: i64) -> Self {
        TestRecord {
            key,
            value: None,
            timestamp,
            headers: Headers::new(),
        }
    }

    /// The same record with headers.
    pub fn with_headers(mut self, headers: Headers) -> Self {
        self.headers = headers;
        self
    }
}
