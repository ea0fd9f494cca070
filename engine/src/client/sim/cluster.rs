//! The simulated cluster's state: topics, the transaction coordinator, group coordinators,
//! the clock, and the seeded source of faults. Every client call takes the one lock, so a
//! simulation is a single sequence of events.

use super::group::Group;
use super::log::{DataRecord, PartitionLog, TxnStatus};
use super::{Faults, SimStats};
use crate::client::partitioner::partition_for;
use crate::client::{ClientError, ClientErrorKind, OffsetAndMetadata, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};

/// Members silent this long are removed from their group.
pub(crate) const SESSION_TIMEOUT_MS: u64 = 10_000;
/// Members not back this long after a rebalance started are removed.
pub(crate) const REBALANCE_TIMEOUT_MS: u64 = 30_000;

/// SplitMix64: the simulation's only source of randomness.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// Uniform in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

#[derive(Debug)]
struct OpenTxn {
    serial: u64,
    partitions: BTreeSet<(String, i32)>,
    offsets: Vec<(String, TopicPartition, OffsetAndMetadata)>,
    started_ms: u64,
}

#[derive(Debug)]
struct TxnProducer {
    epoch: i16,
    open: Option<OpenTxn>,
    /// Its `transaction.timeout.ms`: the coordinator aborts a transaction open longer.
    timeout_ms: u64,
}

fn fenced(operation: &'static str, message: impl Into<String>) -> ClientError {
    ClientError::new(ClientErrorKind::Fenced, operation, message)
}

#[derive(Debug)]
pub(crate) struct Cluster {
    pub(crate) now_ms: u64,
    pub(crate) rng: Rng,
    pub(crate) faults: Faults,
    topics: BTreeMap<String, Vec<PartitionLog>>,
    statuses: Vec<TxnStatus>,
    producers: BTreeMap<String, TxnProducer>,
    groups: BTreeMap<String, Group>,
    next_member: u64,
    pub(crate) stats: SimStats,
    /// The most records a consumer's poll returns (see `SimCluster::set_fetch_limit`).
    pub(crate) fetch_limit: Option<usize>,
    /// Reads of committed offsets that fail before they succeed again (see
    /// `SimCluster::fail_offset_reads`).
    pub(crate) failing_offset_reads: u32,
    /// Draws `Faults::offset_reads`: a stream of its own, so that a seed without that fault
    /// runs exactly as before it existed.
    offset_rng: Rng,
}

impl Cluster {
    pub(crate) fn new(seed: u64, faults: Faults) -> Self {
        Cluster {
            now_ms: 1_000_000,
            rng: Rng::new(seed),
            faults,
            topics: BTreeMap::new(),
            statuses: Vec::new(),
            producers: BTreeMap::new(),
            groups: BTreeMap::new(),
            next_member: 1,
            stats: SimStats::default(),
            fetch_limit: None,
            failing_offset_reads: 0,
            offset_rng: Rng::new(seed ^ 0x0ff5_e7ad),
        }
    }

    /// Whether this read of committed offsets fails (see `SimCluster::fail_offset_reads` and
    /// `Faults::offset_reads`).
    pub(crate) fn offset_read_fails(&mut self) -> bool {
        let fails = if self.failing_offset_reads > 0 {
            self.failing_offset_reads -= 1;
            true
        } else {
            let p = self.faults.offset_reads;
            p > 0.0 && self.offset_rng.chance(p)
        };
        self.stats.failed_offset_reads += u64::from(fails);
        fails
    }

    // ---- time ----------------------------------------------------------------------------

    /// Moves the clock on and lets the coordinators act on their timeouts.
    pub(crate) fn advance(&mut self, ms: u64) {
        self.now_ms += ms;
        for g in self.groups.values_mut() {
            g.expire(self.now_ms, SESSION_TIMEOUT_MS, REBALANCE_TIMEOUT_MS);
        }
        let now = self.now_ms;
        let expired: Vec<String> = self
            .producers
            .iter()
            .filter(|(_, p)| {
                p.open
                    .as_ref()
                    .is_some_and(|t| now.saturating_sub(t.started_ms) > p.timeout_ms)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.stats.timeouts += 1;
            self.fence(&id);
        }
    }

    // ---- topics --------------------------------------------------------------------------

    pub(crate) fn create_topic(&mut self, name: &str, partitions: i32) {
        self.topics
            .entry(name.to_string())
            .or_insert_with(|| (0..partitions).map(|_| PartitionLog::default()).collect());
    }

    pub(crate) fn partitions(&self, topic: &str) -> Option<i32> {
        self.topics.get(topic).map(|p| p.len() as i32)
    }

    fn log(&self, tp: &TopicPartition) -> Result<&PartitionLog, ClientError> {
        self.topics
            .get(&*tp.topic)
            .and_then(|ps| ps.get(tp.partition as usize))
            .ok_or_else(|| {
                ClientError::new(ClientErrorKind::Fatal, "fetch", format!("unknown partition {tp}"))
            })
    }

    /// Reads `tp` from `from`: records with their offsets, and the next position.
    pub(crate) fn read(
        &self,
        tp: &TopicPartition,
        from: i64,
        max: usize,
        read_committed: bool,
    ) -> Result<(Vec<(i64, DataRecord)>, i64), ClientError> {
        let (records, next) = self
            .log(tp)?
            .read(from, max, read_committed, |t| self.statuses[t as usize]);
        Ok((records.into_iter().map(|(o, d)| (o, d.clone())).collect(), next))
    }

    /// The last stable offset (`read_committed`) or the high watermark.
    pub(crate) fn end_offset(&self, tp: &TopicPartition, read_committed: bool) -> Result<i64, ClientError> {
        let log = self.log(tp)?;
        Ok(if read_committed {
            log.last_stable_offset()
        } else {
            log.high_watermark()
        })
    }

    /// Writes a record; inside `txn`'s open transaction if given. Returns where it landed.
    pub(crate) fn append(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        mut record: DataRecord,
        txn: Option<(&str, i16)>,
    ) -> Result<(i32, i64), ClientError> {
        let count = self.partitions(topic).ok_or_else(|| {
            ClientError::new(
                ClientErrorKind::Fatal,
                "send record",
                format!("unknown topic {topic}"),
            )
        })?;
        let p = partition.unwrap_or_else(|| partition_for(record.key.as_deref(), count));
        if p < 0 || p >= count {
            return Err(ClientError::new(
                ClientErrorKind::Fatal,
                "send record",
                format!("partition {p} of {topic} does not exist"),
            ));
        }
        if let Some((id, epoch)) = txn {
            let open = self.open_transaction(id, epoch, "send record")?;
            open.partitions.insert((topic.to_string(), p));
            record.txn = Some(open.serial);
        }
        let offset = self.topics.get_mut(topic).expect("checked")[p as usize].append(record);
        Ok((p, offset))
    }

    // ---- transactions --------------------------------------------------------------------

    /// Registers `id` (InitProducerId): aborts a transaction an older producer left open and
    /// bumps the epoch, fencing that producer. Returns the new epoch.
    pub(crate) fn init_producer(&mut self, id: &str, transaction_timeout_ms: u64) -> i16 {
        if self.producers.contains_key(id) {
            self.fence(id);
        } else {
            self.producers.insert(
                id.to_string(),
                TxnProducer {
                    epoch: 0,
                    open: None,
                    timeout_ms: transaction_timeout_ms,
                },
            );
        }
        let p = self.producers.get_mut(id).expect("registered");
        p.timeout_ms = transaction_timeout_ms;
        p.epoch
    }

    /// Aborts `id`'s open transaction and bumps its epoch (another producer with the id
    /// registered, or the transaction timed out).
    pub(crate) fn fence(&mut self, id: &str) {
        self.stats.fenced += 1;
        if let Some(p) = self.producers.get_mut(id) {
            p.epoch += 1;
            if let Some(open) = p.open.take() {
                self.finish(open, false);
            }
        }
    }

    /// Transactional ids in order (for the simulation to pick one).
    pub(crate) fn transactional_ids(&self) -> Vec<String> {
        self.producers.keys().cloned().collect()
    }

    pub(crate) fn open_transactions(&self) -> usize {
        self.producers.values().filter(|p| p.open.is_some()).count()
    }

    fn producer(
        &mut self,
        id: &str,
        epoch: i16,
        operation: &'static str,
    ) -> Result<&mut TxnProducer, ClientError> {
        let p = self
            .producers
            .get_mut(id)
            .ok_or_else(|| fenced(operation, format!("unknown transactional id {id}")))?;
        if epoch < p.epoch {
            return Err(fenced(
                operation,
                format!("producer {id} epoch {epoch} fenced by epoch {}", p.epoch),
            ));
        }
        Ok(p)
    }

    fn open_transaction(
        &mut self,
        id: &str,
        epoch: i16,
        operation: &'static str,
    ) -> Result<&mut OpenTxn, ClientError> {
        let now = self.now_ms;
        let next_serial = self.statuses.len() as u64;
        let p = self.producer(id, epoch, operation)?;
        if p.open.is_none() {
            p.open = Some(OpenTxn {
                serial: next_serial,
                partitions: BTreeSet::new(),
                offsets: Vec::new(),
                started_ms: now,
            });
            self.statuses.push(TxnStatus::Open);
        }
        Ok(self
            .producers
            .get_mut(id)
            .and_then(|p| p.open.as_mut())
            .expect("just opened"))
    }

    /// TxnOffsetCommit: the offsets commit with the transaction, if the member still belongs
    /// to the group at that generation (KIP-447 zombie fencing).
    pub(crate) fn add_offsets(
        &mut self,
        id: &str,
        epoch: i16,
        group: &str,
        member: u64,
        generation: i32,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
    ) -> Result<(), ClientError> {
        self.producer(id, epoch, "send offsets to transaction")?;
        let accepted = self
            .groups
            .get(group)
            .is_some_and(|g| g.accepts(member, generation));
        if !accepted {
            return Err(fenced(
                "send offsets to transaction",
                format!("member {member} of generation {generation} is no longer in group {group}"),
            ));
        }
        let open = self.open_transaction(id, epoch, "send offsets to transaction")?;
        open.offsets.extend(
            offsets
                .iter()
                .map(|(tp, om)| (group.to_string(), tp.clone(), om.clone())),
        );
        Ok(())
    }

    /// EndTxn: writes commit or abort markers; a commit also commits its offsets.
    pub(crate) fn end_transaction(&mut self, id: &str, epoch: i16, commit: bool) -> Result<(), ClientError> {
        let operation = if commit {
            "commit transaction"
        } else {
            "abort transaction"
        };
        let open = self.producer(id, epoch, operation)?.open.take();
        if let Some(open) = open {
            self.finish(open, commit);
        }
        Ok(())
    }

    fn finish(&mut self, open: OpenTxn, commit: bool) {
        self.statuses[open.serial as usize] = if commit {
            TxnStatus::Committed
        } else {
            TxnStatus::Aborted
        };
        for (topic, p) in &open.partitions {
            self.topics.get_mut(topic).expect("written topic")[*p as usize].end_transaction(open.serial);
        }
        if commit {
            self.stats.commits += 1;
            for (group, tp, om) in open.offsets {
                self.groups.entry(group).or_default().committed.insert(tp, om);
            }
        } else {
            self.stats.aborts += 1;
        }
    }

    // ---- groups --------------------------------------------------------------------------

    pub(crate) fn group(&mut self, name: &str) -> &mut Group {
        self.groups.entry(name.to_string()).or_default()
    }

    pub(crate) fn existing_group(&self, name: &str) -> Option<&Group> {
        self.groups.get(name)
    }

    pub(crate) fn new_member(&mut self) -> u64 {
        self.next_member += 1;
        self.next_member
    }

    /// A plain offset commit (at-least-once), accepted from current members only.
    pub(crate) fn commit_offsets(
        &mut self,
        group: &str,
        member: u64,
        generation: i32,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
    ) -> Result<(), ClientError> {
        let g = self.group(group);
        if !g.accepts(member, generation) {
            return Err(ClientError::new(
                ClientErrorKind::Abortable,
                "commit offsets",
                format!("member {member} of generation {generation} is no longer in group {group}"),
            ));
        }
        for (tp, om) in offsets {
            g.committed.insert(tp.clone(), om.clone());
        }
        Ok(())
    }

    pub(crate) fn rebalances(&self) -> u64 {
        self.groups.values().map(|g| g.rebalances).sum()
    }
}
