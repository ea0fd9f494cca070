//! `KTable`: a changelog stream read as the latest value per key.

use crate::dynamic::*;
use crate::graph::GraphRef;
use crate::kstream::{filter_spec, KStream};
use crate::named::Named;
use crate::serde::Serde;
use crate::topology::{NodeId, ProcessorSpec};
use std::sync::Arc;

/// The latest value per key (Kafka Streams' `KTable`): each update replaces the key's value and
/// a null value deletes it. Downstream operators see each change with its previous value.
///
/// ```
/// use sluice_dsl::prelude::*;
///
/// let builder = StreamsBuilder::new();
/// let limits = builder.table("card-limits", Consumed::with(Serde::string(), Serde::<i64>::i64()));
/// limits
///     .filter(|_card, limit| *limit > 10_000)
///     .to_stream()
///     .to("high-limit-cards", Produced::default());
/// builder.build().unwrap();
/// ```
pub struct KTable<K, V> {
    pub(crate) graph: GraphRef,
    pub(crate) node: NodeId,
    pub(crate) key_serde: Option<Serde<K>>,
    pub(crate) value_serde: Option<Serde<V>>,
    /// The store holding this table, if materialized.
    pub(crate) store: Option<String>,
}

impl<K, V> Clone for KTable<K, V> {
    fn clone(&self) -> Self {
        KTable {
            graph: self.graph.clone(),
            node: self.node,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            store: self.store.clone(),
        }
    }
}

impl<K: Data, V: Data> KTable<K, V> {
    pub(crate) fn new(
        graph: GraphRef,
        node: NodeId,
        key_serde: Option<Serde<K>>,
        value_serde: Option<Serde<V>>,
        store: Option<String>,
    ) -> Self {
        KTable {
            graph,
            node,
            key_serde,
            value_serde,
            store,
        }
    }

    /// The name of the store holding this table, for interactive queries and the test driver.
    pub fn queryable_store_name(&self) -> Option<&str> {
        self.store.as_deref()
    }

    /// Renames the node that produced this table.
    pub fn named(self, name: impl Into<Named>) -> Self {
        self.graph.borrow_mut().rename(self.node, name.into().0);
        self
    }

    /// The stream of this table's changes: each update's new value; deletes are null values.
    pub fn to_stream(&self) -> KStream<K, V> {
        let node = self.graph.borrow_mut().add_processor(
            "KTABLE-TOSTREAM-",
            None,
            ProcessorSpec::ToStream,
            &[self.node],
        );
        KStream::new(
            self.graph.clone(),
            node,
            self.key_serde.clone(),
            self.value_serde.clone(),
            false,
        )
    }

    /// Keeps the keys whose value matches `predicate`; a key whose new value stops matching is
    /// deleted downstream.
    pub fn filter<F>(&self, predicate: F) -> KTable<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        self.table_filter(predicate, false)
    }

    /// Keeps the keys whose value does not match `predicate`.
    pub fn filter_not<F>(&self, predicate: F) -> KTable<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        self.table_filter(predicate, true)
    }

    fn table_filter<F>(&self, predicate: F, negate: bool) -> KTable<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        let ProcessorSpec::Filter { predicate, negate } = filter_spec(predicate, negate) else {
            unreachable!("filter_spec builds a Filter")
        };
        let node = self.graph.borrow_mut().add_processor(
            "KTABLE-FILTER-",
            None,
            ProcessorSpec::TableFilter { predicate, negate },
            &[self.node],
        );
        KTable {
            node,
            store: None,
            ..self.clone()
        }
    }

    /// Maps each value (deletes stay deletes).
    pub fn map_values<V2: Data, F>(&self, mapper: F) -> KTable<K, V2>
    where
        F: Fn(&V) -> V2 + Send + Sync + 'static,
    {
        let f: ValueMapperFn = Arc::new(move |_k, v| erase(mapper(downcast_ref::<V>(v))));
        let node = self.graph.borrow_mut().add_processor(
            "KTABLE-MAPVALUES-",
            None,
            ProcessorSpec::TableMapValues(f),
            &[self.node],
        );
        KTable::new(self.graph.clone(), node, self.key_serde.clone(), None, None)
    }
}
