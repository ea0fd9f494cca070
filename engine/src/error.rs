//! `StreamsError`: what can go wrong while running a topology, with the task, topic,
//! partition and offset it happened at.

use crate::client::ClientError;
use crate::config::ConfigError;
use crate::task_id::TaskId;
use sluice_dsl::serde::SerdeError;
use sluice_dsl::TopologyError;
use sluice_state::StoreError;
use std::fmt;

/// Where an input record came from: topic, partition, offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPosition {
    /// Topic.
    pub topic: std::sync::Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

impl StreamsError {
    /// A client error while doing `context`.
    pub fn client(context: impl Into<String>, source: ClientError) -> Self {
        StreamsError::Client {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for RecordPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}@{}", self.topic, self.partition, self.offset)
    }
}

/// An error while running a topology.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamsError {
    /// An input record could not be deserialized (and the handler said fail).
    #[error("task {task}: cannot deserialize the {part} of record {position}: {source}")]
    Deserialization {
        /// The task.
        task: TaskId,
        /// Where the record came from.
        position: RecordPosition,
        /// "key" or "value".
        part: &'static str,
        /// The serde's error.
        #[source]
        source: Box<SerdeError>,
    },
    /// An input record has an unusable timestamp (and the handler said fail).
    #[error("task {task}: record {position} has invalid timestamp {timestamp}: {reason}")]
    InvalidTimestamp {
        /// The task.
        task: TaskId,
        /// Where the record came from.
        position: RecordPosition,
        /// The timestamp.
        timestamp: i64,
        /// Why it is unusable.
        reason: &'static str,
    },
    /// A processor (usually a user closure) panicked (and the handler said fail).
    #[error("task {task}: processor {node} failed{}: {message}", at(position))]
    Processing {
        /// The task.
        task: TaskId,
        /// The processor node.
        node: String,
        /// The input record being processed, if any (none during a commit-time flush).
        position: Option<RecordPosition>,
        /// The panic message.
        message: String,
    },
    /// A record could not be serialized for a topic (and the handler said fail).
    #[error(
        "task {task}: sink {node} cannot serialize the {part} for topic {topic}{}: {source}",
        at(position)
    )]
    Serialization {
        /// The task.
        task: TaskId,
        /// The sink node.
        node: String,
        /// The topic written.
        topic: String,
        /// "key" or "value".
        part: &'static str,
        /// The input record being processed, if any.
        position: Option<RecordPosition>,
        /// The serde's error.
        #[source]
        source: Box<SerdeError>,
    },
    /// A state store failed.
    #[error("task {task}: {source}")]
    Store {
        /// The task.
        task: TaskId,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// A store holds bytes its serde cannot read.
    #[error("task {task}: store {store} holds unreadable data: {source}")]
    StoreData {
        /// The task.
        task: TaskId,
        /// The store.
        store: String,
        /// The serde's error.
        #[source]
        source: Box<SerdeError>,
    },
    /// A suppression buffer with a bound (`BufferConfig::max_records`) is full.
    #[error(
        "task {task}: suppression buffer of {node} holds more than {max_records} windows: \
         raise the bound or use BufferConfig::unbounded()"
    )]
    SuppressionBufferFull {
        /// The task.
        task: TaskId,
        /// The suppress node.
        node: String,
        /// The bound.
        max_records: u64,
    },
    /// A record was piped to a topic the topology does not read.
    #[error("unknown topic {topic:?}: the topology reads {known:?}")]
    UnknownTopic {
        /// The topic.
        topic: String,
        /// The topics it reads.
        known: Vec<String>,
    },
    /// A typed view asked for a store that does not exist or has other types.
    #[error("store {store:?}: {reason}")]
    StoreAccess {
        /// The store.
        store: String,
        /// What does not match.
        reason: String,
    },
    /// A Kafka client call failed.
    #[error("{context}: {source}")]
    Client {
        /// What the runtime was doing.
        context: String,
        /// The client's error.
        #[source]
        source: ClientError,
    },
    /// A record could not be written to its topic (and the handler said fail).
    #[error("task {task}: record for {topic} was not delivered: {source}")]
    Delivery {
        /// The task.
        task: TaskId,
        /// The topic.
        topic: String,
        /// The client's error.
        #[source]
        source: ClientError,
    },
    /// The application's state directory cannot be used: another instance holds its lock, or
    /// it cannot be created, locked or read.
    #[error("state directory {}: {reason}", path.display())]
    StateDirectory {
        /// `state.dir/<application.id>`.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Topics are missing or not partitioned as the topology needs.
    #[error("topic setup: {reason}")]
    Topics {
        /// What is wrong, naming the topics.
        reason: String,
    },
    /// The instance is not in a state that allows the call.
    #[error("cannot {operation} in state {state}")]
    InvalidState {
        /// The call.
        operation: &'static str,
        /// The instance's state.
        state: String,
    },
    /// A store cannot be queried now (the instance is not running, or a task holding it is
    /// restoring or migrating: Kafka Streams' `InvalidStateStoreException`); retry later.
    #[error("store {store:?} is unavailable: {reason}")]
    StoreUnavailable {
        /// The store.
        store: String,
        /// Why, and what to wait for.
        reason: String,
    },
    /// The HTTP endpoint (`http.server.listen`) cannot listen.
    #[error("HTTP endpoint on {address}: {reason}")]
    Http {
        /// The configured address.
        address: String,
        /// Why (the port is taken, the address is not local, ...).
        reason: String,
    },
    /// Invalid configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Invalid topology.
    #[error(transparent)]
    Topology(#[from] TopologyError),
}

fn at(position: &Option<RecordPosition>) -> String {
    match position {
        Some(p) => format!(" on record {p}"),
        None => String::new(),
    }
}
