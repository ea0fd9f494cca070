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
    /// A versioned store with this history retention (`as_versioned`).
    pub(crate) history_retention: Option<Duration>,
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
            history_retention: None,
        }
    }
}

impl<K: Data, V: Data> Materialized<K, V> {
    /// A versioned store with this name (Kafka Streams' `Materialized.as(Stores.
    /// persistentVersionedKeyValueStore(name, historyRetention))`, KIP-889): it keeps every
    /// value of a key for `history_retention` of stream time, so that a stream-table join
    /// reads the table as of each stream record's time. For tables read from topics
    /// (`StreamsBuilder::table_with`); updates older than the retention are dropped.
    ///
    /// ```
    /// use sluice_dsl::prelude::*;
    /// use std::time::Duration;
    ///
    /// let builder = StreamsBuilder::new();
    /// let rates = builder.table_with(
    ///     "fx-rates",
    ///     Consumed::with(Serde::string(), Serde::<f64>::f64()),
    ///     Materialized::as_versioned("fx-rates-history", Duration::from_secs(3_600)),
    /// );
    /// builder
    ///     .stream("payments", Consumed::with(Serde::string(), Serde::<f64>::f64()))
    ///     .join_table(&rates, |amount, rate| amount * rate) // the rate at the payment's time
    ///     .to("payments-in-eur", Produced::with(Serde::string(), Serde::<f64>::f64()));
    /// builder.build().unwrap();
    /// ```
    pub fn as_versioned(name: impl Into<String>, history_retention: Duration) -> Self {
        Materialized {
            name: Some(name.into()),
            caching: false,
            history_retention: Some(history_retention),
            ..Materialized::default()
        }
    }

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
        let kind = match (kind, self.history_retention) {
            (StoreKind::KeyValue, Some(h)) => StoreKind::Versioned {
                history_retention_ms: h.as_millis() as i64,
            },
            (kind, _) => kind,
        };
        StoreSpec {
            name: name.to_string(),
            kind,
            key_serde: key_serde.clone().into(),
            value_serde: value_serde.clone().into(),
            // Versioned stores forward every update: no cache (as in Kafka Streams).
            caching: self.caching && self.history_retention.is_none(),
            logging: self.logging,
            store_type: self.store_type,
            // Tables and windows keep the latest record time with each value; sessions carry
            // theirs in the window.
            // Versioned stores keep times in their own layout.
            timestamped: !matches!(kind, StoreKind::Session { .. } | StoreKind::Versioned { .. }),
        }
    }
}
