//! `Repartitioned`: an explicit repartition topic.

use crate::dynamic::Data;
use crate::serde::Serde;

/// An explicit repartition (Kafka Streams' `Repartitioned`): records go through the internal
/// topic `<application.id>-<name>-repartition`, partitioned by key, with `number_of_partitions`
/// partitions (default: as many as the largest input of the sub-topology writing it).
///
/// ```
/// use sluice_dsl::{Repartitioned, serde::Serde};
/// let r: Repartitioned<String, String> = Repartitioned::as_("by-card").with_number_of_partitions(12);
/// ```
pub struct Repartitioned<K, V> {
    pub(crate) name: Option<String>,
    pub(crate) key_serde: Option<Serde<K>>,
    pub(crate) value_serde: Option<Serde<V>>,
    pub(crate) partitions: Option<u32>,
}

impl<K: Data, V: Data> Default for Repartitioned<K, V> {
    fn default() -> Self {
        Repartitioned {
            name: None,
            key_serde: None,
            value_serde: None,
            partitions: None,
        }
    }
}

impl<K: Data, V: Data> Repartitioned<K, V> {
    /// A named repartition topic.
    pub fn as_(name: impl Into<String>) -> Self {
        Repartitioned {
            name: Some(name.into()),
            ..Repartitioned::default()
        }
    }

    /// Serdes for the topic.
    pub fn with(key_serde: Serde<K>, value_serde: Serde<V>) -> Self {
        Repartitioned {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            ..Repartitioned::default()
        }
    }

    /// The topic's partition count.
    pub fn with_number_of_partitions(mut self, partitions: u32) -> Self {
        self.partitions = Some(partitions);
        self
    }
}
