//! `Consumed`: how a source topic is read.

use crate::dynamic::{downcast_ref, Data, TimestampExtractorFn};
use crate::serde::Serde;
use std::sync::Arc;

/// Where a source starts when its consumer group has no committed offset
/// (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AutoOffsetReset {
    /// The oldest retained record.
    Earliest,
    /// Only records written from now on.
    Latest,
}

/// How a source topic is read (Kafka Streams' `Consumed`): serdes, an optional event-time
/// extractor, an offset-reset policy and a node name.
///
/// ```
/// use sluice_dsl::{Consumed, serde::Serde};
/// let c: Consumed<String, i64> = Consumed::with(Serde::string(), Serde::i64())
///     .with_timestamp_extractor(|_key, value, _record_ts, _partition_time| *value);
/// ```
pub struct Consumed<K, V> {
    pub(crate) key_serde: Serde<K>,
    pub(crate) value_serde: Serde<V>,
    pub(crate) timestamp_extractor: Option<TimestampExtractorFn>,
    pub(crate) offset_reset: Option<AutoOffsetReset>,
    pub(crate) name: Option<String>,
}

impl<K: Data, V: Data> Consumed<K, V> {
    /// Reads keys and values with these serdes.
    pub fn with(key_serde: Serde<K>, value_serde: Serde<V>) -> Self {
        Consumed {
            key_serde,
            value_serde,
            timestamp_extractor: None,
            offset_reset: None,
            name: None,
        }
    }

    /// Takes event time from the record instead of its Kafka timestamp:
    /// `f(key, value, record_timestamp, partition_time) -> event time (ms)`.
    pub fn with_timestamp_extractor<F>(mut self, f: F) -> Self
    where
        F: Fn(&K, &V, i64, i64) -> i64 + Send + Sync + 'static,
    {
        self.timestamp_extractor = Some(Arc::new(move |k, v, ts, pt| {
            f(downcast_ref::<K>(k), downcast_ref::<V>(v), ts, pt)
        }));
        self
    }

    /// Overrides `auto.offset.reset` for this source.
    pub fn with_offset_reset_policy(mut self, policy: AutoOffsetReset) -> Self {
        self.offset_reset = Some(policy);
        self
    }

    /// Names the source node.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}
