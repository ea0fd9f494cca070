//! `StreamJoined`: serdes and store names of a stream-stream join.

use crate::dynamic::Data;
use crate::serde::Serde;

/// Serdes and names of a stream-stream join's window stores (Kafka Streams' `StreamJoined`).
/// Serdes left out are the streams' own, else bincode. Names are Kafka Streams': with a store
/// name, the stores are `<store name>-this-join-store` and `<store name>-outer-other-join-store`
/// (left join; `-other-join-store` for an inner join, `-outer-this-join-store` for an outer
/// join) plus `<store name>-left-shared-join-store` (`-outer-shared-join-store`) for waiting
/// records; without, they are named after the join's processors
/// (`KSTREAM-JOINTHIS-0000000004-store`, ...). Give a store name so that the changelog topics
/// keep their names when the topology changes.
///
/// ```
/// use sluice_dsl::{StreamJoined, serde::Serde};
/// let j: StreamJoined<String, i64, String> = StreamJoined::with(Serde::string(), Serde::i64(), Serde::string())
///     .with_store_name("payments-x-logins");
/// ```
pub struct StreamJoined<K, V, VO> {
    pub(crate) key_serde: Option<Serde<K>>,
    pub(crate) value_serde: Option<Serde<V>>,
    pub(crate) other_value_serde: Option<Serde<VO>>,
    pub(crate) name: Option<String>,
    pub(crate) store_name: Option<String>,
}

impl<K: Data, V: Data, VO: Data> Default for StreamJoined<K, V, VO> {
    fn default() -> Self {
        StreamJoined {
            key_serde: None,
            value_serde: None,
            other_value_serde: None,
            name: None,
            store_name: None,
        }
    }
}

impl<K: Data, V: Data, VO: Data> StreamJoined<K, V, VO> {
    /// Serdes of the key and both sides' values.
    pub fn with(key_serde: Serde<K>, value_serde: Serde<V>, other_value_serde: Serde<VO>) -> Self {
        StreamJoined {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            other_value_serde: Some(other_value_serde),
            ..StreamJoined::default()
        }
    }

    /// Names the join's nodes (and its repartition topics).
    pub fn as_(name: impl Into<String>) -> Self {
        StreamJoined {
            name: Some(name.into()),
            ..StreamJoined::default()
        }
    }

    /// Names the join's nodes and repartition topics (Kafka Streams' `withName`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Base name of the join's window stores.
    pub fn with_store_name(mut self, name: impl Into<String>) -> Self {
        self.store_name = Some(name.into());
        self
    }
}
