//! `Grouped`: serdes and name of a grouping (and of its repartition topic).

use crate::dynamic::Data;
use crate::serde::Serde;

/// How a stream is grouped (Kafka Streams' `Grouped`). When the key changed before the grouping,
/// records are repartitioned through `<application.id>-<name>-repartition`; the name defaults to
/// the store's. Serdes default to the stream's own, else bincode.
///
/// ```
/// use sluice_dsl::{Grouped, serde::Serde};
/// let g: Grouped<String, String> = Grouped::as_("by-merchant").with_key_serde(Serde::string());
/// ```
pub struct Grouped<K, V> {
    pub(crate) name: Option<String>,
    pub(crate) key_serde: Option<Serde<K>>,
    pub(crate) value_serde: Option<Serde<V>>,
}

impl<K, V> Clone for Grouped<K, V> {
    fn clone(&self) -> Self {
        Grouped {
            name: self.name.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
        }
    }
}

impl<K: Data, V: Data> Default for Grouped<K, V> {
    fn default() -> Self {
        Grouped {
            name: None,
            key_serde: None,
            value_serde: None,
        }
    }
}

impl<K: Data, V: Data> Grouped<K, V> {
    /// A named grouping.
    pub fn as_(name: impl Into<String>) -> Self {
        Grouped {
            name: Some(name.into()),
            ..Grouped::default()
        }
    }

    /// A grouping with these serdes.
    pub fn with(key_serde: Serde<K>, value_serde: Serde<V>) -> Self {
        Grouped {
            name: None,
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
        }
    }

    /// Sets the key serde.
    pub fn with_key_serde(mut self, serde: Serde<K>) -> Self {
        self.key_serde = Some(serde);
        self
    }

    /// Sets the value serde.
    pub fn with_value_serde(mut self, serde: Serde<V>) -> Self {
        self.value_serde = Some(serde);
        self
    }
}
