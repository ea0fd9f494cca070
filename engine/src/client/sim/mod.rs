//! A deterministic simulated Kafka cluster behind the client seam, for proving exactly-once
//! under faults (DESIGN.md "Kafka client seam").
//!
//! It models what exactly-once depends on: partitioned logs with transaction markers and the
//! last stable offset; `read_committed` reads that stop at open transactions and skip aborted
//! ones; transactional producers with epochs, fenced when another producer registers their
//! transactional id or their transaction times out; transactional offset commits validated
//! against the group generation (KIP-447); consumer groups with eager rebalances, the range
//! assignor, session and rebalance timeouts. Faults come from one seeded generator: process
//! crashes at chosen points of client calls (a panic carrying [`SimCrash`], so that nothing
//! after the crash point runs), abortable errors, and — driven by the simulation — fencing,
//! members kicked out of the group, and whole-process crashes. Time is simulated too: the
//! runtime reads it through [`KafkaClient::clock`].
//!
//! The simulation harness that runs applications on it is [`crate::sim`].

mod cluster;
mod consumer;
mod group;
mod log;
mod producer;

use super::{Admin, ClientError, Consumer, ConsumerRole, KafkaClient, NewTopic, Producer, TopicPartition};
use crate::clock::Clock;
use crate::config::{ProcessingGuarantee, StreamsConfig};
use crate::record::Headers;
use cluster::Cluster;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub(crate) use cluster::Rng;

/// Fault rates of client calls, per call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// Probability that the calling process crashes at a crash point (before or after the
    /// effect of a producer or commit call, or in a poll).
    pub crash: f64,
    /// Probability that a transactional producer call fails with an abortable error.
    pub abortable: f64,
    /// Probability that a read of committed offsets fails with a retriable error, as from
    /// librdkafka while the group coordinator loads the offsets after a broker restart.
    pub offset_reads: f64,
}

impl Faults {
    /// No injected faults.
    pub fn none() -> Self {
        Faults {
            crash: 0.0,
            abortable: 0.0,
            offset_reads: 0.0,
        }
    }
}

/// What happened in a simulated cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Transactions committed.
    pub commits: u64,
    /// Transactions aborted (by their producer, a fencing, or a timeout).
    pub aborts: u64,
    /// Producer epochs bumped (another producer registered the id, or a fault fenced it).
    pub fenced: u64,
    /// Transactions aborted by the coordinator's timeout.
    pub timeouts: u64,
    /// Processes crashed at a crash point.
    pub crashes: u64,
    /// Injected abortable errors.
    pub abortable_errors: u64,
    /// Reads of committed offsets failed on purpose (`Faults::offset_reads`,
    /// `SimCluster::fail_offset_reads`).
    pub failed_offset_reads: u64,
}

/// The panic payload of a simulated process crash: the simulation catches it and drops
/// everything the process owned, as a `kill -9` would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimCrash {
    /// The process that crashed.
    pub process: u64,
    /// Where.
    pub site: &'static str,
}

/// A record as a `read_committed` reader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRecord {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes.
    pub value: Option<Vec<u8>>,
    /// Timestamp (ms).
    pub timestamp: i64,
}

/// Group metadata handed from a simulated consumer to its thread's producer.
#[derive(Debug)]
pub(crate) struct GroupMetadataSim {
    pub(crate) group: String,
    pub(crate) member: u64,
    pub(crate) generation: i32,
}

/// The cluster as one client process sees it: every call takes the cluster lock; crash points
/// release it before panicking, so a crash never poisons the cluster.
#[derive(Clone)]
pub(crate) struct Shared {
    cluster: Arc<Mutex<Cluster>>,
    process: u64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Cluster) -> T) -> T {
        f(&mut self.lock())
    }

    /// The process crashes here with the seeded probability.
    pub(crate) fn crash_point(&self, site: &'static str) {
        let crash = {
            let mut c = self.lock();
            let p = c.faults.crash;
            let crash = c.rng.chance(p);
            if crash {
                c.stats.crashes += 1;
            }
            crash
        };
        if crash {
            std::panic::resume_unwind(Box::new(SimCrash {
                process: self.process,
                site,
            }));
        }
    }

    /// Whether a transactional call fails with an injected abortable error.
    pub(crate) fn roll_abortable(&self) -> bool {
        let mut c = self.lock();
        let p = c.faults.abortable;
        let hit = c.rng.chance(p);
        if hit {
            c.stats.abortable_errors += 1;
        }
        hit
    }
}

/// A simulated cluster. Cheap to clone (shared state).
///
/// ```
/// use sluice_engine::client::sim::{Faults, SimCluster};
/// let cluster = SimCluster::new(7, Faults::none());
/// cluster.create_topic("payments", 2);
/// let (partition, offset) = cluster.produce("payments", b"acct-1", b"12.50", 1_000);
/// assert_eq!(offset, 0);
/// assert_eq!(cluster.read_committed("payments")[0].partition, partition);
/// ```
#[derive(Clone)]
pub struct SimCluster {
    cluster: Arc<Mutex<Cluster>>,
}

impl std::fmt::Debug for SimCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCluster")
            .field("now_ms", &self.now_ms())
            .finish()
    }
}

impl SimCluster {
    /// An empty cluster whose faults come from `seed`.
    pub fn new(seed: u64, faults: Faults) -> Self {
        SimCluster {
            cluster: Arc::new(Mutex::new(Cluster::new(seed, faults))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Clients for one application process (`process` names it in crashes), configured as
    /// `config` says (group = `application.id`; `read_committed` under exactly-once).
    pub fn client(&self, process: u64, config: &StreamsConfig) -> Arc<dyn KafkaClient> {
        Arc::new(SimClient {
            shared: Shared {
                cluster: Arc::clone(&self.cluster),
                process,
            },
            group: config.application_id.clone(),
            read_committed: config.processing_guarantee == ProcessingGuarantee::ExactlyOnceV2,
            transaction_timeout_ms: config.transaction_timeout_ms(),
        })
    }

    /// Creates a topic (no-op if it exists).
    pub fn create_topic(&self, name: &str, partitions: i32) {
        self.lock().create_topic(name, partitions);
    }

    /// Writes a record outside any transaction, partitioned by key like Kafka's clients.
    /// Returns its partition and offset.
    pub fn produce(&self, topic: &str, key: &[u8], value: &[u8], timestamp: i64) -> (i32, i64) {
        let record = log::DataRecord {
            key: Some(key.to_vec()),
            value: Some(value.to_vec()),
            timestamp,
            headers: Headers::default(),
            txn: None,
        };
        self.lock()
            .append(topic, None, record, None)
            .expect("producing to a topic of the simulation")
    }

    /// Every record of `topic` a `read_committed` reader sees now, by partition and offset.
    pub fn read_committed(&self, topic: &str) -> Vec<SimRecord> {
        let c = self.lock();
        let mut out = Vec::new();
        for p in 0..c.partitions(topic).unwrap_or(0) {
            let tp = TopicPartition::new(topic, p);
            let (records, _) = c.read(&tp, 0, usize::MAX, true).expect("known partition");
            out.extend(records.into_iter().map(|(offset, d)| SimRecord {
                partition: p,
                offset,
                key: d.key,
                value: d.value,
                timestamp: d.timestamp,
            }));
        }
        out
    }

    /// The last stable offset of each partition of `topic`.
    pub fn stable_end_offsets(&self, topic: &str) -> Vec<i64> {
        let c = self.lock();
        (0..c.partitions(topic).unwrap_or(0))
            .map(|p| {
                c.end_offset(&TopicPartition::new(topic, p), true)
                    .expect("known partition")
            })
            .collect()
    }

    /// The offsets `group` committed.
    pub fn committed(&self, group: &str) -> BTreeMap<TopicPartition, i64> {
        self.lock()
            .existing_group(group)
            .map(|g| {
                g.committed
                    .iter()
                    .map(|(tp, om)| (tp.clone(), om.offset))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Moves the clock on (coordinators act on their timeouts).
    pub fn advance(&self, ms: u64) {
        self.lock().advance(ms);
    }

    /// The simulated time (ms).
    pub fn now_ms(&self) -> u64 {
        self.lock().now_ms
    }

    /// The most records a poll of any consumer returns, whatever it asks for (but at least one
    /// per partition it reads; `None`, the default: as many as it asks for and the partitions
    /// hold). With a limit, a backlog comes in polls smaller than the stream thread asks for,
    /// as from librdkafka when its prefetching runs behind the thread.
    pub fn set_fetch_limit(&self, records: Option<usize>) {
        self.lock().fetch_limit = records;
    }

    /// The next `reads` reads of committed offsets, by any consumer, fail with a retriable
    /// error, as from librdkafka while the group coordinator is loading its offsets after a
    /// broker restart (`Meta data fetch error: OperationTimedOut`).
    pub fn fail_offset_reads(&self, reads: u32) {
        self.lock().failing_offset_reads = reads;
    }

    /// Changes the fault rates (a simulation turns them off to let the application finish).
    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    /// Fences the transactional id at position `pick` (modulo their number), as if another
    /// producer registered it: its open transaction aborts. Returns the id.
    pub fn fence(&self, pick: u64) -> Option<String> {
        let mut c = self.lock();
        let ids = c.transactional_ids();
        let id = ids.get((pick % ids.len().max(1) as u64) as usize)?.clone();
        c.fence(&id);
        Some(id)
    }

    /// Removes the member at position `pick` (modulo their number) from `group` without its
    /// knowledge, as a missed session timeout would: it becomes a zombie until its next poll.
    pub fn kick(&self, group: &str, pick: u64) -> bool {
        let mut c = self.lock();
        let now = c.now_ms;
        let g = c.group(group);
        let members = g.member_ids();
        match members.get((pick % members.len().max(1) as u64) as usize) {
            Some(&m) => {
                g.remove(m, now);
                true
            }
            None => false,
        }
    }

    /// Transactions open now.
    pub fn open_transactions(&self) -> usize {
        self.lock().open_transactions()
    }

    /// Rebalances completed, over all groups.
    pub fn rebalances(&self) -> u64 {
        self.lock().rebalances()
    }

    /// What happened so far.
    pub fn stats(&self) -> SimStats {
        self.lock().stats.clone()
    }
}

/// The clients of one simulated process.
struct SimClient {
    shared: Shared,
    group: String,
    read_committed: bool,
    /// `transaction.timeout.ms` of this client's producers.
    transaction_timeout_ms: u64,
}

impl KafkaClient for SimClient {
    fn consumer(&self, role: ConsumerRole) -> Result<Box<dyn Consumer>, ClientError> {
        let group = match role {
            ConsumerRole::Main { .. } => self.group.clone(),
            _ => String::new(),
        };
        Ok(Box::new(consumer::SimConsumer::new(
            self.shared.clone(),
            group,
            self.read_committed,
        )))
    }

    fn producer(
        &self,
        _client_id: &str,
        transactional_id: Option<String>,
    ) -> Result<Box<dyn Producer>, ClientError> {
        Ok(Box::new(producer::SimProducer::new(
            self.shared.clone(),
            transactional_id,
            self.transaction_timeout_ms,
        )))
    }

    fn admin(&self) -> Result<Box<dyn Admin>, ClientError> {
        Ok(Box::new(SimAdmin {
            shared: self.shared.clone(),
        }))
    }

    fn clock(&self) -> Arc<dyn Clock> {
        Arc::new(SimClock {
            shared: self.shared.clone(),
        })
    }
}

struct SimAdmin {
    shared: Shared,
}

impl Admin for SimAdmin {
    fn create_topics(&self, topics: &[NewTopic]) -> Result<(), ClientError> {
        self.shared.with(|c| {
            for t in topics {
                c.create_topic(&t.name, t.partitions);
            }
        });
        Ok(())
    }

    fn partitions(&self, topic: &str) -> Result<Option<i32>, ClientError> {
        Ok(self.shared.with(|c| c.partitions(topic)))
    }
}

/// The cluster's simulated time.
struct SimClock {
    shared: Shared,
}

impl std::fmt::Debug for SimClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimClock")
    }
}

impl Clock for SimClock {
    fn now_ms(&self) -> u64 {
        self.shared.with(|c| c.now_ms)
    }
}
