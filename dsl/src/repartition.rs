//! Inserting a repartition topic: a sink to `<name>-repartition` and a source reading it back,
//! which splits the graph into two sub-topologies.

use crate::dynamic::Data;
use crate::graph::GraphRef;
use crate::serde::Serde;
use crate::topology::{NodeId, SinkSpec, SourceSpec, TopicRef};

/// Routes `parent`'s records through `<base>-repartition` and returns the reading source.
pub(crate) fn add_repartition<K: Data, V: Data>(
    graph: &GraphRef,
    parent: NodeId,
    base: &str,
    key_serde: Serde<K>,
    value_serde: Serde<V>,
    partitions: Option<u32>,
) -> NodeId {
    let topic = TopicRef::Internal(format!("{base}-repartition"));
    let mut g = graph.borrow_mut();
    g.add_sink(
        Some(format!("{base}-repartition-sink")),
        SinkSpec {
            topic: topic.clone(),
            key_serde: key_serde.clone().into(),
            value_serde: value_serde.clone().into(),
            partitions,
        },
        parent,
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
