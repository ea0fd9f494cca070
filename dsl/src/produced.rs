//! `Produced`: how a stream is written to a topic.

use crate::dynamic::Data;
use crate::serde::Serde;

/// How records are written to a topic (Kafka Streams' `Produced`). Serdes left out are the
/// stream's own when it still has them (keys and values unchanged since a source that named
/// them); otherwise `StreamsBuilder::build` fails naming the sink.
///
/// ```
/// use sluice_dsl::{Produced, serde::Serde};
/// let p: Produced<String, i64> = Produced::with(Serde::string(), Serde::i64()).with_name("alerts-sink");
/// ```
pub struct Produced<K, V> {
    pub(crate) key_serde: Option<Serde<K>>,
    pub(crate) value_serde: Option<Serde<V>>,
    pub(crate) name: Option<String>,
}

impl<K: Data, V: Data> Default for Produced<K, V> {
    fn default() -> Self {
        Produced {
            key_serde: None,
            value_serde: None,
            name: None,
        }
    }
}

impl<K: Data, V: Data> Produced<K, V> {
    /// Writes keys and values with these serdes.
    pub fn with(key_serde: Serde<K>, value_serde: Serde<V>) -> Self {
        Produced {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            name: None,
        }
    }

    /// Sets only the key serde.
    pub fn with_key_serde(mut self, serde: Serde<K>) -> Self {
        self.key_serde = Some(serde);
        self
    }

    /// Sets only the value serde.
    pub fn with_value_serde(mut self, serde: Serde<V>) -> Self {
        self.value_serde = Some(serde);
        self
    }

    /// Names the sink node.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}
