//! Inserting a repartition topic: a filter dropping null keys, a sink to `<name>-repartition`
//! and a source reading it back, which splits the graph into two sub-topologies.

use crate::dynamic::Data;
use crate::graph::GraphRef;
use crate::serde::Serde;
use crate::topology::{NodeId, ProcessorSpec, SinkSpec, SourceSpec, TopicRef};

/// True for names Kafka Streams generated (`KSTREAM-...-0000000007`): repartition nodes based
/// on such a name take generated names too.
fn is_generated(base: &str) -> bool {
    let digits = base.len().saturating_sub(10);
    base.starts_with("KSTREAM")
        && base.len() > 18
        && base[digits..].bytes().all(|b| b.is_ascii_digit())
        && base.as_bytes()[digits - 1] == b'-'
}

/// Routes `parent`'s records through `<base>-repartition` and returns the reading source.
/// Names as Kafka Streams: three indexes are taken (sink, filter, source); a generated `base`
/// gives generated node names, a user's gives `<base>-repartition-{sink,filter,source}`.
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
    let generated = [
        g.generate_name("KSTREAM-SINK-"),
        g.generate_name("KSTREAM-FILTER-"),
        g.generate_name("KSTREAM-SOURCE-"),
    ];
    let [sink, filter, source] = if is_generated(base) {
        generated
    } else {
        ["sink", "filter", "source"].map(|part| format!("{base}-repartition-{part}"))
    };
    // A null key has no partition: it is dropped (and counted) before the topic.
    let filter = g.add_processor(
        "KSTREAM-FILTER-",
        Some(filter),
        ProcessorSpec::DropNullKeys {
            key_serde: key_serde.clone().into(),
        },
        &[parent],
    );
    g.add_sink(
        Some(sink),
        SinkSpec {
            topic: topic.clone(),
            key_serde: key_serde.clone().into(),
            value_serde: value_serde.clone().into(),
            partitions,
            partition_of: None,
        },
        filter,
    );
    g.add_source(
        Some(source),
        SourceSpec {
            topics: vec![topic],
            key_serde: key_serde.into(),
            value_serde: value_serde.into(),
            timestamp_extractor: None,
            offset_reset: None,
        },
    )
}
