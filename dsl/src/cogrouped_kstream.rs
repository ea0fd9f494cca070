//! `KGroupedStream::cogroup` and `CogroupedKStream`: several grouped streams folded into one
//! aggregate per key, each with its own aggregator (Kafka Streams' KIP-150).

use crate::dynamic::*;
use crate::graph::GraphRef;
use crate::kgrouped_stream::KGroupedStream;
use crate::ktable::KTable;
use crate::materialized::Materialized;
use crate::serde::Serde;
use crate::time_windowed_kstream::{window_retention_in, windowed_key_fn};
use crate::topology::{Aggregation, NodeId, ProcessorSpec, StoreKind, TopologyError};
use crate::windows::{SlidingWindows, TimeWindows, WindowDefinition, Windowed};

/// One grouped stream of a cogroup: where its records come from once repartitioned (if they
/// must be) for a given store, and how they fold in.
struct Pattern {
    /// `(store) -> the node the aggregation hangs off` (a repartition source, or the stream).
    parent: Box<dyn Fn(&str) -> NodeId>,
    /// Whether the stream must go through a repartition topic, and that topic's base name.
    repartition_base: Option<Option<String>>,
    aggregator: AggregatorFn,
}

/// Grouped streams with one aggregate per key (Kafka Streams' `CogroupedKStream`), made by
/// [`KGroupedStream::cogroup`]. The streams must be co-partitioned (the runtime checks it).
///
/// ```
/// use sluice_dsl::prelude::*;
///
/// // A customer's activity from two streams into one summary: (logins, purchases).
/// let builder = StreamsBuilder::new();
/// let logins = builder.stream("logins", Consumed::with(Serde::string(), Serde::string())).group_by_key();
/// let buys = builder.stream("purchases", Consumed::with(Serde::string(), Serde::<i64>::i64())).group_by_key();
/// logins
///     .cogroup(|_customer, _ip: &String, (l, p): (u64, u64)| (l + 1, p))
///     .cogroup(&buys, |_customer, _amount: &i64, (l, p): (u64, u64)| (l, p + 1))
///     .aggregate(|| (0, 0), Materialized::as_("activity"));
/// builder.build().unwrap();
/// ```
pub struct CogroupedKStream<K, VA> {
    graph: GraphRef,
    key_serde: Option<Serde<K>>,
    patterns: Vec<Pattern>,
    _aggregate: std::marker::PhantomData<fn() -> VA>,
}

impl<K: StoreData, V: StoreData> KGroupedStream<K, V> {
    /// Starts a cogroup with this stream and its aggregator (Kafka Streams' `cogroup`): add
    /// other grouped streams with [`CogroupedKStream::cogroup`], then
    /// [`aggregate`](CogroupedKStream::aggregate).
    pub fn cogroup<VA: StoreData, A>(&self, aggregator: A) -> CogroupedKStream<K, VA>
    where
        A: Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
    {
        CogroupedKStream {
            graph: self.stream.graph.clone(),
            key_serde: self
                .grouped
                .key_serde
                .clone()
                .or_else(|| self.stream.key_serde.clone()),
            patterns: Vec::new(),
            _aggregate: std::marker::PhantomData,
        }
        .cogroup(self, aggregator)
    }
}

impl<K: StoreData, VA: StoreData> CogroupedKStream<K, VA> {
    /// Adds a grouped stream with its aggregator.
    pub fn cogroup<V: StoreData, A>(mut self, grouped: &KGroupedStream<K, V>, aggregator: A) -> Self
    where
        A: Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
    {
        if !std::rc::Rc::ptr_eq(&self.graph, &grouped.stream.graph) {
            self.graph
                .borrow_mut()
                .error(TopologyError::ForeignBuilder { operation: "cogroup" });
            return self;
        }
        let stream = grouped.clone();
        self.patterns.push(Pattern {
            repartition_base: grouped
                .stream
                .repartition_required
                .then(|| grouped.grouped.name.clone()),
            parent: Box::new(move |store| stream.repartition_if_required(store)),
            aggregator: std::sync::Arc::new(move |k, v, agg| {
                erase(aggregator(
                    downcast_ref::<K>(k),
                    downcast_ref::<V>(v),
                    downcast_box::<VA>(agg),
                ))
            }),
        });
        self
    }

    /// Folds every stream's records into one aggregate per key that starts as `initializer()`,
    /// each with its own aggregator. Names as Kafka Streams: the store
    /// (`COGROUPKSTREAM-AGGREGATE-STATE-STORE-<n>` unless named), the repartition topics of the
    /// streams whose key changed, one `COGROUPKSTREAM-AGGREGATE-<n>` processor per stream (all
    /// writing the store), and a `COGROUPKSTREAM-MERGE-<n>` node the table comes out of.
    pub fn aggregate<I>(&self, initializer: I, materialized: Materialized<K, VA>) -> KTable<K, VA>
    where
        I: Fn() -> VA + Send + Sync + 'static,
    {
        let value_serde = materialized.value_serde.clone().unwrap_or_else(Serde::bincode);
        let built = self.build(
            initializer,
            &materialized,
            &value_serde,
            |_| StoreKind::KeyValue,
            |store, aggregation| ProcessorSpec::Aggregate { store, aggregation },
        );
        KTable::new(
            self.graph.clone(),
            built.node,
            Some(built.key_serde),
            Some(value_serde),
            Some(built.store),
        )
    }

    /// Aggregates per window: `TimeWindows` (tumbling, hopping) or `SlidingWindows` (Kafka
    /// Streams' `windowedBy`), each stream's records into the one window store.
    pub fn windowed_by<W: CogroupWindows>(self, windows: W) -> TimeWindowedCogroupedKStream<K, VA> {
        let (windows, size_ms) = windows.definition();
        TimeWindowedCogroupedKStream {
            cogrouped: self,
            windows,
            size_ms,
        }
    }

    /// The store, the repartition topics, one aggregation per stream (`spec(store, its
    /// aggregation)`) and the merge node they all feed.
    fn build<I>(
        &self,
        initializer: I,
        materialized: &Materialized<K, VA>,
        value_serde: &Serde<VA>,
        kind: impl FnOnce(&str) -> StoreKind,
        spec: impl Fn(String, Aggregation) -> ProcessorSpec,
    ) -> Built<K>
    where
        I: Fn() -> VA + Send + Sync + 'static,
    {
        let initializer: InitializerFn = std::sync::Arc::new(move || Box::new(initializer()) as DynBox);
        let store = match &materialized.name {
            Some(n) => n.clone(),
            None => self
                .graph
                .borrow_mut()
                .generate_name("COGROUPKSTREAM-AGGREGATE-STATE-STORE-"),
        };
        // Two re-keyed streams without their own names would share `<store>-repartition`.
        let mut bases: Vec<String> = Vec::new();
        for base in self.patterns.iter().filter_map(|p| p.repartition_base.clone()) {
            let base = base.unwrap_or_else(|| store.clone());
            if bases.contains(&base) {
                self.graph.borrow_mut().error(TopologyError::InvalidName {
                    name: format!("{base}-repartition"),
                    reason: "two cogrouped streams need a repartition topic of this name: name their groupings (Grouped::as_)".into(),
                });
            }
            bases.push(base);
        }
        let parents: Vec<NodeId> = self.patterns.iter().map(|p| (p.parent)(&store)).collect();
        let key_serde = materialized
            .key_serde
            .clone()
            .or_else(|| self.key_serde.clone())
            .unwrap_or_else(Serde::bincode);
        let kind = kind(&store);
        let mut g = self.graph.borrow_mut();
        g.add_store(materialized.store_spec(&store, kind, &key_serde, value_serde));
        let aggregators: Vec<NodeId> = self
            .patterns
            .iter()
            .zip(parents)
            .map(|(p, parent)| {
                let aggregation = Aggregation::Aggregate {
                    initializer: initializer.clone(),
                    aggregator: p.aggregator.clone(),
                };
                g.add_processor(
                    "COGROUPKSTREAM-AGGREGATE-",
                    None,
                    spec(store.clone(), aggregation),
                    &[parent],
                )
            })
            .collect();
        let node = g.add_processor(
            "COGROUPKSTREAM-MERGE-",
            None,
            ProcessorSpec::PassThrough,
            &aggregators,
        );
        Built {
            node,
            key_serde,
            store,
        }
    }
}

/// What [`CogroupedKStream::build`] added.
struct Built<K> {
    node: NodeId,
    key_serde: Serde<K>,
    store: String,
}

/// Windows a cogroup can be windowed by: `TimeWindows` and `SlidingWindows`.
pub trait CogroupWindows {
    /// The definition and the windows' size (a sliding window's time difference).
    fn definition(&self) -> (WindowDefinition, i64);
}

impl CogroupWindows for TimeWindows {
    fn definition(&self) -> (WindowDefinition, i64) {
        let d = TimeWindows::definition(self);
        (d, self.size_ms)
    }
}

impl CogroupWindows for SlidingWindows {
    fn definition(&self) -> (WindowDefinition, i64) {
        let d = SlidingWindows::definition(self);
        (d, self.time_difference_ms)
    }
}

/// A cogroup aggregated per window (Kafka Streams' `TimeWindowedCogroupedKStream`), made by
/// [`CogroupedKStream::windowed_by`].
pub struct TimeWindowedCogroupedKStream<K, VA> {
    cogrouped: CogroupedKStream<K, VA>,
    windows: WindowDefinition,
    size_ms: i64,
}

impl<K: StoreData + Clone, VA: StoreData> TimeWindowedCogroupedKStream<K, VA> {
    /// Folds every stream's records into one aggregate per key and window that starts as
    /// `initializer()` (each window accepts records until stream time passes its end plus
    /// grace). Named as [`CogroupedKStream::aggregate`] names.
    pub fn aggregate<I>(&self, initializer: I, materialized: Materialized<K, VA>) -> KTable<Windowed<K>, VA>
    where
        I: Fn() -> VA + Send + Sync + 'static,
    {
        let c = &self.cogrouped;
        let retention_ms = window_retention_in(&c.graph, &materialized, &self.windows);
        let value_serde = materialized.value_serde.clone().unwrap_or_else(Serde::bincode);
        let (windows, size_ms) = (self.windows, self.size_ms);
        let built = c.build(
            initializer,
            &materialized,
            &value_serde,
            |_| StoreKind::Window {
                retention_ms,
                size_ms,
                retain_duplicates: false,
            },
            |store, aggregation| ProcessorSpec::WindowAggregate {
                store,
                windows,
                aggregation,
                windowed_key: windowed_key_fn::<K>(),
                emit_store: None,
            },
        );
        let mut table = KTable::new(
            c.graph.clone(),
            built.node,
            Some(Serde::time_windowed(built.key_serde, size_ms)),
            Some(value_serde),
            Some(built.store),
        );
        table.window_grace = Some(windows.grace_ms());
        table
    }
}
