//! The graph a `StreamsBuilder` accumulates before `build()` validates it into a `Topology`.

use crate::named::invalid_name_reason;
use crate::topology::{
    GlobalTableSpec, Node, NodeId, NodeKind, ProcessorSpec, SinkSpec, SourceSpec, StoreSpec, TopologyError,
};
use std::cell::RefCell;
use std::rc::Rc;

/// Shared by the builder and every stream/table it hands out (building is single-threaded).
pub(crate) type GraphRef = Rc<RefCell<Graph>>;

#[derive(Default)]
pub(crate) struct Graph {
    pub(crate) nodes: Vec<Node>,
    pub(crate) stores: Vec<StoreSpec>,
    pub(crate) global_tables: Vec<GlobalTableSpec>,
    /// Stores of table sources that the user did not name: materialized only if something
    /// reads them (see `ProcessorSpec::TableSource`); `build()` drops the others.
    pub(crate) on_demand_stores: Vec<String>,
    /// Kafka Streams' name index, shared by nodes and generated store names.
    counter: usize,
    /// DSL calls cannot fail without breaking method chains, so errors wait for `build()`.
    pub(crate) errors: Vec<TopologyError>,
}

impl Graph {
    /// `KSTREAM-FILTER-0000000003`-style name with the next index.
    pub(crate) fn generate_name(&mut self, prefix: &str) -> String {
        let name = format!("{prefix}{:010}", self.counter);
        self.counter += 1;
        name
    }

    /// Kafka Streams' `orElseGenerateWithPrefix`: the given name, or a generated one. An index
    /// is taken either way, so naming one operator leaves the generated names of the others as
    /// they were.
    pub(crate) fn name_or_generate(&mut self, prefix: &str, name: Option<String>) -> String {
        let generated = self.generate_name(prefix);
        name.unwrap_or(generated)
    }

    pub(crate) fn error(&mut self, e: TopologyError) {
        self.errors.push(e);
    }

    fn add_node(&mut self, prefix: &str, name: Option<String>, kind: NodeKind, parents: &[NodeId]) -> NodeId {
        let name = match name {
            Some(n) => {
                self.check_name(&n);
                n
            }
            None => self.generate_name(prefix),
        };
        let id = self.nodes.len();
        for &p in parents {
            self.nodes[p].children.push(id);
        }
        self.nodes.push(Node {
            name,
            kind,
            parents: parents.to_vec(),
            children: Vec::new(),
        });
        id
    }

    pub(crate) fn add_source(&mut self, name: Option<String>, spec: SourceSpec) -> NodeId {
        self.add_node("KSTREAM-SOURCE-", name, NodeKind::Source(spec), &[])
    }

    pub(crate) fn add_processor(
        &mut self,
        prefix: &str,
        name: Option<String>,
        spec: ProcessorSpec,
        parents: &[NodeId],
    ) -> NodeId {
        self.add_node(prefix, name, NodeKind::Processor(spec), parents)
    }

    pub(crate) fn add_sink(&mut self, name: Option<String>, spec: SinkSpec, parent: NodeId) -> NodeId {
        self.add_sink_after(name, spec, &[parent])
    }

    /// A sink fed by several nodes (the Processor API's `add_sink`).
    pub(crate) fn add_sink_after(
        &mut self,
        name: Option<String>,
        spec: SinkSpec,
        parents: &[NodeId],
    ) -> NodeId {
        self.add_node("KSTREAM-SINK-", name, NodeKind::Sink(spec), parents)
    }

    /// The node named `name`.
    pub(crate) fn find(&self, name: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.name == name)
    }

    pub(crate) fn add_store(&mut self, spec: StoreSpec) {
        self.check_name(&spec.name);
        self.stores.push(spec);
    }

    pub(crate) fn rename(&mut self, node: NodeId, name: String) {
        self.check_name(&name);
        self.nodes[node].name = name;
    }

    fn check_name(&mut self, name: &str) {
        if let Some(reason) = invalid_name_reason(name) {
            self.error(TopologyError::InvalidName {
                name: name.to_string(),
                reason,
            });
        }
    }
}
