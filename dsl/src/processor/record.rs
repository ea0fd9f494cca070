//! The records a [`Processor`](super::Processor) receives and forwards.

use crate::headers::Headers;

/// A record in the Processor API (Kafka Streams' `api.Record`): key, value, timestamp and
/// headers. A null value (a tombstone) is `None`.
///
/// ```
/// use sluice_dsl::processor::Record;
///
/// let r = Record::new("card-1".to_string(), Some(12_i64), 1_000);
/// let doubled = r.clone().with_value(r.value.map(|v| v * 2));
/// assert_eq!(doubled.value, Some(24));
/// assert_eq!(doubled.timestamp, 1_000);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Record<K, V> {
    /// The key.
    pub key: K,
    /// The value; `None` is null.
    pub value: Option<V>,
    /// Event time, ms since the epoch.
    pub timestamp: i64,
    /// Headers (forwarded records keep them unless replaced).
    pub headers: Headers,
}

impl<K, V> Record<K, V> {
    /// A record without headers.
    pub fn new(key: K, value: Option<V>, timestamp: i64) -> Self {
        Record {
            key,
            value,
            timestamp,
            headers: Headers::new(),
        }
    }

    /// The same record with another key (and key type).
    pub fn with_key<K2>(self, key: K2) -> Record<K2, V> {
        Record {
            key,
            value: self.value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// The same record with another value (and value type).
    pub fn with_value<V2>(self, value: Option<V2>) -> Record<K, V2> {
        Record {
            key: self.key,
            value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// The same record at another time.
    pub fn with_timestamp(self, timestamp: i64) -> Self {
        Record { timestamp, ..self }
    }

    /// The same record with other headers.
    pub fn with_headers(self, headers: Headers) -> Self {
        Record { headers, ..self }
    }
}

/// A record whose key a [`FixedKeyProcessor`](super::FixedKeyProcessor) cannot change (Kafka
/// Streams' `FixedKeyRecord`): it is read with [`key`](Self::key), and only value, timestamp and
/// headers can be replaced, so the stream needs no repartitioning after `process_values`.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedKeyRecord<K, V> {
    key: K,
    /// The value; `None` is null.
    pub value: Option<V>,
    /// Event time, ms since the epoch.
    pub timestamp: i64,
    /// Headers.
    pub headers: Headers,
}

impl<K, V> FixedKeyRecord<K, V> {
    pub(crate) fn new(key: K, value: Option<V>, timestamp: i64, headers: Headers) -> Self {
        FixedKeyRecord {
            key,
            value,
            timestamp,
            headers,
        }
    }

    /// The key.
    pub fn key(&self) -> &K {
        &self.key
    }

    pub(crate) fn into_parts(self) -> (K, Option<V>, i64, Headers) {
        (self.key, self.value, self.timestamp, self.headers)
    }

    /// The same record with another value (and value type).
    pub fn with_value<V2>(self, value: Option<V2>) -> FixedKeyRecord<K, V2> {
        FixedKeyRecord {
            key: self.key,
            value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// The same record at another time.
    pub fn with_timestamp(self, timestamp: i64) -> Self {
        FixedKeyRecord { timestamp, ..self }
    }

    /// The same record with other headers.
    pub fn with_headers(self, headers: Headers) -> Self {
        FixedKeyRecord { headers, ..self }
    }
}

/// Where the record being processed came from (Kafka Streams' `RecordMetadata`): none during a
/// punctuation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The input topic.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
}
