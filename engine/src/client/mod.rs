//! The Kafka client seam: everything the runtime asks of Kafka, as narrow traits.
//!
//! Two implementations: [`rdkafka`] (production, and librdkafka's in-process mock cluster for
//! demos) and a deterministic simulated cluster used to prove exactly-once under crashes,
//! fencing, aborts and rebalances (DESIGN.md "Kafka client seam").

pub(crate) mod partitioner;
pub mod rdkafka;
pub mod sim;

use crate::clock::{Clock, SystemClock};
use crate::record::{OutputRecord, RawRecord};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A topic partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic partition.
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// An offset to commit (the next offset to read) with its metadata string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    /// The next offset to read.
    pub offset: i64,
    /// Kept with the offset; the runtime stores the task's stream time there.
    pub metadata: String,
}

/// How a client call failed, which decides what the runtime does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientErrorKind {
    /// Transient (broker unavailable, timeout): retry.
    Retriable,
    /// The open transaction must be aborted; processing can resume from the last commit.
    Abortable,
    /// Another producer with this transactional id, or a newer generation, took over: this
    /// instance no longer owns its tasks.
    Fenced,
    /// The client cannot continue.
    Fatal,
}

/// A Kafka client error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} failed ({kind:?}): {message}")]
pub struct ClientError {
    /// What to do about it.
    pub kind: ClientErrorKind,
    /// What was being done.
    pub operation: &'static str,
    /// The client's message.
    pub message: String,
}

impl ClientError {
    /// An error of `kind` during `operation`.
    pub fn new(kind: ClientErrorKind, operation: &'static str, message: impl Into<String>) -> Self {
        ClientError {
            kind,
            operation,
            message: message.into(),
        }
    }
}

/// The consumer group generation a transactional producer commits offsets for (KIP-447):
/// opaque, produced by a consumer and handed to its thread's producer.
#[derive(Clone)]
pub struct GroupMetadata(pub(crate) Arc<dyn std::any::Any + Send + Sync>);

impl fmt::Debug for GroupMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GroupMetadata")
    }
}

/// What a rebalance callback may do with the consumer it runs in.
pub trait ConsumerOps {
    /// Commits offsets synchronously.
    fn commit(&self, offsets: &[(TopicPartition, OffsetAndMetadata)]) -> Result<(), ClientError>;
    /// The committed offsets (and metadata) of `partitions`.
    fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<Vec<(TopicPartition, Option<OffsetAndMetadata>)>, ClientError>;
    /// The current group generation, for transactional offset commits.
    fn group_metadata(&self) -> Option<GroupMetadata>;
}

/// Partition assignment callbacks, called from inside [`Consumer::poll`] as Kafka's
/// `ConsumerRebalanceListener`: `on_revoked` before partitions are taken away (the last moment
/// to commit them), `on_assigned` after new ones are given.
pub trait RebalanceListener: Send + Sync {
    /// Partitions are about to be revoked.
    fn on_revoked(&self, consumer: &dyn ConsumerOps, partitions: &[TopicPartition]);
    /// Partitions were assigned.
    fn on_assigned(&self, consumer: &dyn ConsumerOps, partitions: &[TopicPartition]);
    /// Partitions were lost: the member was removed from the group, so another member may own
    /// them already and commits would fail (Kafka's `onPartitionsLost`).
    fn on_lost(&self, consumer: &dyn ConsumerOps, partitions: &[TopicPartition]);
}

/// A consumer: a group member (main consumers) or manually assigned (restore, global).
pub trait Consumer: ConsumerOps + Send {
    /// Joins the group reading `topics`; `listener` hears of every rebalance.
    fn subscribe(
        &mut self,
        topics: &[String],
        listener: Arc<dyn RebalanceListener>,
    ) -> Result<(), ClientError>;
    /// Reads `partitions` from the given offsets, without a group.
    fn assign(&mut self, partitions: &[(TopicPartition, i64)]) -> Result<(), ClientError>;
    /// Up to `max` records, waiting at most `timeout` for the first. Rebalance callbacks run in
    /// here.
    fn poll(&mut self, timeout: Duration, max: usize) -> Result<Vec<RawRecord>, ClientError>;
    /// Takes back polled records the caller is done with, leaving `records` empty, so that
    /// later polls can reuse their buffers instead of allocating per record. The default drops
    /// them.
    fn recycle(&mut self, records: &mut Vec<RawRecord>) {
        records.clear();
    }
    /// Stops fetching `partitions` (backpressure).
    fn pause(&mut self, partitions: &[TopicPartition]) -> Result<(), ClientError>;
    /// Resumes fetching `partitions`.
    fn resume(&mut self, partitions: &[TopicPartition]) -> Result<(), ClientError>;
    /// Moves the read position of an assigned partition; `None` is the partition's start.
    fn seek(&mut self, partition: &TopicPartition, offset: Option<i64>) -> Result<(), ClientError>;
    /// The offset after the last readable record: the high watermark, or the last stable offset
    /// for `read_committed` consumers.
    fn end_offset(&mut self, partition: &TopicPartition) -> Result<i64, ClientError>;
    /// The next offset this consumer will read from `partition`.
    fn position(&mut self, partition: &TopicPartition) -> Result<Option<i64>, ClientError>;
    /// The lag of every assigned partition whose end is known: its end (as last reported by
    /// the client's statistics) minus the consumer's position now. `None` unless `committed`
    /// (the caller just committed) or newer end figures came since the last call. Clients
    /// without such figures (the default) never report any.
    fn lag(&mut self, committed: bool) -> Option<Vec<(TopicPartition, i64)>> {
        let _ = committed;
        None
    }
    /// Whether, as far as the client knows, the broker holds records of one of `partitions`
    /// past what `poll` has returned: the newest end it has seen lies past the consumer's
    /// position. The stream thread asks this of its running tasks' partitions before it
    /// flushes its record caches for having caught up: a poll that returned less than it
    /// could may only mean the fetcher is behind in a backlog. A partition whose position the
    /// client does not know yet does not count. Clients without end figures (the default)
    /// know of no such records.
    fn behind(&mut self, partitions: &[TopicPartition]) -> bool {
        let _ = partitions;
        false
    }
    /// Leaves the group and joins it again as a new member (Kafka's `enforceRebalance` after
    /// its tasks were lost): revocation and assignment callbacks follow in later polls.
    fn rejoin(&mut self) -> Result<(), ClientError>;
    /// Leaves the group (revocation callbacks run) and stops.
    fn close(&mut self) -> Result<(), ClientError>;
}

/// A record was written (or not).
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The tag given to [`Producer::send`].
    pub tag: u64,
    /// Where it landed, or why it did not.
    pub result: Result<(i32, i64), ClientError>,
}

/// A producer; one per stream thread, transactional under exactly-once.
pub trait Producer: Send {
    /// Queues a record; `tag` comes back in its [`Delivery`].
    fn send(&mut self, record: &OutputRecord, tag: u64) -> Result<(), ClientError>;
    /// Waits until every queued record is delivered or failed. Returns the deliveries of
    /// records sent with a tag other than 0, and the failures of all (successful deliveries of
    /// tag 0 are not kept: there are as many as outputs).
    fn flush(&mut self, timeout: Duration) -> Result<Vec<Delivery>, ClientError>;
    /// Serves the delivery reports that arrived, without waiting; the next
    /// [`flush`](Self::flush) returns them with the rest. Called between batches so that a
    /// commit's flush waits only for records still unacknowledged, not for reports piled up
    /// since the last commit. Clients that report deliveries only at flush need not.
    fn serve_deliveries(&mut self) {}
    /// Registers the transactional id (fencing older producers with it).
    fn init_transactions(&mut self, timeout: Duration) -> Result<(), ClientError>;
    /// Opens a transaction.
    fn begin_transaction(&mut self) -> Result<(), ClientError>;
    /// Adds the consumed offsets of `group` to the open transaction.
    fn send_offsets_to_transaction(
        &mut self,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
        group: &GroupMetadata,
        timeout: Duration,
    ) -> Result<(), ClientError>;
    /// Commits the open transaction; `Duration::MAX` waits without limit.
    fn commit_transaction(&mut self, timeout: Duration) -> Result<(), ClientError>;
    /// Aborts the open transaction.
    fn abort_transaction(&mut self, timeout: Duration) -> Result<(), ClientError>;
}

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// Name.
    pub name: String,
    /// Partitions.
    pub partitions: i32,
    /// Replicas (-1: the broker's default).
    pub replication_factor: i32,
    /// Topic configs (`cleanup.policy`, `retention.ms`...).
    pub configs: Vec<(String, String)>,
}

/// Topic administration.
pub trait Admin: Send + Sync {
    /// Creates topics; ones that exist already are left as they are.
    fn create_topics(&self, topics: &[NewTopic]) -> Result<(), ClientError>;
    /// The partition count of `topic`, or `None` if it does not exist.
    fn partitions(&self, topic: &str) -> Result<Option<i32>, ClientError>;
    /// The members of consumer group `group` and the partitions each is assigned, as the
    /// group coordinator knows them (interactive queries find a key's instance with it).
    /// Clients that cannot describe groups (the default) say so.
    fn group_members(&self, group: &str) -> Result<Vec<GroupMember>, ClientError> {
        Err(ClientError::new(
            ClientErrorKind::Fatal,
            "describe group",
            format!("this client cannot describe consumer group {group}"),
        ))
    }
}

/// A member of a consumer group (see [`Admin::group_members`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// The member's `client.id`.
    pub client_id: String,
    /// Its assigned partitions.
    pub partitions: Vec<TopicPartition>,
}

/// Which consumer is wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsumerRole {
    /// A stream thread's group member.
    Main {
        /// `<client id>-StreamThread-<n>-consumer`.
        client_id: String,
    },
    /// Reads changelogs while restoring (manual assignment).
    Restore {
        /// Client id.
        client_id: String,
    },
    /// Reads global tables' topics (manual assignment).
    Global {
        /// Client id.
        client_id: String,
    },
}

/// Makes clients for one application instance.
pub trait KafkaClient: Send + Sync {
    /// A consumer for `role`.
    fn consumer(&self, role: ConsumerRole) -> Result<Box<dyn Consumer>, ClientError>;
    /// A producer; transactional if `transactional_id` is given.
    fn producer(
        &self,
        client_id: &str,
        transactional_id: Option<String>,
    ) -> Result<Box<dyn Producer>, ClientError>;
    /// An admin client.
    fn admin(&self) -> Result<Box<dyn Admin>, ClientError>;
    /// The clock intervals are measured on: the system's, unless the cluster is simulated.
    fn clock(&self) -> Arc<dyn Clock> {
        Arc::new(SystemClock::new())
    }
}
