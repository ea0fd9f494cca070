//! Why a topology is invalid.

/// A topology that cannot run, reported by `StreamsBuilder::build`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopologyError {
    /// The topology reads no topic.
    #[error("the topology has no source: read at least one topic with stream() or table()")]
    NoSource,
    /// Two nodes have the same name.
    #[error("two nodes are named {name:?}: node names must be unique")]
    DuplicateNodeName {
        /// The repeated name.
        name: String,
    },
    /// Two stores have the same name.
    #[error("two state stores are named {name:?}: store names must be unique")]
    DuplicateStoreName {
        /// The repeated name.
        name: String,
    },
    /// A topic is read by two sources.
    #[error(
        "topic {topic:?} is read by two sources ({first} and {second}): read it once and reuse the stream"
    )]
    TopicAlreadyRegistered {
        /// The topic.
        topic: String,
        /// The source that read it first.
        first: String,
        /// The source that read it again.
        second: String,
    },
    /// A name breaks Kafka's naming rules.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A sink has no serde for keys or values.
    #[error(
        "sink {node} to topic {topic:?} has no {what} serde: the stream's {what} type changed \
         since its source, so give one with Produced::with"
    )]
    MissingSerde {
        /// The sink node.
        node: String,
        /// The topic.
        topic: String,
        /// "key" or "value".
        what: &'static str,
    },
    /// A window definition or window store retention is invalid.
    #[error("invalid windows: {reason}")]
    InvalidWindows {
        /// What is wrong.
        reason: String,
    },
    /// A windowed-only operation was applied to a table that is not windowed.
    #[error("{operation} needs a windowed table (the result of a windowed aggregation)")]
    NotWindowed {
        /// The operation.
        operation: &'static str,
    },
    /// A join needs a table it can look values up in.
    #[error("{operation} needs a table it can read values from: a suppressed table is not one (join before suppressing), and a table-table join's result is one only when materialized (join_with / left_join_with / outer_join_with)")]
    NotMaterialized {
        /// The operation.
        operation: &'static str,
    },
    /// A node of a topology built with the Processor API names a parent (or a processor to
    /// connect a store to) that was not added before it.
    #[error("{node} names {missing:?}, which was not added before it (add parents first)")]
    UnknownNode {
        /// The node being added.
        node: String,
        /// The name not found.
        missing: String,
    },
    /// A node of a topology built with the Processor API reads records of other types than its
    /// parent forwards.
    #[error("{node} reads {expected} records but its parent {parent} forwards {found}")]
    TypeMismatch {
        /// The node.
        node: String,
        /// The parent.
        parent: String,
        /// What the node reads: `(key type, value type)`.
        expected: String,
        /// What the parent forwards.
        found: String,
    },
    /// A versioned store is used where Sluice does not support one yet.
    #[error("store {store:?} is versioned: only a table read from a topic keeps one, and only stream-table joins (and to_stream, filter, map_values) read it; {node} cannot use it")]
    VersionedStoreUse {
        /// The store.
        store: String,
        /// The node that uses it.
        node: String,
    },
    /// A processor names a state store that the topology does not have.
    #[error("processor {node} uses state store {store:?}, which was not added: add it with StreamsBuilder::add_state_store before building")]
    UnknownStore {
        /// The processor.
        node: String,
        /// The store.
        store: String,
    },
    /// Streams from two different builders were combined.
    #[error("{operation} combines streams or tables of two different StreamsBuilders")]
    ForeignBuilder {
        /// The operation.
        operation: &'static str,
    },
}
