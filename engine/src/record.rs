//! Records: raw input from Kafka, typed-erased records between processors, serialized output.

use sluice_dsl::dynamic::Dyn;
use std::sync::Arc;

pub use sluice_dsl::headers::Headers;

/// A record as read from a topic partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// Topic (as named in the cluster).
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Record timestamp (ms since the epoch).
    pub timestamp: i64,
    /// Key bytes; `None` is a null key.
    pub key: Option<Vec<u8>>,
    /// Value bytes; `None` is a null value (tombstone).
    pub value: Option<Vec<u8>>,
    /// Headers.
    pub headers: Headers,
}

/// A record for a topic, serialized by a sink (or a changelog or dead-letter record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRecord {
    /// Topic (as named in the cluster).
    pub topic: Arc<str>,
    /// Explicit partition (changelogs), or `None` to partition by key.
    pub partition: Option<i32>,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes; `None` is a tombstone.
    pub value: Option<Vec<u8>>,
    /// Timestamp (ms).
    pub timestamp: i64,
    /// Headers.
    pub headers: Headers,
}

/// A record between processors: type-erased key and value. On table edges `old_value` is the
/// key's previous value (Kafka Streams' `Change<V>`); on stream edges it is `None`.
#[derive(Clone)]
pub(crate) struct Record {
    pub key: Dyn,
    /// `None` is a null value (tombstone or delete).
    pub value: Option<Dyn>,
    pub old_value: Option<Dyn>,
    pub timestamp: i64,
    pub headers: Headers,
}

impl Record {
    /// A stream record.
    pub(crate) fn new(key: Dyn, value: Option<Dyn>, timestamp: i64, headers: Headers) -> Self {
        Record {
            key,
            value,
            old_value: None,
            timestamp,
            headers,
        }
    }

    /// Same metadata, new key and value, no old value.
    pub(crate) fn with_key_value(&self, key: Dyn, value: Option<Dyn>) -> Self {
        Record::new(key, value, self.timestamp, self.headers.clone())
    }
}
