//! `Topology`: the validated processor graph a `StreamsBuilder` produces, split into
//! sub-topologies, with its state stores and internal topics.

mod build;
mod change;
mod describe;
mod error;
mod foreign_key;
mod node;

pub use change::{change_serde, TableChange};
pub use describe::TopologyDescription;
pub use error::TopologyError;
pub use foreign_key::{
    foreign_key_serde, response_serde, subscription_serde, CombinedKey, FkInstruction, FkResponse,
    FkSubscription, ForeignKey, ValueHash,
};
pub use node::*;

/// A connected part of the graph: it becomes one task per input partition. Sub-topologies
/// meet only through topics (repartition topics), never through in-memory edges or stores.
#[derive(Debug, Clone)]
pub struct SubTopology {
    /// 0, 1, ... in order of the first node of each.
    pub id: u32,
    /// Its nodes, in topological (creation) order.
    pub nodes: Vec<NodeId>,
    /// Its source nodes.
    pub sources: Vec<NodeId>,
    /// Topics its sources read.
    pub source_topics: Vec<TopicRef>,
    /// Names of the stores its processors use.
    pub stores: Vec<String>,
}

/// An internal topic the application creates at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalTopic {
    /// The topic (resolve with the application id).
    pub topic: TopicRef,
    /// Repartition or changelog.
    pub kind: InternalTopicKind,
}

/// What an internal topic is for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InternalTopicKind {
    /// Carries re-keyed records between sub-topologies; as many partitions as the largest input
    /// of the sub-topology writing it.
    Repartition {
        /// The sub-topology writing it.
        writer: u32,
        /// The sub-topology reading it.
        reader: u32,
        /// Partitions chosen with `Repartitioned::with_number_of_partitions`, if any.
        partitions: Option<u32>,
    },
    /// A store's changelog (`cleanup.policy=compact`); partitions = tasks of its sub-topology.
    Changelog {
        /// The store.
        store: String,
        /// The sub-topology owning the store.
        sub_topology: u32,
    },
}

/// A validated processor graph, ready for the engine or the test driver.
///
/// ```
/// use sluice_dsl::{StreamsBuilder, Consumed, Produced, serde::Serde};
/// let builder = StreamsBuilder::new();
/// builder
///     .stream("payments", Consumed::with(Serde::string(), Serde::<i64>::i64()))
///     .filter(|_account, amount| *amount > 1_000)
///     .to("large-payments", Produced::default());
/// let topology = builder.build().unwrap();
/// assert_eq!(topology.sub_topologies().len(), 1);
/// println!("{}", topology.describe());
/// ```
#[derive(Debug)]
pub struct Topology {
    pub(crate) nodes: Vec<Node>,
    pub(crate) stores: Vec<StoreSpec>,
    pub(crate) sub_topologies: Vec<SubTopology>,
    pub(crate) internal_topics: Vec<InternalTopic>,
    /// `node_sub_topology[n]` = the sub-topology of node `n`.
    pub(crate) node_sub_topology: Vec<u32>,
    pub(crate) global_tables: Vec<GlobalTableSpec>,
    pub(crate) copartition_groups: Vec<Vec<TopicRef>>,
}

impl Topology {
    /// All nodes; a node's id is its index.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// One node.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// The node named `name`.
    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// All state stores.
    pub fn stores(&self) -> &[StoreSpec] {
        &self.stores
    }

    /// The store named `name`.
    pub fn store(&self, name: &str) -> Option<&StoreSpec> {
        self.stores.iter().find(|s| s.name == name)
    }

    /// The stream sub-topologies, in id order (ids skip the numbers of global stores).
    pub fn sub_topologies(&self) -> &[SubTopology] {
        &self.sub_topologies
    }

    /// The stream sub-topology `id`.
    pub fn sub_topology(&self, id: u32) -> Option<&SubTopology> {
        self.sub_topologies.iter().find(|s| s.id == id)
    }

    /// The sub-topology a node belongs to.
    pub fn sub_topology_of(&self, node: NodeId) -> u32 {
        self.node_sub_topology[node]
    }

    /// Repartition and changelog topics.
    pub fn internal_topics(&self) -> &[InternalTopic] {
        &self.internal_topics
    }

    /// The source node reading `topic`, if any.
    pub fn source_for(&self, topic: &TopicRef) -> Option<NodeId> {
        self.nodes.iter().position(|n| match &n.kind {
            NodeKind::Source(s) => s.topics.contains(topic),
            _ => false,
        })
    }

    /// Every topic a source reads (user and repartition topics).
    pub fn source_topics(&self) -> Vec<TopicRef> {
        self.sub_topologies
            .iter()
            .flat_map(|s| s.source_topics.iter().cloned())
            .collect()
    }

    /// Topics written by sinks.
    pub fn sink_topics(&self) -> Vec<TopicRef> {
        let mut out: Vec<TopicRef> = self
            .nodes
            .iter()
            .filter_map(|n| match &n.kind {
                NodeKind::Sink(s) => Some(s.topic.clone()),
                _ => None,
            })
            .collect();
        out.dedup();
        out
    }

    /// Global tables: topics read in full on every instance.
    pub fn global_tables(&self) -> &[GlobalTableSpec] {
        &self.global_tables
    }

    /// Sets of source topics that joins require to be co-partitioned (same partition count, so
    /// that equal keys meet in the same task); each set has at least two topics.
    pub fn copartition_groups(&self) -> &[Vec<TopicRef>] {
        &self.copartition_groups
    }

    /// A printable description, in the format of Kafka Streams' `TopologyDescription`.
    pub fn describe(&self) -> TopologyDescription<'_> {
        TopologyDescription { topology: self }
    }
}
