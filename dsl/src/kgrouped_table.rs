//! `KTable::group_by` and `KGroupedTable`: a table re-grouped by a new key, aggregated with an
//! adder and a subtractor so that every update retracts the value it replaces.

use crate::dynamic::*;
use crate::graph::GraphRef;
use crate::grouped::Grouped;
use crate::ktable::KTable;
use crate::materialized::Materialized;
use crate::serde::Serde;
use crate::topology::{
    change_serde, NodeId, ProcessorSpec, SinkSpec, SourceSpec, StoreKind, TableAggregation, TopicRef,
};
use std::sync::Arc;

impl<K: Data, V: Data> KTable<K, V> {
    /// Groups the table by a new key and value (Kafka Streams' `KTable#groupBy`): each update
    /// of a row sends its old value to the old row's group, to be retracted, and its new value
    /// to the new row's group, to be added, through a repartition topic
    /// `<grouped name or store name>-repartition`.
    ///
    /// ```
    /// use sluice_dsl::prelude::*;
    ///
    /// // Users by region: a user who moves leaves one count and joins another.
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .table("user-regions", Consumed::with(Serde::string(), Serde::string()))
    ///     .group_by(|_user, region| (region.clone(), 1_i64))
    ///     .count(Materialized::as_("users-per-region"))
    ///     .to_stream()
    ///     .to("region-counts", Produced::with(Serde::string(), Serde::<i64>::i64()));
    /// builder.build().unwrap();
    /// ```
    pub fn group_by<K1: StoreData, V1: StoreData, F>(&self, selector: F) -> KGroupedTable<K1, V1>
    where
        F: Fn(&K, &V) -> (K1, V1) + Send + Sync + 'static,
    {
        self.group_by_with(selector, Grouped::default())
    }

    /// [`group_by`](Self::group_by) with serdes for the repartition topic and a name (which
    /// also names the selecting processor and the topic).
    pub fn group_by_with<K1: StoreData, V1: StoreData, F>(
        &self,
        selector: F,
        grouped: Grouped<K1, V1>,
    ) -> KGroupedTable<K1, V1>
    where
        F: Fn(&K, &V) -> (K1, V1) + Send + Sync + 'static,
    {
        let mapper: KeyValueMapperFn = Arc::new(move |k, v| {
            let (k1, v1) = selector(downcast_ref::<K>(k), downcast_ref::<V>(v));
            (erase(k1), erase(v1))
        });
        let key_serde = grouped.key_serde.clone().unwrap_or_else(Serde::bincode);
        let node = {
            let mut g = self.graph.borrow_mut();
            let name = g.name_or_generate("KTABLE-SELECT-", grouped.name.clone());
            g.add_processor(
                "KTABLE-SELECT-",
                Some(name),
                ProcessorSpec::TableGroupBy {
                    mapper,
                    key_serde: key_serde.clone().into(),
                },
                &[self.node],
            )
        };
        // The retractions need the old values.
        self.enable_sending_old_values();
        KGroupedTable {
            graph: self.graph.clone(),
            node,
            grouped,
        }
    }
}

/// A table re-grouped by [`KTable::group_by`] (Kafka Streams' `KGroupedTable`), ready to
/// aggregate. Each aggregation keeps one value per new key in a store and returns a [`KTable`].
pub struct KGroupedTable<K, V> {
    graph: GraphRef,
    /// The selecting processor.
    node: NodeId,
    grouped: Grouped<K, V>,
}

impl<K: StoreData, V: StoreData> KGroupedTable<K, V> {
    /// Counts the rows in each group: +1 for a row that joins it, -1 for one that leaves (a
    /// group whose rows all left counts 0).
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        let value_serde = materialized.value_serde.clone().unwrap_or_else(Serde::i64);
        self.aggregation(
            "KTABLE-AGGREGATE-",
            materialized,
            value_serde,
            TableAggregation::Count,
        )
    }

    /// Combines each group's values: `adder(aggregate, value)` for a value that joins it,
    /// `subtractor(aggregate, old value)` for one that leaves (the first value is the aggregate).
    pub fn reduce<A, S>(&self, adder: A, subtractor: S, materialized: Materialized<K, V>) -> KTable<K, V>
    where
        A: Fn(V, &V) -> V + Send + Sync + 'static,
        S: Fn(V, &V) -> V + Send + Sync + 'static,
    {
        let value_serde = materialized
            .value_serde
            .clone()
            .or_else(|| self.grouped.value_serde.clone())
            .unwrap_or_else(Serde::bincode);
        let aggregation = TableAggregation::Reduce {
            adder: table_reducer(adder),
            subtractor: table_reducer(subtractor),
        };
        self.aggregation("KTABLE-REDUCE-", materialized, value_serde, aggregation)
    }

    /// Folds each group's values into an aggregate that starts as `initializer()`:
    /// `adder(key, value, aggregate)` for a value that joins the group,
    /// `subtractor(key, old value, aggregate)` for one that leaves.
    pub fn aggregate<VA: StoreData, I, A, S>(
        &self,
        initializer: I,
        adder: A,
        subtractor: S,
        materialized: Materialized<K, VA>,
    ) -> KTable<K, VA>
    where
        I: Fn() -> VA + Send + Sync + 'static,
        A: Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
        S: Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
    {
        let value_serde = materialized.value_serde.clone().unwrap_or_else(Serde::bincode);
        let aggregation = TableAggregation::Aggregate {
            initializer: Arc::new(move || Box::new(initializer()) as DynBox),
            adder: table_aggregator(adder),
            subtractor: table_aggregator(subtractor),
        };
        self.aggregation("KTABLE-AGGREGATE-", materialized, value_serde, aggregation)
    }

    /// The store, the repartition topic and the aggregating processor, named in Kafka Streams'
    /// order: the store (`KTABLE-AGGREGATE-STATE-STORE-<n>` unless named), the topic's sink and
    /// source, then the processor (`prefix<n>`).
    fn aggregation<VA: Data>(
        &self,
        prefix: &str,
        materialized: Materialized<K, VA>,
        value_serde: Serde<VA>,
        aggregation: TableAggregation,
    ) -> KTable<K, VA> {
        let key_serde = materialized
            .key_serde
            .clone()
            .or_else(|| self.grouped.key_serde.clone())
            .unwrap_or_else(Serde::bincode);
        let repartition_key_serde = self.grouped.key_serde.clone().unwrap_or_else(Serde::bincode);
        let repartition_value_serde = change_serde(
            self.grouped
                .value_serde
                .clone()
                .unwrap_or_else(Serde::bincode)
                .into(),
        );
        let mut g = self.graph.borrow_mut();
        let store = match &materialized.name {
            Some(n) => n.clone(),
            None => g.generate_name("KTABLE-AGGREGATE-STATE-STORE-"),
        };
        let base = self.grouped.name.clone().unwrap_or_else(|| store.clone());
        let topic = TopicRef::Internal(format!("{base}-repartition"));
        let sink = g.generate_name("KSTREAM-SINK-");
        let source = g.generate_name("KSTREAM-SOURCE-");
        let name = g.generate_name(prefix);
        g.add_sink(
            Some(sink),
            SinkSpec {
                topic: topic.clone(),
                key_serde: repartition_key_serde.clone().into(),
                value_serde: repartition_value_serde.clone().into(),
                partitions: None,
                partition_of: None,
            },
            self.node,
        );
        let source = g.add_source(
            Some(source),
            SourceSpec {
                topics: vec![topic],
                key_serde: repartition_key_serde.into(),
                value_serde: repartition_value_serde.into(),
                timestamp_extractor: None,
                offset_reset: None,
            },
        );
        g.add_store(materialized.store_spec(&store, StoreKind::KeyValue, &key_serde, &value_serde));
        let node = g.add_processor(
            prefix,
            Some(name),
            ProcessorSpec::TableAggregate {
                store: store.clone(),
                aggregation,
            },
            &[source],
        );
        drop(g);
        KTable::new(
            self.graph.clone(),
            node,
            Some(key_serde),
            Some(value_serde),
            Some(store),
        )
    }
}

/// `reducer` over erased, owned aggregates.
fn table_reducer<V: Data>(reducer: impl Fn(V, &V) -> V + Send + Sync + 'static) -> TableReducerFn {
    Arc::new(move |agg, v| Box::new(reducer(downcast_box::<V>(agg), downcast_ref::<V>(v))) as DynBox)
}

/// `aggregator` over erased, owned aggregates.
fn table_aggregator<K: Data, V: Data, VA: Data>(
    aggregator: impl Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
) -> TableAggregatorFn {
    Arc::new(move |k, v, agg| {
        Box::new(aggregator(
            downcast_ref::<K>(k),
            downcast_ref::<V>(v),
            downcast_box::<VA>(agg),
        )) as DynBox
    })
}
