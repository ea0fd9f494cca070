//! `TopologyBuilder`: a topology written node by node with the Processor API (Kafka Streams'
//! `Topology#addSource`, `addProcessor`, `addSink`, `addStateStore`), without the DSL.

use super::erased::Typed;
use super::store::StoreBuilder;
use super::{ErasedProcessor, Processor, ProcessorData, ProcessorSupplierFn};
use crate::dynamic::Data;
use crate::graph::Graph;
use crate::serde::Serde;
use crate::topology::{
    NodeId, NodeKind, ProcessorSpec, SinkSpec, SourceSpec, TopicRef, Topology, TopologyError,
};
use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;

/// The key and value types a node forwards (or reads), with their names for errors.
#[derive(Clone, Copy, PartialEq, Eq)]
struct RecordType {
    key: TypeId,
    value: TypeId,
    names: (&'static str, &'static str),
}

impl RecordType {
    fn of<K: 'static, V: 'static>() -> Self {
        RecordType {
            key: TypeId::of::<K>(),
            value: TypeId::of::<V>(),
            names: (std::any::type_name::<K>(), std::any::type_name::<V>()),
        }
    }

    fn describe(&self) -> String {
        format!("({}, {})", self.names.0, self.names.1)
    }
}

/// A topology built node by node (Kafka Streams' low-level `Topology` API): sources, processors
/// and sinks connected by name, and state stores connected to the processors that use them.
/// Parents must be added before their children; each node's key and value types must be what
/// its parents forward. Mistakes are reported by [`build`](Self::build).
///
/// ```
/// use sluice_dsl::prelude::*;
/// use sluice_dsl::processor::*;
///
/// struct Upper;
/// impl Processor<String, String, String, String> for Upper {
///     fn process(&mut self, ctx: &mut ProcessorContext<'_, String, String>, r: Record<String, String>)
///         -> Result<(), ProcessorError> {
///         let v = r.value.clone().map(|v| v.to_uppercase());
///         ctx.forward(r.with_value(v));
///         Ok(())
///     }
/// }
///
/// let mut t = TopologyBuilder::new();
/// t.add_source("Source", &["words"], Serde::string(), Serde::string())
///     .add_processor("Upper", || Upper, &["Source"])
///     .add_sink("Sink", "upper-words", Serde::string(), Serde::string(), &["Upper"]);
/// let topology = t.build().unwrap();
/// assert!(topology.describe().to_string().contains("Processor: Upper (stores: [])"));
/// ```
#[derive(Default)]
pub struct TopologyBuilder {
    graph: Graph,
    /// What each node forwards (sources and processors).
    outputs: HashMap<NodeId, RecordType>,
}

impl TopologyBuilder {
    /// An empty topology.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `topics` with the given serdes (Kafka Streams' `addSource`).
    pub fn add_source<K: Data, V: Data>(
        &mut self,
        name: &str,
        topics: &[&str],
        key_serde: Serde<K>,
        value_serde: Serde<V>,
    ) -> &mut Self {
        let node = self.graph.add_source(
            Some(name.to_string()),
            SourceSpec {
                topics: topics.iter().map(|t| TopicRef::User(t.to_string())).collect(),
                key_serde: key_serde.into(),
                value_serde: value_serde.into(),
                timestamp_extractor: None,
                offset_reset: None,
            },
        );
        self.outputs.insert(node, RecordType::of::<K, V>());
        self
    }

    /// Adds a processor fed by `parents` (Kafka Streams' `addProcessor`); `supplier` makes one
    /// instance per task.
    pub fn add_processor<KIn, VIn, KOut, VOut, P, S>(
        &mut self,
        name: &str,
        supplier: S,
        parents: &[&str],
    ) -> &mut Self
    where
        KIn: ProcessorData,
        VIn: ProcessorData,
        KOut: Data,
        VOut: Data,
        P: Processor<KIn, VIn, KOut, VOut>,
        S: Fn() -> P + Send + Sync + 'static,
    {
        let Some(parents) = self.parents(name, parents, RecordType::of::<KIn, VIn>()) else {
            return self;
        };
        let supplier: ProcessorSupplierFn = Arc::new(move || {
            Box::new(Typed::<P, KIn, VIn, KOut, VOut>::new(supplier())) as Box<dyn ErasedProcessor>
        });
        let spec = ProcessorSpec::Process {
            supplier,
            stores: Vec::new(),
            fixed_key: false,
        };
        let node = self
            .graph
            .add_processor("KSTREAM-PROCESSOR-", Some(name.to_string()), spec, &parents);
        self.outputs.insert(node, RecordType::of::<KOut, VOut>());
        self
    }

    /// Writes the records of `parents` to `topic` with the given serdes (Kafka Streams'
    /// `addSink`).
    pub fn add_sink<K: Data, V: Data>(
        &mut self,
        name: &str,
        topic: &str,
        key_serde: Serde<K>,
        value_serde: Serde<V>,
        parents: &[&str],
    ) -> &mut Self {
        let Some(parents) = self.parents(name, parents, RecordType::of::<K, V>()) else {
            return self;
        };
        self.graph.add_sink_after(
            Some(name.to_string()),
            SinkSpec {
                topic: TopicRef::User(topic.to_string()),
                key_serde: key_serde.into(),
                value_serde: value_serde.into(),
                partitions: None,
                partition_of: None,
            },
            &parents,
        );
        self
    }

    /// Adds a state store and connects it to `processors` (Kafka Streams' `addStateStore`).
    pub fn add_state_store(&mut self, store: StoreBuilder, processors: &[&str]) -> &mut Self {
        let name = store.name().to_string();
        self.graph.add_store(store.spec);
        self.connect_processor_and_state_stores_each(processors, &[name.as_str()]);
        self
    }

    /// Connects stores added before to a processor (Kafka Streams'
    /// `connectProcessorAndStateStores`).
    pub fn connect_processor_and_state_stores(&mut self, processor: &str, stores: &[&str]) -> &mut Self {
        self.connect_processor_and_state_stores_each(&[processor], stores);
        self
    }

    fn connect_processor_and_state_stores_each(&mut self, processors: &[&str], stores: &[&str]) {
        for &processor in processors {
            let node = self.graph.find(processor);
            let connected = node.and_then(|n| match &mut self.graph.nodes[n].kind {
                NodeKind::Processor(ProcessorSpec::Process {
                    stores: connected, ..
                }) => Some(connected),
                _ => None,
            });
            let Some(connected) = connected else {
                self.graph.error(TopologyError::UnknownNode {
                    node: format!("state stores {stores:?}"),
                    missing: processor.to_string(),
                });
                continue;
            };
            for &s in stores {
                if !connected.iter().any(|c| c == s) {
                    connected.push(s.to_string());
                }
            }
        }
    }

    /// Validates the topology (as `StreamsBuilder::build`), or returns the first mistake.
    pub fn build(self) -> Result<Topology, TopologyError> {
        Topology::from_graph(self.graph)
    }

    /// The nodes named `parents`, each forwarding `reads`; `None` (with the error recorded) if
    /// one is missing or forwards other types.
    fn parents(&mut self, name: &str, parents: &[&str], reads: RecordType) -> Option<Vec<NodeId>> {
        let mut ids = Vec::with_capacity(parents.len());
        for &parent in parents {
            let found = self
                .graph
                .find(parent)
                .and_then(|id| self.outputs.get(&id).map(|t| (id, *t)));
            let Some((id, forwards)) = found else {
                self.graph.error(TopologyError::UnknownNode {
                    node: name.to_string(),
                    missing: parent.to_string(),
                });
                return None;
            };
            if forwards != reads {
                self.graph.error(TopologyError::TypeMismatch {
                    node: name.to_string(),
                    parent: parent.to_string(),
                    expected: reads.describe(),
                    found: forwards.describe(),
                });
                return None;
            }
            ids.push(id);
        }
        Some(ids)
    }
}
