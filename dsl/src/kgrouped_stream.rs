//! `KGroupedStream`: a stream grouped by key, ready to aggregate.

use crate::dynamic::*;
use crate::grouped::Grouped;
use crate::kstream::KStream;
use crate::ktable::KTable;
use crate::materialized::Materialized;
use crate::serde::Serde;
use crate::topology::{NodeId, ProcessorSpec, SinkSpec, SourceSpec, StoreKind, TopicRef};
use std::sync::Arc;

/// A stream grouped by key (Kafka Streams' `KGroupedStream`). Aggregations keep one value per
/// key in a state store and return a [`KTable`] of it; records with a null value are skipped.
///
/// ```
/// use sluice_dsl::prelude::*;
///
/// let builder = StreamsBuilder::new();
/// let amounts = builder.stream("payments", Consumed::with(Serde::string(), Serde::<i64>::i64()));
/// let grouped = amounts.group_by_key();
/// let totals = grouped.reduce(|total, amount| total + amount, Materialized::as_("total-by-account"));
/// let stats = grouped.aggregate(
///     || (0u64, 0i64),
///     |_account, amount, (n, sum)| (n + 1, sum + amount),
///     Materialized::as_("count-and-sum"),
/// );
/// assert_eq!(totals.queryable_store_name(), Some("total-by-account"));
/// ```
pub struct KGroupedStream<K, V> {
    pub(crate) stream: KStream<K, V>,
    pub(crate) grouped: Grouped<K, V>,
}

impl<K: Data, V: Data> KGroupedStream<K, V> {
    pub(crate) fn new(stream: KStream<K, V>, grouped: Grouped<K, V>) -> Self {
        KGroupedStream { stream, grouped }
    }
}

impl<K: StoreData, V: StoreData> KGroupedStream<K, V> {
    /// Counts records per key.
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        let materialized = Materialized {
            value_serde: materialized.value_serde.clone().or_else(|| Some(Serde::i64())),
            ..materialized
        };
        self.aggregate_named("KSTREAM-AGGREGATE-", || 0i64, |_, _, n| n + 1, materialized)
    }

    /// Combines the values of each key: the first value is the aggregate, later ones are
    /// folded in with `reducer(aggregate, value)`.
    pub fn reduce<F>(&self, reducer: F, materialized: Materialized<K, V>) -> KTable<K, V>
    where
        F: Fn(V, &V) -> V + Send + Sync + 'static,
    {
        let value_serde = materialized
            .value_serde
            .clone()
            .or_else(|| self.grouped.value_serde.clone())
            .or_else(|| self.stream.value_serde.clone())
            .unwrap_or_else(Serde::bincode);
        let reducer: ReducerFn =
            Arc::new(move |agg, v| erase(reducer(downcast_box::<V>(agg), downcast_ref::<V>(v))));
        self.stateful("KSTREAM-REDUCE-", materialized, value_serde, |store| {
            ProcessorSpec::Reduce { store, reducer }
        })
    }

    /// Folds the values of each key into an aggregate that starts as `initializer()`.
    pub fn aggregate<VA: StoreData, I, A>(
        &self,
        initializer: I,
        aggregator: A,
        materialized: Materialized<K, VA>,
    ) -> KTable<K, VA>
    where
        I: Fn() -> VA + Send + Sync + 'static,
        A: Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
    {
        self.aggregate_named("KSTREAM-AGGREGATE-", initializer, aggregator, materialized)
    }

    fn aggregate_named<VA: StoreData, I, A>(
        &self,
        prefix: &str,
        initializer: I,
        aggregator: A,
        materialized: Materialized<K, VA>,
    ) -> KTable<K, VA>
    where
        I: Fn() -> VA + Send + Sync + 'static,
        A: Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
    {
        let value_serde = materialized.value_serde.clone().unwrap_or_else(Serde::bincode);
        let initializer: InitializerFn = Arc::new(move || Box::new(initializer()) as DynBox);
        let aggregator: AggregatorFn = Arc::new(move |k, v, agg| {
            erase(aggregator(
                downcast_ref::<K>(k),
                downcast_ref::<V>(v),
                downcast_box::<VA>(agg),
            ))
        });
        self.stateful(prefix, materialized, value_serde, |store| {
            ProcessorSpec::Aggregate {
                store,
                initializer,
                aggregator,
            }
        })
    }

    /// Declares the store, repartitions if the key changed, and adds the processor.
    fn stateful<VA: Data>(
        &self,
        prefix: &str,
        materialized: Materialized<K, VA>,
        value_serde: Serde<VA>,
        spec: impl FnOnce(String) -> ProcessorSpec,
    ) -> KTable<K, VA> {
        let graph = self.stream.graph.clone();
        let store = match &materialized.name {
            Some(n) => n.clone(),
            None => graph.borrow_mut().generate_name(&format!("{prefix}STATE-STORE-")),
        };
        let key_serde = materialized
            .key_serde
            .clone()
            .or_else(|| self.key_serde())
            .unwrap_or_else(Serde::bincode);
        let parent = self.repartition_if_required(&store);
        let mut g = graph.borrow_mut();
        g.add_store(materialized.store_spec(&store, StoreKind::KeyValue, &key_serde, &value_serde));
        let node = g.add_processor(prefix, None, spec(store.clone()), &[parent]);
        drop(g);
        KTable::new(graph, node, Some(key_serde), Some(value_serde), Some(store))
    }

    fn key_serde(&self) -> Option<Serde<K>> {
        self.grouped
            .key_serde
            .clone()
            .or_else(|| self.stream.key_serde.clone())
    }

    /// The node the stateful processor hangs off: the stream itself, or the source of a
    /// repartition topic `<grouped name or store>-repartition` when the key changed, so that
    /// every record of one key reaches the task owning that key.
    pub(crate) fn repartition_if_required(&self, store: &str) -> NodeId {
        if !self.stream.repartition_required {
            return self.stream.node;
        }
        let base = self.grouped.name.clone().unwrap_or_else(|| store.to_string());
        let topic = TopicRef::Internal(format!("{base}-repartition"));
        let key_serde = self.key_serde().unwrap_or_else(Serde::bincode);
        let value_serde = self
            .grouped
            .value_serde
            .clone()
            .or_else(|| self.stream.value_serde.clone())
            .unwrap_or_else(Serde::bincode);
        let mut g = self.stream.graph.borrow_mut();
        g.add_sink(
            Some(format!("{base}-repartition-sink")),
            SinkSpec {
                topic: topic.clone(),
                key_serde: key_serde.clone().into(),
                value_serde: value_serde.clone().into(),
            },
            self.stream.node,
        );
        g.add_source(
            Some(format!("{base}-repartition-source")),
            SourceSpec {
                topics: vec![topic],
                key_serde: key_serde.into(),
                value_serde: value_serde.into(),
                timestamp_extractor: None,
                offset_reset: None,
            },
        )
    }
}
