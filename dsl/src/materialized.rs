//! `Materialized`: the state store behind a KTable or an aggregation.

use crate::dynamic::Data;
use crate::serde::Serde;
use crate::topology::{StoreKind, StoreSpec};
use std::time::Duration;

/// Which implementation backs a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreType {
    /// RocksDB on local disk (Kafka Streams' default).
    RocksDb,
    /// A map in memory, rebuilt from the changelog on restart.
    InMemory,
}

/// The state store behind a KTable or aggregation (Kafka Streams' `Materialized`): its name
/// (queryable, and the changelog topic `<application.id>-<name>-changelog`), serdes, record
/// cache, changelog and implementation.
///
/// ```
/// use sluice_dsl::{Materialized, StoreType, serde::Serde};
/// let m: Materialized<String, i64> = Materialized::as_("tx-velocity")
///     .with_value_serde(Serde::i64())
///     .with_caching_disabled()
///     .with_store_type(StoreType::InMemory);
/// ```
pub struct Materialized<K, V> {
    pub(crate) name: Option<String>,
    pub(crate) key_serde: Option<Serde<K>>,
    pub(crate) value_serde: Option<Serde<V>>,
    pub(crate) caching: bool,
    pub(crate) logging: bool,
    pub(crate) store_type: Option<StoreType>,
    pub(crate) retention: Option<Duration>,
}

impl<K: Data, V: Data> Default for Materialized<K, V> {
    fn default() -> Self {
        Materialized {
            name: None,
            key_serde: None,
            value_serde: None,
            caching: true,
            logging: true,
            store_type: None,
            retention: None,
        }
    }
}

impl<K: Data, V: Data> Materialized<K, V> {
    /// A store with this name.
    pub fn as_(name: impl Into<String>) -> Self {
        Materialized {
            name: Some(name.into()),
            ..Materialized::default()
        }
    }

    /// An unnamed store with these serdes.
    pub fn with(key_serde: Serde<K>, value_serde: Serde<V>) -> Self {
        Materialized {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            ..Materialized::default()
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

    /// Forwards every update downstream instead of the latest per key at each commit.
    pub fn with_caching_disabled(mut self) -> Self {
        self.caching = false;
        self
    }

    /// Keeps no changelog: the store starts empty after a restart or migration.
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }

    /// Chooses the store implementation (default: `default.dsl.store` of the config).
    pub fn with_store_type(mut self, store_type: StoreType) -> Self {
        self.store_type = Some(store_type);
        self
    }

    /// How long a window store keeps windows (at least window size + grace).
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = Some(retention);
        self
    }
}

impl<K: Data, V: Data> Materialized<K, V> {
    /// The declaration of the store this describes, named `name` with the resolved serdes.
    pub(crate) fn store_spec(
        &self,
        name: &str,
        kind: StoreKind,
        key_serde: &Serde<K>,
        value_serde: &Serde<V>,
    ) -> StoreSpec {
        StoreSpec {
            name: name.to_string(),
            kind,
            key_serde: key_serde.clone().into(),
            value_serde: value_serde.clone().into(),
            caching: self.caching,
            logging: self.logging,
            store_type: self.store_type,
            // Tables and windows keep the latest record time with each value; sessions carry
            // theirs in the window.
            timestamped: !matches!(kind, StoreKind::Session { .. }),
        }
    }
}
