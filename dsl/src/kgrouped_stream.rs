//! `KGroupedStream`: a stream grouped by key, ready to aggregate.

use crate::dynamic::*;
use crate::grouped::Grouped;
use crate::kstream::KStream;
use crate::ktable::KTable;
use crate::materialized::Materialized;
use crate::repartition::add_repartition;
use crate::serde::Serde;
use crate::topology::{Aggregation, NodeId, ProcessorSpec, StoreKind};
use crate::windows::{SessionWindows, SlidingWindows, TimeWindows};
use crate::{SessionWindowedKStream, TimeWindowedKStream};
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

impl<K, V> Clone for KGroupedStream<K, V> {
    fn clone(&self) -> Self {
        KGroupedStream {
            stream: self.stream.clone(),
            grouped: self.grouped.clone(),
        }
    }
}

/// `count`: `n + 1` from 0.
pub(crate) fn count_aggregation() -> Aggregation {
    Aggregation::Count
}

pub(crate) fn reduce_aggregation<V: Data, F>(reducer: F) -> Aggregation
where
    F: Fn(V, &V) -> V + Send + Sync + 'static,
{
    Aggregation::Reduce(Arc::new(move |agg, v| {
        erase(reducer(downcast_box::<V>(agg), downcast_ref::<V>(v)))
    }))
}

pub(crate) fn aggregate_aggregation<K: Data, V: Data, VA: Data, I, A>(
    initializer: I,
    aggregator: A,
) -> Aggregation
where
    I: Fn() -> VA + Send + Sync + 'static,
    A: Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
{
    Aggregation::Aggregate {
        initializer: Arc::new(move || Box::new(initializer()) as DynBox),
        aggregator: Arc::new(move |k, v, agg| {
            erase(aggregator(
                downcast_ref::<K>(k),
                downcast_ref::<V>(v),
                downcast_box::<VA>(agg),
            ))
        }),
    }
}

/// What a stateful operator added: its node, resolved key serde and store name.
pub(crate) struct Added<K> {
    pub(crate) node: NodeId,
    pub(crate) key_serde: Serde<K>,
    pub(crate) store: String,
}

impl<K: Data, V: Data> KGroupedStream<K, V> {
    pub(crate) fn new(stream: KStream<K, V>, grouped: Grouped<K, V>) -> Self {
        KGroupedStream { stream, grouped }
    }
}

impl<K: StoreData, V: StoreData> KGroupedStream<K, V> {
    /// Counts records per key.
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        let value_serde = materialized.value_serde.clone().unwrap_or_else(Serde::i64);
        self.table(
            "KSTREAM-AGGREGATE-",
            materialized,
            value_serde,
            count_aggregation(),
        )
    }

    /// Combines the values of each key: the first value is the aggregate, later ones are
    /// folded in with `reducer(aggregate, value)`.
    pub fn reduce<F>(&self, reducer: F, materialized: Materialized<K, V>) -> KTable<K, V>
    where
        F: Fn(V, &V) -> V + Send + Sync + 'static,
    {
        let value_serde = self.reduce_value_serde(&materialized);
        self.table(
            "KSTREAM-REDUCE-",
            materialized,
            value_serde,
            reduce_aggregation(reducer),
        )
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
        let value_serde = materialized.value_serde.clone().unwrap_or_else(Serde::bincode);
        self.table(
            "KSTREAM-AGGREGATE-",
            materialized,
            value_serde,
            aggregate_aggregation(initializer, aggregator),
        )
    }

    /// Aggregates per window: `TimeWindows` (tumbling, hopping) and `SlidingWindows` give a
    /// [`TimeWindowedKStream`], `SessionWindows` a [`SessionWindowedKStream`].
    pub fn windowed_by<W: WindowedBy<K, V>>(&self, windows: W) -> W::Output {
        windows.windowed(self)
    }

    fn table<VA: Data>(
        &self,
        prefix: &str,
        materialized: Materialized<K, VA>,
        value_serde: Serde<VA>,
        aggregation: Aggregation,
    ) -> KTable<K, VA> {
        let added = self.add_stateful(
            prefix,
            &materialized,
            &value_serde,
            StoreKind::KeyValue,
            |store| ProcessorSpec::Aggregate { store, aggregation },
        );
        KTable::new(
            self.stream.graph.clone(),
            added.node,
            Some(added.key_serde),
            Some(value_serde),
            Some(added.store),
        )
    }

    pub(crate) fn reduce_value_serde(&self, materialized: &Materialized<K, V>) -> Serde<V> {
        materialized
            .value_serde
            .clone()
            .or_else(|| self.grouped.value_serde.clone())
            .or_else(|| self.stream.value_serde.clone())
            .unwrap_or_else(Serde::bincode)
    }

    /// Declares the store, repartitions if the key changed, and adds the processor.
    pub(crate) fn add_stateful<VA: Data>(
        &self,
        prefix: &str,
        materialized: &Materialized<K, VA>,
        value_serde: &Serde<VA>,
        kind: StoreKind,
        spec: impl FnOnce(String) -> ProcessorSpec,
    ) -> Added<K> {
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
        // As Kafka Streams: the processor takes its index before the repartition nodes do.
        let name = graph.borrow_mut().generate_name(prefix);
        let parent = self.repartition_if_required(&store);
        let mut g = graph.borrow_mut();
        g.add_store(materialized.store_spec(&store, kind, &key_serde, value_serde));
        let node = g.add_processor(prefix, Some(name), spec(store.clone()), &[parent]);
        Added {
            node,
            key_serde,
            store,
        }
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
        let key_serde = self.key_serde().unwrap_or_else(Serde::bincode);
        let value_serde = self
            .grouped
            .value_serde
            .clone()
            .or_else(|| self.stream.value_serde.clone())
            .unwrap_or_else(Serde::bincode);
        add_repartition(
            &self.stream.graph,
            self.stream.node,
            &base,
            key_serde,
            value_serde,
            None,
        )
    }
}

/// Window definitions a grouped stream can be windowed by.
pub trait WindowedBy<K, V> {
    /// The windowed stream type.
    type Output;
    /// Windows `grouped`.
    fn windowed(self, grouped: &KGroupedStream<K, V>) -> Self::Output;
}

impl<K: StoreData + Clone, V: StoreData> WindowedBy<K, V> for TimeWindows {
    type Output = TimeWindowedKStream<K, V>;
    fn windowed(self, grouped: &KGroupedStream<K, V>) -> Self::Output {
        TimeWindowedKStream::new(grouped.clone(), self.definition(), self.size_ms)
    }
}

impl<K: StoreData + Clone, V: StoreData> WindowedBy<K, V> for SlidingWindows {
    type Output = TimeWindowedKStream<K, V>;
    fn windowed(self, grouped: &KGroupedStream<K, V>) -> Self::Output {
        TimeWindowedKStream::new(grouped.clone(), self.definition(), self.time_difference_ms)
    }
}

impl<K: StoreData + Clone, V: StoreData> WindowedBy<K, V> for SessionWindows {
    type Output = SessionWindowedKStream<K, V>;
    fn windowed(self, grouped: &KGroupedStream<K, V>) -> Self::Output {
        SessionWindowedKStream::new(grouped.clone(), self.definition())
    }
}
