//! `KStream`: an unbounded sequence of key-value records.

use crate::branched::BranchedKStream;
use crate::dynamic::*;
use crate::graph::GraphRef;
use crate::grouped::Grouped;
use crate::kgrouped_stream::KGroupedStream;
use crate::ktable::KTable;
use crate::materialized::Materialized;
use crate::named::Named;
use crate::produced::Produced;
use crate::serde::Serde;
use crate::topology::{NodeId, ProcessorSpec, SinkSpec, StoreKind, TopicRef, TopologyError};
use std::rc::Rc;
use std::sync::Arc;

/// A stream of key-value records (Kafka Streams' `KStream`).
///
/// Operators take `&self`, so one stream can feed several downstream branches. Closures receive
/// keys and values by reference and must be `Send + Sync`: tasks on several threads share them.
///
/// **Null values.** A record whose value is null (a Kafka tombstone read with a serde that
/// cannot represent null, or a delete forwarded by [`KTable::to_stream`]) passes through
/// value-only operators (`filter`, `map_values`, `peek`, ...) untouched and without calling the
/// closure, so `to()` writes it as a tombstone; operators that need the value to compute a key
/// (`map`, `select_key`, `flat_map`, `group_by`) and aggregations drop it and count it in the
/// `dropped-records` metric. Use [`Serde::optional`] to handle nulls in your own closures.
pub struct KStream<K, V> {
    pub(crate) graph: GraphRef,
    pub(crate) node: NodeId,
    pub(crate) key_serde: Option<Serde<K>>,
    pub(crate) value_serde: Option<Serde<V>>,
    /// The key changed since the source: a stateful operator must repartition first.
    pub(crate) repartition_required: bool,
}

impl<K, V> Clone for KStream<K, V> {
    fn clone(&self) -> Self {
        KStream {
            graph: self.graph.clone(),
            node: self.node,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            repartition_required: self.repartition_required,
        }
    }
}

impl<K: Data, V: Data> KStream<K, V> {
    pub(crate) fn new(
        graph: GraphRef,
        node: NodeId,
        key_serde: Option<Serde<K>>,
        value_serde: Option<Serde<V>>,
        repartition_required: bool,
    ) -> Self {
        KStream {
            graph,
            node,
            key_serde,
            value_serde,
            repartition_required,
        }
    }

    /// Same types and serdes, another node.
    pub(crate) fn derive_same(&self, node: NodeId) -> KStream<K, V> {
        KStream { node, ..self.clone() }
    }

    fn add(&self, prefix: &str, spec: ProcessorSpec) -> NodeId {
        self.graph
            .borrow_mut()
            .add_processor(prefix, None, spec, &[self.node])
    }

    /// Renames the node that produced this stream (Kafka Streams' `Named` argument).
    pub fn named(self, name: impl Into<Named>) -> Self {
        self.graph.borrow_mut().rename(self.node, name.into().0);
        self
    }

    /// Keeps the records for which `predicate` is true.
    pub fn filter<F>(&self, predicate: F) -> KStream<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        let node = self.add("KSTREAM-FILTER-", filter_spec(predicate, false));
        self.derive_same(node)
    }

    /// Keeps the records for which `predicate` is false.
    pub fn filter_not<F>(&self, predicate: F) -> KStream<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        let node = self.add("KSTREAM-FILTER-", filter_spec(predicate, true));
        self.derive_same(node)
    }

    /// Replaces key and value; marks the stream for repartitioning before a stateful operator.
    pub fn map<K2: Data, V2: Data, F>(&self, mapper: F) -> KStream<K2, V2>
    where
        F: Fn(&K, &V) -> (K2, V2) + Send + Sync + 'static,
    {
        let f: KeyValueMapperFn = Arc::new(move |k, v| {
            let (k2, v2) = mapper(downcast_ref::<K>(k), downcast_ref::<V>(v));
            (erase(k2), erase(v2))
        });
        let node = self.add("KSTREAM-MAP-", ProcessorSpec::Map(f));
        KStream::new(self.graph.clone(), node, None, None, true)
    }

    /// Replaces the value; the key is unchanged, so no repartition follows.
    pub fn map_values<V2: Data, F>(&self, mapper: F) -> KStream<K, V2>
    where
        F: Fn(&V) -> V2 + Send + Sync + 'static,
    {
        self.map_values_with_key(move |_, v| mapper(v))
    }

    /// Replaces the value, computed from key and value.
    pub fn map_values_with_key<V2: Data, F>(&self, mapper: F) -> KStream<K, V2>
    where
        F: Fn(&K, &V) -> V2 + Send + Sync + 'static,
    {
        let f: ValueMapperIntoFn = Arc::new(move |k, v| {
            let mapped = mapper(downcast_ref::<K>(k), downcast_ref::<V>(&v));
            replace(v, mapped)
        });
        let node = self.add("KSTREAM-MAPVALUES-", ProcessorSpec::MapValues(f));
        KStream::new(
            self.graph.clone(),
            node,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }

    /// Replaces the key; marks the stream for repartitioning before a stateful operator.
    pub fn select_key<K2: Data, F>(&self, selector: F) -> KStream<K2, V>
    where
        F: Fn(&K, &V) -> K2 + Send + Sync + 'static,
    {
        let f: KeySelectorFn =
            Arc::new(move |k, v| erase(selector(downcast_ref::<K>(k), downcast_ref::<V>(v))));
        let node = self.add("KSTREAM-KEY-SELECT-", ProcessorSpec::SelectKey(f));
        KStream::new(self.graph.clone(), node, None, self.value_serde.clone(), true)
    }

    /// Zero or more records per record; marks the stream for repartitioning.
    pub fn flat_map<K2: Data, V2: Data, I, F>(&self, mapper: F) -> KStream<K2, V2>
    where
        I: IntoIterator<Item = (K2, V2)>,
        F: Fn(&K, &V) -> I + Send + Sync + 'static,
    {
        let f: FlatMapperFn = Arc::new(move |k, v| {
            mapper(downcast_ref::<K>(k), downcast_ref::<V>(v))
                .into_iter()
                .map(|(k2, v2)| (erase(k2), erase(v2)))
                .collect()
        });
        let node = self.add("KSTREAM-FLATMAP-", ProcessorSpec::FlatMap(f));
        KStream::new(self.graph.clone(), node, None, None, true)
    }

    /// Zero or more values per record, same key.
    pub fn flat_map_values<V2: Data, I, F>(&self, mapper: F) -> KStream<K, V2>
    where
        I: IntoIterator<Item = V2>,
        F: Fn(&V) -> I + Send + Sync + 'static,
    {
        self.flat_map_values_with_key(move |_, v| mapper(v))
    }

    /// Zero or more values per record, computed from key and value.
    pub fn flat_map_values_with_key<V2: Data, I, F>(&self, mapper: F) -> KStream<K, V2>
    where
        I: IntoIterator<Item = V2>,
        F: Fn(&K, &V) -> I + Send + Sync + 'static,
    {
        let f: FlatValueMapperFn = Arc::new(move |k, v| {
            mapper(downcast_ref::<K>(k), downcast_ref::<V>(v))
                .into_iter()
                .map(erase)
                .collect()
        });
        let node = self.add("KSTREAM-FLATMAPVALUES-", ProcessorSpec::FlatMapValues(f));
        KStream::new(
            self.graph.clone(),
            node,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }

    /// Calls `action` for each record and forwards it unchanged.
    pub fn peek<F>(&self, action: F) -> KStream<K, V>
    where
        F: Fn(&K, &V) + Send + Sync + 'static,
    {
        let node = self.add("KSTREAM-PEEK-", ProcessorSpec::Peek(foreach_fn(action)));
        self.derive_same(node)
    }

    /// Calls `action` for each record (terminal).
    pub fn foreach<F>(&self, action: F)
    where
        F: Fn(&K, &V) + Send + Sync + 'static,
    {
        self.add("KSTREAM-FOREACH-", ProcessorSpec::Foreach(foreach_fn(action)));
    }

    /// Routes records into branches (Kafka Streams' `split()`). As Kafka Streams, the branch
    /// processor takes a generated name (`KSTREAM-BRANCH-0000000001`), and the branches are
    /// named after it: `<that name><branch name>`, or `<that name>1`, `2`, ... unless named.
    pub fn split(&self) -> BranchedKStream<K, V> {
        let name = self.graph.borrow_mut().generate_name("KSTREAM-BRANCH-");
        BranchedKStream::new(self.clone(), name)
    }

    /// [`split`](Self::split) with a name: the branch processor's name, and the prefix of the
    /// branches' names.
    pub fn split_named(&self, prefix: impl Into<Named>) -> BranchedKStream<K, V> {
        let name = self
            .graph
            .borrow_mut()
            .name_or_generate("KSTREAM-BRANCH-", Some(prefix.into().0));
        BranchedKStream::new(self.clone(), name)
    }

    /// The records of both streams, interleaved in processing order.
    pub fn merge(&self, other: &KStream<K, V>) -> KStream<K, V> {
        if !Rc::ptr_eq(&self.graph, &other.graph) {
            self.graph
                .borrow_mut()
                .error(TopologyError::ForeignBuilder { operation: "merge" });
            return self.clone();
        }
        let node = self.graph.borrow_mut().add_processor(
            "KSTREAM-MERGE-",
            None,
            ProcessorSpec::PassThrough,
            &[self.node, other.node],
        );
        KStream {
            node,
            repartition_required: self.repartition_required || other.repartition_required,
            ..self.clone()
        }
    }

    /// Writes the stream to `topic` (terminal).
    pub fn to(&self, topic: impl Into<String>, produced: Produced<K, V>) {
        let topic = topic.into();
        let mut g = self.graph.borrow_mut();
        if let Some(reason) = crate::named::invalid_name_reason(&topic) {
            g.error(TopologyError::InvalidName {
                name: topic.clone(),
                reason,
            });
        }
        let sink_name = g.name_or_generate("KSTREAM-SINK-", produced.name.clone());
        let key_serde = produced.key_serde.or_else(|| self.key_serde.clone());
        let value_serde = produced.value_serde.or_else(|| self.value_serde.clone());
        let (key_serde, value_serde) = match (key_serde, value_serde) {
            (Some(k), Some(v)) => (k, v),
            (k, _) => {
                g.error(TopologyError::MissingSerde {
                    node: sink_name,
                    topic,
                    what: if k.is_none() { "key" } else { "value" },
                });
                return;
            }
        };
        g.add_sink(
            Some(sink_name),
            SinkSpec {
                topic: TopicRef::User(topic),
                key_serde: key_serde.into(),
                value_serde: value_serde.into(),
                partitions: None,
                partition_of: None,
            },
            self.node,
        );
    }

    /// Groups by the current key (no repartition unless the key changed upstream).
    pub fn group_by_key(&self) -> KGroupedStream<K, V> {
        self.group_by_key_with(Grouped::default())
    }

    /// [`group_by_key`](Self::group_by_key) with serdes and a name.
    pub fn group_by_key_with(&self, grouped: Grouped<K, V>) -> KGroupedStream<K, V> {
        KGroupedStream::new(self.clone(), grouped)
    }

    /// Groups by a new key; the next stateful operator repartitions.
    pub fn group_by<K2: Data, F>(&self, selector: F) -> KGroupedStream<K2, V>
    where
        F: Fn(&K, &V) -> K2 + Send + Sync + 'static,
    {
        self.group_by_with(selector, Grouped::default())
    }

    /// [`group_by`](Self::group_by) with serdes and a name.
    pub fn group_by_with<K2: Data, F>(&self, selector: F, grouped: Grouped<K2, V>) -> KGroupedStream<K2, V>
    where
        F: Fn(&K, &V) -> K2 + Send + Sync + 'static,
    {
        let selected = self.select_key(selector);
        // As Kafka Streams: a named grouping names the key-selecting node too.
        if let Some(name) = &grouped.name {
            self.graph.borrow_mut().rename(selected.node, name.clone());
        }
        KGroupedStream::new(selected, grouped)
    }

    /// A table of the latest value per key of this stream (null values delete).
    pub fn to_table(&self, materialized: Materialized<K, V>) -> KTable<K, V>
    where
        K: StoreData,
        V: StoreData,
    {
        let mut g = self.graph.borrow_mut();
        let store = materialized
            .name
            .clone()
            .unwrap_or_else(|| g.generate_name("KSTREAM-TOTABLE-STATE-STORE-"));
        let key_serde = materialized
            .key_serde
            .clone()
            .or_else(|| self.key_serde.clone())
            .unwrap_or_else(Serde::bincode);
        let value_serde = materialized
            .value_serde
            .clone()
            .or_else(|| self.value_serde.clone())
            .unwrap_or_else(Serde::bincode);
        g.add_store(materialized.store_spec(&store, StoreKind::KeyValue, &key_serde, &value_serde));
        let node = g.add_processor(
            "KSTREAM-TOTABLE-",
            None,
            ProcessorSpec::ToTable { store: store.clone() },
            &[self.node],
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

pub(crate) fn filter_spec<K: Data, V: Data, F>(predicate: F, negate: bool) -> ProcessorSpec
where
    F: Fn(&K, &V) -> bool + Send + Sync + 'static,
{
    ProcessorSpec::Filter {
        predicate: Arc::new(move |k, v| predicate(downcast_ref::<K>(k), downcast_ref::<V>(v))),
        negate,
    }
}

fn foreach_fn<K: Data, V: Data, F>(action: F) -> ForeachFn
where
    F: Fn(&K, &V) + Send + Sync + 'static,
{
    Arc::new(move |k, v| action(downcast_ref::<K>(k), downcast_ref::<V>(v)))
}
