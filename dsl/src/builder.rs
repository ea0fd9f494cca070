//! `StreamsBuilder`: where a topology starts.

use crate::consumed::Consumed;
use crate::dynamic::Data;
use crate::global_ktable::GlobalKTable;
use crate::graph::{Graph, GraphRef};
use crate::kstream::KStream;
use crate::ktable::KTable;
use crate::materialized::Materialized;
use crate::topology::{
    GlobalTableSpec, ProcessorSpec, SourceSpec, StoreKind, TopicRef, Topology, TopologyError,
};
use std::cell::RefCell;
use std::rc::Rc;

/// Builds a [`Topology`] with the DSL (Kafka Streams' `StreamsBuilder`).
///
/// Building does no I/O. Mistakes that Kafka Streams reports by throwing from a DSL call
/// (a topic read twice, an illegal name, a sink without serdes) are collected and reported by
/// [`build`](StreamsBuilder::build), so DSL calls chain without `?`.
///
/// ```
/// use sluice_dsl::prelude::*;
///
/// let builder = StreamsBuilder::new();
/// let words = builder.stream("sentences", Consumed::with(Serde::string(), Serde::string()))
///     .flat_map_values(|line: &String| line.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>())
///     .select_key(|_, word| word.clone());
/// words
///     .group_by_key()
///     .count(Materialized::as_("word-counts"))
///     .to_stream()
///     .to("word-counts-out", Produced::with(Serde::string(), Serde::i64()));
/// let topology = builder.build().unwrap();
/// // select_key changed the key, so counting needs a repartition topic and a second sub-topology.
/// assert_eq!(topology.sub_topologies().len(), 2);
/// ```
#[derive(Default)]
pub struct StreamsBuilder {
    graph: GraphRef,
}

impl StreamsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        StreamsBuilder {
            graph: Rc::new(RefCell::new(Graph::default())),
        }
    }

    /// A stream of the records of `topic`.
    pub fn stream<K: Data, V: Data>(
        &self,
        topic: impl Into<String>,
        consumed: Consumed<K, V>,
    ) -> KStream<K, V> {
        let (node, key_serde, value_serde) = self.add_source(topic.into(), consumed);
        KStream::new(
            self.graph.clone(),
            node,
            Some(key_serde),
            Some(value_serde),
            false,
        )
    }

    /// A table of the latest value per key of `topic` (null values delete), kept in a store
    /// named `<topic>-STATE-STORE-<index>`.
    pub fn table<K: Data, V: Data>(
        &self,
        topic: impl Into<String>,
        consumed: Consumed<K, V>,
    ) -> KTable<K, V> {
        self.table_with(topic, consumed, Materialized::default())
    }

    /// A table of `topic` kept in the store `materialized` describes.
    pub fn table_with<K: Data, V: Data>(
        &self,
        topic: impl Into<String>,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        let topic = topic.into();
        // As Kafka Streams: an unnamed store takes its index before the source node does, so
        // the store (and its changelog topic) is named as a Kafka Streams application's.
        let queryable = materialized.name.is_some();
        let store = materialized.name.clone().unwrap_or_else(|| {
            let mut g = self.graph.borrow_mut();
            let name = g.generate_name(&format!("{topic}-STATE-STORE-"));
            g.on_demand_stores.push(name.clone());
            name
        });
        let (source, key_serde, value_serde) = self.add_source(topic.clone(), consumed);
        let mut g = self.graph.borrow_mut();
        let key_serde = materialized.key_serde.clone().unwrap_or(key_serde);
        let value_serde = materialized.value_serde.clone().unwrap_or(value_serde);
        g.add_store(materialized.store_spec(&store, StoreKind::KeyValue, &key_serde, &value_serde));
        let node = g.add_processor(
            "KTABLE-SOURCE-",
            None,
            ProcessorSpec::TableSource {
                store: Some(store.clone()),
                key_serde: key_serde.clone().into(),
            },
            &[source],
        );
        drop(g);
        let table = KTable::new(
            self.graph.clone(),
            node,
            Some(key_serde),
            Some(value_serde),
            Some(store),
        );
        // As Kafka Streams: a table is queryable only by a name the user gave.
        KTable {
            store: table.store.clone().filter(|_| queryable),
            ..table
        }
    }

    /// A table of every partition of `topic`, on every instance (see [`GlobalKTable`]).
    pub fn global_table<K: Data, V: Data>(
        &self,
        topic: impl Into<String>,
        consumed: Consumed<K, V>,
    ) -> GlobalKTable<K, V> {
        self.global_table_with(topic, consumed, Materialized::default())
    }

    /// [`global_table`](Self::global_table) kept in the store `materialized` names.
    pub fn global_table_with<K: Data, V: Data>(
        &self,
        topic: impl Into<String>,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> GlobalKTable<K, V> {
        let topic = topic.into();
        let mut g = self.graph.borrow_mut();
        if let Some(reason) = crate::named::invalid_name_reason(&topic) {
            g.error(TopologyError::InvalidName {
                name: topic.clone(),
                reason,
            });
        }
        // Kafka Streams' names and indexes: the store, then the source, then the processor.
        let store = materialized
            .name
            .clone()
            .unwrap_or_else(|| g.generate_name(&format!("{topic}-STATE-STORE-")));
        let source_name = g.name_or_generate("KSTREAM-SOURCE-", consumed.name.clone());
        let processor_name = g.generate_name("KTABLE-SOURCE-");
        let position = g.nodes.len();
        let key_serde = materialized.key_serde.clone().unwrap_or(consumed.key_serde);
        let value_serde = materialized.value_serde.clone().unwrap_or(consumed.value_serde);
        // The topic is the changelog of a global store.
        let spec = Materialized::<K, V> {
            logging: false,
            ..materialized
        }
        .store_spec(&store, StoreKind::KeyValue, &key_serde, &value_serde);
        g.add_store(spec);
        g.global_tables.push(GlobalTableSpec {
            topic,
            store: store.clone(),
            key_serde: key_serde.clone().into(),
            value_serde: value_serde.into(),
            source_name,
            processor_name,
            sub_topology: 0,
            position,
        });
        drop(g);
        GlobalKTable {
            graph: self.graph.clone(),
            store,
            key_serde,
            _types: std::marker::PhantomData,
        }
    }

    fn add_source<K: Data, V: Data>(
        &self,
        topic: String,
        consumed: Consumed<K, V>,
    ) -> (usize, crate::serde::Serde<K>, crate::serde::Serde<V>) {
        let mut g = self.graph.borrow_mut();
        if let Some(reason) = crate::named::invalid_name_reason(&topic) {
            g.error(TopologyError::InvalidName {
                name: topic.clone(),
                reason,
            });
        }
        let name = g.name_or_generate("KSTREAM-SOURCE-", consumed.name);
        let node = g.add_source(
            Some(name),
            SourceSpec {
                topics: vec![TopicRef::User(topic)],
                key_serde: consumed.key_serde.clone().into(),
                value_serde: consumed.value_serde.clone().into(),
                timestamp_extractor: consumed.timestamp_extractor,
                offset_reset: consumed.offset_reset,
            },
        );
        (node, consumed.key_serde, consumed.value_serde)
    }

    /// Adds a state store for the processors of the Processor API (Kafka Streams'
    /// `addStateStore`): name it in [`KStream::process`](crate::KStream::process) to connect it.
    /// Every processor connected to one store runs in the same task.
    pub fn add_state_store(&self, store: crate::processor::StoreBuilder) -> &Self {
        self.graph.borrow_mut().add_store(store.spec);
        self
    }

    /// Validates the graph and returns the topology, or the first thing wrong with it.
    pub fn build(self) -> Result<Topology, TopologyError> {
        let graph = std::mem::take(&mut *self.graph.borrow_mut());
        Topology::from_graph(graph)
    }
}
