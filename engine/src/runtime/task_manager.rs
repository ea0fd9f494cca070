//! The tasks of one stream thread: created when their partitions are assigned, restored,
//! fed and processed, committed every `commit.interval.ms`, and committed and suspended when
//! their partitions are revoked (kept open in case the next assignment returns them).
//!
//! At-least-once commit order: flush record caches, write outputs and changelog records, wait
//! for every delivery, apply the stores' pending writes with the changelog offsets reached,
//! then commit the input offsets (with the task's stream time as metadata). A crash anywhere
//! in between replays input that was already applied: duplicates, never loss.
//!
//! Exactly-once (v2) commit order: outputs and changelog records go into the thread's open
//! transaction as they are produced; at commit, flush caches, write what is left, wait for the
//! deliveries, add the consumed offsets to the transaction (with the consumer's group
//! generation), commit it, and only then apply the stores' pending writes with the changelog
//! offsets they reflect. A crash before the transaction commits leaves nothing visible to
//! `read_committed` readers and the stores untouched; a crash after it leaves the stores behind
//! their changelog, which restoration replays. An abortable error aborts the transaction, drops
//! every task's uncommitted work and rewinds the inputs to the committed offsets.

use super::partition_group::PartitionGroup;
use super::restore_reader::{ConsumerChangelogReader, RestoreCursor};
use super::state::{StateBoard, ThreadState};
use crate::client::{
    ClientError, ClientErrorKind, Consumer, ConsumerOps, OffsetAndMetadata, Producer, TopicPartition,
};
use crate::clock::Clock;
use crate::config::{ErrorHandler, ProcessingGuarantee};
use crate::error::StreamsError;
use crate::instance::Instance;
use crate::metrics::{names, DropReason};
use crate::task::{RestoreStep, Task, UNKNOWN_TIME};
use crate::task_id::TaskId;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// How long a commit waits for deliveries.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(120);

/// How long transactional calls may take. `commit_transaction` waits without limit, as
/// librdkafka advises: giving up mid-commit leaves the outcome unknown.
const TXN_TIMEOUT: Duration = Duration::from_secs(60);

/// Delivery tag of sink and dead-letter records (only failures are reported).
pub(crate) const OUTPUT_TAG: u64 = 0;

/// Sends a task's sink and dead-letter records (delivery failures are reported under
/// [`OUTPUT_TAG`]).
fn send_output(producer: &mut dyn Producer, id: TaskId, task: &mut Task) -> Result<(), StreamsError> {
    task.send_output(|out| {
        producer
            .send(out, OUTPUT_TAG)
            .map_err(|e| StreamsError::client(format!("task {id}: writing to {}", out.topic), e))
    })
}

/// Opens a transaction if exactly-once needs one and none is open (`in_transaction` says
/// whether one is).
fn begin_if_needed(
    producer: &mut dyn Producer,
    in_transaction: &mut bool,
    exactly_once: bool,
) -> Result<(), StreamsError> {
    if exactly_once && !*in_transaction {
        producer
            .begin_transaction()
            .map_err(|e| StreamsError::client("beginning a transaction", e))?;
        *in_transaction = true;
    }
    Ok(())
}

/// Tag of changelog records of store `store` of the task at position `task` in a commit.
fn changelog_tag(task: usize, store: usize) -> u64 {
    1 + ((task as u64) << 16) + store as u64
}

/// A deliberately broken exactly-once commit, to show that the simulation's checker catches
/// each missing step. Only the simulation sets one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrokenCommit {
    /// Commit the transaction without the consumed offsets in it.
    SkipSendOffsets,
    /// Apply the stores' pending writes before the transaction commits.
    ApplyStoresBeforeCommit,
}

/// A task assigned but not created yet (see `TaskManager::blocked`).
#[derive(Debug, Default)]
struct Blocked {
    /// Its committed stream time, if known (else the committed offsets' metadata tells).
    stream_time: i64,
    /// Its assigned input partitions.
    partitions: BTreeSet<TopicPartition>,
    /// Floors it had before it was closed (see `ActiveTask::floors`): kept for partitions
    /// without a committed offset, where it starts again.
    floors: BTreeMap<TopicPartition, i64>,
}

impl Blocked {
    fn new(stream_time: i64) -> Blocked {
        Blocked {
            stream_time,
            ..Blocked::default()
        }
    }
}

struct ActiveTask {
    task: Task,
    restoring: bool,
    /// When its restoration took its first step (the runtime's clock).
    restore_started_ms: Option<u64>,
    input: PartitionGroup,
    /// The task's assigned input partitions.
    partitions: BTreeSet<TopicPartition>,
    /// Next offset to commit per input partition (last processed + 1).
    consumed: BTreeMap<TopicPartition, i64>,
    /// Partitions that start at their end (`AutoOffsetReset::Latest`, no committed offset):
    /// records below the offset are dropped (fetched before the seek to the end); `i64::MAX`
    /// until that seek.
    floors: BTreeMap<TopicPartition, i64>,
    /// The group's committed offsets as this task last knew them (read at assignment, then
    /// its own commits). A suspended task whose partitions' committed offsets moved on since
    /// was processed elsewhere: its state is stale.
    committed: BTreeMap<TopicPartition, i64>,
    paused: BTreeSet<TopicPartition>,
    /// Lagging partitions (see `TaskManager::check_backlogs`) and their ends when assigned.
    backlog: BTreeMap<TopicPartition, i64>,
    /// Processed records since the last commit.
    dirty: bool,
    /// Processed records (or punctuated) since its record caches were last flushed.
    unflushed: bool,
}

impl ActiveTask {
    fn new(task: Task) -> Self {
        ActiveTask {
            task,
            restoring: true,
            restore_started_ms: None,
            input: PartitionGroup::default(),
            partitions: BTreeSet::new(),
            consumed: BTreeMap::new(),
            floors: BTreeMap::new(),
            committed: BTreeMap::new(),
            paused: BTreeSet::new(),
            backlog: BTreeMap::new(),
            dirty: false,
            unflushed: false,
        }
    }
}

/// How often lagging partitions' positions are read (see `TaskManager::check_backlogs`).
const BACKLOG_SWEEP_MS: u64 = 200;

/// True if a task could not open its state because another open copy holds it.
fn is_locked(e: &StreamsError) -> bool {
    matches!(
        e,
        StreamsError::Store {
            source: sluice_state::StoreError::Locked { .. },
            ..
        }
    )
}

/// Committed offsets' metadata: the task's stream time, as Kafka Streams keeps partition time,
/// and the changelog offset each store reflects once the commit is applied:
/// `st=<ms>;cl=<store>:<offset>,...`. Committed atomically with the changelog records (under
/// exactly-once in the same transaction), the offsets tell the next owner how far it must
/// restore; the end a `read_committed` reader sees may lag behind them while a crashed
/// producer's transaction is open.
fn metadata_of(stream_time: i64, changelogs: &[(String, i64)]) -> String {
    let mut out = format!("st={stream_time}");
    if !changelogs.is_empty() {
        let positions: Vec<String> = changelogs.iter().map(|(s, o)| format!("{s}:{o}")).collect();
        out.push_str(";cl=");
        out.push_str(&positions.join(","));
    }
    out
}

/// What committed offsets' metadata says: stream time and changelog offsets per store.
#[derive(Debug, Default, PartialEq, Eq)]
struct CommitMetadata {
    stream_time: Option<i64>,
    changelogs: Vec<(String, i64)>,
}

fn parse_metadata(metadata: &str) -> CommitMetadata {
    let mut out = CommitMetadata::default();
    for field in metadata.split(';') {
        if let Some(st) = field.strip_prefix("st=") {
            out.stream_time = st.parse().ok();
        } else if let Some(cl) = field.strip_prefix("cl=") {
            out.changelogs = cl
                .split(',')
                .filter_map(|p| {
                    let (store, offset) = p.rsplit_once(':')?;
                    Some((store.to_string(), offset.parse().ok()?))
                })
                .collect();
        }
    }
    out
}

/// Per task, the largest changelog offset per store that its partitions' committed metadata
/// vouches for.
fn changelog_targets<'a>(
    committed: impl IntoIterator<Item = (TaskId, &'a str)>,
) -> BTreeMap<TaskId, HashMap<String, i64>> {
    let mut out: BTreeMap<TaskId, HashMap<String, i64>> = BTreeMap::new();
    for (id, metadata) in committed {
        let targets = out.entry(id).or_default();
        for (store, offset) in parse_metadata(metadata).changelogs {
            let t = targets.entry(store).or_insert(offset);
            *t = (*t).max(offset);
        }
    }
    out
}

/// The client error kind behind a runtime error, if it came from a client.
pub(crate) fn client_kind(e: &StreamsError) -> Option<ClientErrorKind> {
    match e {
        StreamsError::Client { source, .. } | StreamsError::Delivery { source, .. } => Some(source.kind),
        _ => None,
    }
}

pub(crate) struct TaskManager {
    /// `sluice_commit_latency_seconds` of this thread: one observation per commit that
    /// committed offsets (as `sluice_commits_total`), timed from `commit_started`.
    commit_latency: crate::metrics::Histogram,
    commit_started: std::time::Instant,
    instance: Instance,
    thread: usize,
    board: Arc<StateBoard>,
    producer: Box<dyn Producer>,
    clock: Arc<dyn Clock>,
    exactly_once: bool,
    /// Under exactly-once: a transaction is open on `producer`.
    in_transaction: bool,
    /// The producer was fenced inside a rebalance callback: the thread must replace it.
    producer_fenced: bool,
    /// A rebalance callback aborted the transaction while tasks stay: they must rewind.
    needs_rewind: bool,
    broken: Option<BrokenCommit>,
    /// Resolved source topic -> its sub-topology.
    sub_topology_of: HashMap<Arc<str>, u32>,
    /// Resolved source topics that start at their end when the group has no offset for them.
    latest_sources: BTreeSet<Arc<str>>,
    /// Partitions assigned without a committed offset whose source starts at its end: moved
    /// there before the next poll.
    pending_resets: BTreeSet<TopicPartition>,
    /// Partitions assigned to tasks that exist: resumed before the next poll. librdkafka keeps
    /// a partition's pause across rebalances when it comes back to the same consumer, while a
    /// revoked task forgets what it paused: without this, a partition paused (full buffer) at
    /// a rebalance would stay paused forever and its task would stall.
    pending_resumes: BTreeSet<TopicPartition>,
    /// Partitions assigned since the last step whose backlog is still to check (see
    /// `check_backlogs`).
    pending_backlog_checks: BTreeSet<TopicPartition>,
    /// When `check_backlogs` last read positions (the runtime's clock).
    last_backlog_sweep_ms: u64,
    tasks: BTreeMap<TaskId, ActiveTask>,
    /// Revoked but still open: resumed if the next assignment returns them.
    suspended: BTreeMap<TaskId, ActiveTask>,
    /// Assigned, but their state is still open in another thread of this instance (which has
    /// not closed its suspended copy yet), or their committed offsets could not be read yet
    /// (see `defer_assignment`): created once both are possible. Their partitions stay
    /// paused meanwhile.
    blocked: BTreeMap<TaskId, Blocked>,
    last_commit_ms: u64,
    /// An error raised inside a rebalance callback, reported after the poll.
    fatal: Option<StreamsError>,
    /// The restore consumer's assignment, kept across restore steps.
    restore_cursor: RestoreCursor,
    /// Records processed since the thread last took them ([`Self::spent`]) to hand their
    /// buffers back to the consumer (`Consumer::recycle`). At most [`SPENT_MAX`].
    spent: Vec<crate::record::RawRecord>,
}

/// The most processed records kept for the consumer to reuse: two polls' worth.
const SPENT_MAX: usize = 2 * POLL_MAX;

impl TaskManager {
    pub(crate) fn new(
        instance: Instance,
        thread: usize,
        board: Arc<StateBoard>,
        producer: Box<dyn Producer>,
        clock: Arc<dyn Clock>,
        broken: Option<BrokenCommit>,
    ) -> Self {
        let app = instance.config.application_id.as_str();
        let sub_topology_of = instance
            .topology
            .sub_topologies()
            .iter()
            .flat_map(|s| {
                s.source_topics
                    .iter()
                    .map(move |t| (Arc::from(t.resolve(app)), s.id))
            })
            .collect();
        let default_reset = instance.config.default_offset_reset();
        let latest_sources = instance
            .topology
            .sub_topologies()
            .iter()
            .flat_map(|s| s.nodes.iter())
            .filter_map(|&n| match instance.topology.node(n).kind() {
                sluice_dsl::topology::NodeKind::Source(src) => Some(src),
                _ => None,
            })
            .filter(|src| src.offset_reset.unwrap_or(default_reset) == sluice_dsl::AutoOffsetReset::Latest)
            .flat_map(|src| src.topics.iter().map(|t| Arc::from(t.resolve(app))))
            .collect();
        let exactly_once = instance.config.processing_guarantee == ProcessingGuarantee::ExactlyOnceV2;
        let commit_latency = instance.metrics.histogram(
            crate::metrics::names::COMMIT_LATENCY,
            "Time a successful commit took",
            &[("thread", &thread.to_string())],
        );
        TaskManager {
            commit_latency,
            commit_started: std::time::Instant::now(),
            instance,
            thread,
            board,
            producer,
            last_commit_ms: clock.now_ms(),
            clock,
            exactly_once,
            in_transaction: false,
            producer_fenced: false,
            needs_rewind: false,
            broken,
            sub_topology_of,
            latest_sources,
            pending_resets: BTreeSet::new(),
            pending_resumes: BTreeSet::new(),
            pending_backlog_checks: BTreeSet::new(),
            last_backlog_sweep_ms: 0,
            tasks: BTreeMap::new(),
            suspended: BTreeMap::new(),
            blocked: BTreeMap::new(),
            fatal: None,
            restore_cursor: RestoreCursor::default(),
            spent: Vec::new(),
        }
    }

    /// The records processed since the last call, for `Consumer::recycle` (which empties it).
    pub(crate) fn spent(&mut self) -> &mut Vec<crate::record::RawRecord> {
        &mut self.spent
    }

    fn task_of(&self, tp: &TopicPartition) -> Option<TaskId> {
        self.sub_topology_of
            .get(&tp.topic)
            .map(|&sub| TaskId::new(sub, tp.partition))
    }

    /// An error raised in a rebalance callback, if any.
    pub(crate) fn take_fatal(&mut self) -> Option<StreamsError> {
        self.fatal.take()
    }

    /// Asks the thread to replace the producer (again) at its next step.
    pub(crate) fn mark_producer_fenced(&mut self) {
        self.producer_fenced = true;
    }

    /// True once if a rebalance callback found the producer fenced.
    pub(crate) fn take_producer_fenced(&mut self) -> bool {
        std::mem::take(&mut self.producer_fenced)
    }

    /// True once if a rebalance callback aborted work of tasks that stay.
    pub(crate) fn take_needs_rewind(&mut self) -> bool {
        std::mem::take(&mut self.needs_rewind)
    }

    pub(crate) fn has_tasks(&self) -> bool {
        !self.tasks.is_empty()
    }

    pub(crate) fn restoring(&self) -> bool {
        self.tasks.values().any(|t| t.restoring)
    }

    /// Publishes the instance's RocksDB memory use against its bound (after each commit: the
    /// figures move with flushes and compactions, a commit's pace is enough to follow them).
    fn report_rocksdb_memory(&self) {
        let Some((cache, memtables)) = self.instance.state.rocksdb_usage() else {
            return;
        };
        let m = &self.instance.metrics;
        m.gauge(
            names::ROCKSDB_CACHE_USAGE,
            "Bytes in use of RocksDB's shared block cache (memtables charged to it included)",
            &[],
        )
        .set(cache as u64);
        m.gauge(
            names::ROCKSDB_MEMTABLE_USAGE,
            "Bytes of memtables of all RocksDB stores",
            &[],
        )
        .set(memtables as u64);
        m.gauge(
            names::ROCKSDB_MEMORY_BOUND,
            "The RocksDB memory bound (rocksdb.block.cache.bytes)",
            &[],
        )
        .set(self.instance.config.rocksdb_block_cache_bytes as u64);
        if let Some(rows) = self.instance.state.row_cache_usage() {
            m.gauge(
                names::ROCKSDB_ROW_CACHE_USAGE,
                "Bytes held by the read caches of the RocksDB stores (rocksdb.row.cache.bytes)",
                &[],
            )
            .set(rows);
        }
    }

    /// Interactive queries: `f` on the store `name` of every active task holding it, with the
    /// task's stream time as of its last commit (its committed state is what `f` should read). A restoring task's store is not served: the
    /// query fails as Kafka Streams' does while a store migrates.
    pub(crate) fn visit_store(
        &self,
        name: &str,
        f: &mut dyn FnMut(&sluice_state::KeyValueStore, i64) -> Result<(), StreamsError>,
    ) -> Result<(), StreamsError> {
        let holding: Vec<(&TaskId, &ActiveTask)> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.task.store(name).is_some())
            .collect();
        if let Some((id, _)) = holding.iter().find(|(_, t)| t.restoring) {
            return Err(StreamsError::StoreUnavailable {
                store: name.to_string(),
                reason: format!("task {id} is restoring it; retry once it is done"),
            });
        }
        for (_, t) in holding {
            f(
                t.task.store(name).expect("filtered on it"),
                t.task.committed_stream_time(),
            )?;
        }
        Ok(())
    }

    /// Opens a transaction if exactly-once needs one and none is open.
    fn begin_if_needed(&mut self) -> Result<(), StreamsError> {
        begin_if_needed(&mut *self.producer, &mut self.in_transaction, self.exactly_once)
    }

    /// The partitions, not paused, whose buffers hold `buffered.records.per.partition`
    /// records or more.
    ///
    /// Backpressure in two steps. While the thread can process (it did in its last step) and
    /// some buffer is full, it processes instead of polling. Only when it cannot (a task waits
    /// for another input, or is blocked) and is about to poll are the full partitions paused.
    /// A poll takes at most `POLL_MAX` records, so a buffer stays under the bound plus that.
    /// (Polls are not made smaller with the bound: a task with several inputs needs the
    /// records of all of them to process in timestamp order.) Why not pause at every crossing: librdkafka drops what it prefetched for a paused
    /// partition and fetches it again on resume, which cost a fetch round trip per 1,000
    /// records and most of every fetch: five times fewer records/s on `benches/e2e`.
    pub(crate) fn full_partitions(&self) -> Vec<TopicPartition> {
        self.full_unpaused(false)
    }

    /// The partitions, not paused, of running (or restoring) tasks whose buffers are full.
    fn full_unpaused(&self, restoring: bool) -> Vec<TopicPartition> {
        let capacity = self.instance.config.buffered_records_per_partition;
        self.tasks
            .values()
            .filter(|t| t.restoring == restoring)
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .filter(|tp| t.input.queued(tp) >= capacity && !t.paused.contains(*tp))
            })
            .cloned()
            .collect()
    }

    /// Marks `partitions` (from [`Self::full_partitions`]) paused; the caller pauses them.
    pub(crate) fn mark_paused(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            if let Some(t) = self.task_of(tp).and_then(|id| self.tasks.get_mut(&id)) {
                t.paused.insert(tp.clone());
            }
        }
    }

    /// Buffers polled records (at most [`POLL_MAX`]).
    pub(crate) fn add_records(&mut self, records: Vec<crate::record::RawRecord>) {
        let bound = self.instance.config.buffered_records_per_partition;
        let mut records = records.into_iter().peekable();
        // A poll returns runs of one partition's records (a fetched batch each), in offset
        // order: what depends only on the partition is looked up once per run.
        while let Some(first) = records.next() {
            let tp = TopicPartition::new(Arc::clone(&first.topic), first.partition);
            let run = std::iter::once(first).chain(std::iter::from_fn(|| {
                records.next_if(|r| r.partition == tp.partition && *r.topic == *tp.topic)
            }));
            // Records of partitions no longer owned are fetched again by their new owner.
            let owner = self.task_of(&tp).and_then(|id| self.tasks.get_mut(&id));
            let Some(task) = owner.filter(|t| t.partitions.contains(&tp)) else {
                run.for_each(drop);
                continue;
            };
            // Records fetched before the partition moved to its end (`latest`) are dropped.
            let floor = task.floors.get(&tp).copied();
            let mut last = None;
            let kept = run
                .filter(|r| floor.is_none_or(|floor| r.offset >= floor))
                .inspect(|r| last = Some(r.offset));
            let queued = task.input.add(tp.clone(), kept);
            debug_assert!(
                queued < bound.max(1) + POLL_MAX,
                "a buffer reached buffered.records.per.partition plus a poll"
            );
            let end = task.backlog.get(&tp).copied();
            if let (Some(end), Some(last)) = (end, last) {
                if last + 1 >= end {
                    task.backlog.remove(&tp);
                    task.input.caught_up(&tp);
                }
            }
        }
    }

    /// Processes up to `per_task` buffered records of each running task in timestamp order;
    /// returns the number processed.
    pub(crate) fn process(&mut self, per_task: usize) -> Result<usize, StreamsError> {
        let mut processed = 0;
        let max_idle = u64::try_from(self.instance.config.max_task_idle_ms)
            .ok()
            .filter(|&ms| ms > 0);
        let now = self.clock.now_ms();
        let wall_clock = crate::task::wall_clock_ms();
        let ids: Vec<TaskId> = self
            .tasks
            .iter()
            .filter(|(_, t)| !t.restoring)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let t = self.tasks.get_mut(&id).expect("running task");
            t.task.set_wall_clock(wall_clock);
            for _ in 0..per_task {
                if !t.input.ready(max_idle, now) {
                    break;
                }
                let Some((tp, record)) = t.input.next() else { break };
                t.task.process(&record)?;
                t.consumed.insert(tp.clone(), record.offset + 1);
                t.dirty = true;
                t.unflushed = true;
                processed += 1;
                if self.spent.len() < SPENT_MAX {
                    self.spent.push(record);
                }
                // Each record's output is sent before the next record, not after the batch:
                // the sinks' buffers then come back at once, and a few serve every record
                // (`task::Recycler`). (The free `begin_if_needed`: `t` borrows the tasks.)
                if t.task.has_output() {
                    begin_if_needed(&mut *self.producer, &mut self.in_transaction, self.exactly_once)?;
                    send_output(&mut *self.producer, id, &mut t.task)?;
                }
            }
            let timeouts = t.input.take_lagging_timeouts();
            if timeouts > 0 {
                self.instance
                    .metrics
                    .counter(
                        crate::metrics::names::LAGGING_WAIT_TIMEOUTS,
                        "Waits for a lagging input partition that ran out",
                        &[("task", &id.to_string())],
                    )
                    .add(timeouts);
            }
            // Processor API punctuations, after each batch (as Kafka Streams' stream threads):
            // stream-time ones at the time the batch reached, wall-clock ones at `wall_clock`.
            if t.task.has_punctuation() && t.task.punctuate()? {
                t.dirty = true;
                t.unflushed = true;
            }
            if t.task.has_output() {
                self.begin_if_needed()?;
                let t = self.tasks.get_mut(&id).expect("running task");
                send_output(&mut *self.producer, id, &mut t.task)?;
            }
        }
        self.producer.serve_deliveries();
        Ok(processed)
    }

    /// At-least-once, when the thread found nothing to process or processed all it had
    /// fetched, and its consumer knows of nothing more on the broker: forwards and sends what
    /// the running tasks' record caches hold now instead of at the next commit
    /// (`statestore.cache.flush.when.idle`). A thread with a backlog (full polls, records left
    /// buffered, or fetches that bring less than a poll asks while the partitions' ends lie
    /// ahead) never gets here, so its caches coalesce as before; one keeping up with its input
    /// would otherwise hold results for up to the commit interval.
    /// Only the caches flush: store writes and input offsets still wait for the commit, and a
    /// crash before it replays the input (duplicates, as any at-least-once output).
    pub(crate) fn flush_when_idle(&mut self) -> Result<(), StreamsError> {
        debug_assert!(!self.exactly_once, "under exactly-once the commit flushes");
        let mut sent = false;
        for (id, t) in self.tasks.iter_mut() {
            if t.restoring || !t.unflushed {
                continue;
            }
            t.unflushed = false;
            t.task.flush()?;
            sent |= t.task.has_output();
            send_output(&mut *self.producer, *id, &mut t.task)?;
        }
        if sent {
            self.producer.serve_deliveries();
        }
        Ok(())
    }

    /// The input partitions of the running tasks: not those of restoring or blocked tasks,
    /// which the thread holds back on purpose (paused), so that their backlog does not keep
    /// the others from flushing when idle (see `Consumer::behind`).
    pub(crate) fn running_partitions(&self) -> Vec<TopicPartition> {
        self.tasks
            .values()
            .filter(|t| !t.restoring)
            .flat_map(|t| t.partitions.iter().cloned())
            .collect()
    }

    /// Records fetched and not processed yet, over the running tasks.
    pub(crate) fn buffered_records(&self) -> usize {
        self.tasks
            .values()
            .filter(|t| !t.restoring)
            .map(|t| t.input.len())
            .sum()
    }

    /// The paused partitions whose buffers drained below the bound, no longer marked paused:
    /// the caller resumes them. A partition resumes below the bound (not when empty) so that
    /// the fetch it restarts overlaps processing what is left. Taken after processing
    /// succeeded: when it fails, the marks stay, and the rewind resumes every paused partition.
    pub(crate) fn take_resumable(&mut self) -> Vec<TopicPartition> {
        let resume_at = self.instance.config.buffered_records_per_partition;
        let mut resume = Vec::new();
        for t in self.tasks.values_mut().filter(|t| !t.restoring) {
            let drained: Vec<TopicPartition> = t
                .paused
                .iter()
                .filter(|tp| t.input.queued(tp) < resume_at)
                .cloned()
                .collect();
            for tp in drained {
                t.paused.remove(&tp);
                resume.push(tp);
            }
        }
        resume
    }

    /// True when the commit interval passed or a store's uncommitted writes hit their bound.
    pub(crate) fn commit_due(&self) -> bool {
        let interval = self.instance.config.commit_interval().as_millis() as u64;
        self.clock.now_ms().saturating_sub(self.last_commit_ms) >= interval
            || self.tasks.values().any(|t| t.task.needs_commit())
    }

    fn running(&self) -> Vec<TaskId> {
        self.tasks
            .iter()
            .filter(|(_, t)| !t.restoring)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Commits every running task (see the module docs for the order of each guarantee).
    pub(crate) fn commit(&mut self, consumer: &dyn ConsumerOps) -> Result<(), StreamsError> {
        self.last_commit_ms = self.clock.now_ms();
        let running = self.running();
        if running.is_empty() {
            return Ok(());
        }
        self.commit_started = std::time::Instant::now();
        let committed = if self.exactly_once {
            self.commit_transaction(consumer, &running)
        } else {
            self.commit_at_least_once(consumer, &running)
        };
        if committed.is_ok() {
            self.report_rocksdb_memory();
            // Every running task's stores hold committed state now, changed or not since the
            // last commit (an idle task's last changes still deserve a snapshot).
            let now = self.clock.now_ms();
            for id in &running {
                self.tasks[id].task.after_commit(now);
            }
        }
        committed
    }

    fn commit_at_least_once(
        &mut self,
        consumer: &dyn ConsumerOps,
        running: &[TaskId],
    ) -> Result<(), StreamsError> {
        let changelog_offsets = self.write_and_flush(running)?;
        self.commit_stores(running, &changelog_offsets)?;
        let commits = self.offsets_to_commit(running, &changelog_offsets);
        if commits.is_empty() {
            return Ok(());
        }
        match consumer.commit(&commits) {
            Ok(()) => {
                self.record_committed(running);
                Ok(())
            }
            // Under at-least-once a missed offset commit only means reprocessing.
            Err(e) if matches!(e.kind, ClientErrorKind::Retriable | ClientErrorKind::Abortable) => {
                tracing::warn!(thread = self.thread, error = %e, "offset commit failed; records will be processed again");
                Ok(())
            }
            Err(e) => Err(StreamsError::client("committing offsets", e)),
        }
    }

    fn commit_transaction(
        &mut self,
        consumer: &dyn ConsumerOps,
        running: &[TaskId],
    ) -> Result<(), StreamsError> {
        let dirty = running.iter().any(|id| self.tasks[id].dirty);
        if !dirty && !self.in_transaction {
            return Ok(());
        }
        self.begin_if_needed()?;
        let changelog_offsets = self.write_and_flush(running)?;
        let offsets = self.offsets_to_commit(running, &changelog_offsets);
        if self.broken != Some(BrokenCommit::SkipSendOffsets) && !offsets.is_empty() {
            let group = consumer.group_metadata().ok_or_else(|| {
                StreamsError::client(
                    "adding offsets to the transaction",
                    ClientError::new(
                        ClientErrorKind::Fatal,
                        "group metadata",
                        "the consumer is in no group",
                    ),
                )
            })?;
            self.producer
                .send_offsets_to_transaction(&offsets, &group, TXN_TIMEOUT)
                .map_err(|e| StreamsError::client("adding offsets to the transaction", e))?;
        }
        let stores_first = self.broken == Some(BrokenCommit::ApplyStoresBeforeCommit);
        if stores_first {
            self.commit_stores(running, &changelog_offsets)?;
        }
        self.producer
            .commit_transaction(Duration::MAX)
            .map_err(|e| StreamsError::client("committing the transaction", e))?;
        self.in_transaction = false;
        self.record_committed(running);
        if !stores_first {
            self.commit_stores(running, &changelog_offsets)?;
        }
        Ok(())
    }

    fn thread_counter(&self, name: &'static str, help: &'static str) -> crate::metrics::Counter {
        self.instance
            .metrics
            .counter(name, help, &[("thread", &self.thread.to_string())])
    }

    /// After a successful offset commit: what the tasks consumed is what the group holds.
    fn record_committed(&mut self, running: &[TaskId]) {
        self.thread_counter(crate::metrics::names::COMMITS, "Commits")
            .inc();
        if self.instance.config.metrics_recording_level != crate::config::MetricsLevel::Off {
            self.commit_latency.observe(self.commit_started.elapsed());
        }
        for id in running {
            let t = self.tasks.get_mut(id).expect("running task");
            let consumed: Vec<(TopicPartition, i64)> =
                t.consumed.iter().map(|(tp, o)| (tp.clone(), *o)).collect();
            t.committed.extend(consumed);
        }
    }

    /// Flushes caches, writes outputs and changelog records, and waits for every delivery;
    /// returns the last offset reached per changelog tag.
    fn write_and_flush(&mut self, running: &[TaskId]) -> Result<HashMap<u64, i64>, StreamsError> {
        for (i, id) in running.iter().enumerate() {
            let entry = self.tasks.get_mut(id).expect("running task");
            entry.unflushed = false;
            let t = &mut entry.task;
            t.flush()?;
            send_output(&mut *self.producer, *id, t)?;
            let producer = &mut *self.producer;
            t.send_changelog(|store, record| {
                producer.send(record, changelog_tag(i, store)).map_err(|e| {
                    StreamsError::client(format!("task {id}: writing changelog {}", record.topic), e)
                })
            })?;
        }
        let deliveries = self
            .producer
            .flush(FLUSH_TIMEOUT)
            .map_err(|e| StreamsError::client("waiting for deliveries", e))?;
        let mut changelog_offsets: HashMap<u64, i64> = HashMap::new();
        for d in deliveries {
            match d.result {
                Ok((_, offset)) => {
                    let best = changelog_offsets.entry(d.tag).or_insert(offset);
                    *best = (*best).max(offset);
                }
                Err(source) => self.delivery_failed(d.tag, running, source)?,
            }
        }
        Ok(changelog_offsets)
    }

    /// Applies every running task's pending store writes with the changelog offsets reached.
    fn commit_stores(
        &mut self,
        running: &[TaskId],
        changelog_offsets: &HashMap<u64, i64>,
    ) -> Result<(), StreamsError> {
        for (i, id) in running.iter().enumerate() {
            let t = self.tasks.get_mut(id).expect("running task");
            let offsets: Vec<Option<i64>> = (0..t.task.store_count())
                .map(|s| changelog_offsets.get(&changelog_tag(i, s)).copied())
                .collect();
            t.task.commit_stores(&offsets)?;
            t.dirty = false;
        }
        Ok(())
    }

    /// The next offsets of every running task, with its stream time and its stores' changelog
    /// positions (`changelog_offsets`: what this commit wrote) as metadata.
    fn offsets_to_commit(
        &self,
        running: &[TaskId],
        changelog_offsets: &HashMap<u64, i64>,
    ) -> Vec<(TopicPartition, OffsetAndMetadata)> {
        let mut commits = Vec::new();
        for (i, id) in running.iter().enumerate() {
            let t = &self.tasks[id];
            let positions = t
                .task
                .changelog_positions(|s| changelog_offsets.get(&changelog_tag(i, s)).copied());
            let metadata = metadata_of(t.task.stream_time(), &positions);
            commits.extend(t.consumed.iter().map(|(tp, &offset)| {
                (
                    tp.clone(),
                    OffsetAndMetadata {
                        offset,
                        metadata: metadata.clone(),
                    },
                )
            }));
        }
        commits
    }

    /// A record was not delivered: under exactly-once the transaction must abort; under
    /// at-least-once fatal for changelog records (the store would get ahead of its changelog)
    /// and, for outputs, as `production.exception.handler` says.
    fn delivery_failed(
        &mut self,
        tag: u64,
        running: &[TaskId],
        source: ClientError,
    ) -> Result<(), StreamsError> {
        let task = if tag == OUTPUT_TAG {
            running.first().copied().unwrap_or(TaskId::new(0, 0))
        } else {
            running[((tag - 1) >> 16) as usize]
        };
        let fenced = source.kind == ClientErrorKind::Fenced;
        let error = StreamsError::Delivery {
            task,
            topic: if tag == OUTPUT_TAG {
                "an output topic".into()
            } else {
                "a changelog".into()
            },
            source: if self.exactly_once && !fenced {
                ClientError::new(ClientErrorKind::Abortable, "deliver record", source.message)
            } else {
                source
            },
        };
        if self.exactly_once
            || tag != OUTPUT_TAG
            || self.instance.config.production_exception_handler == ErrorHandler::LogAndFail
        {
            return Err(error);
        }
        tracing::warn!(%error, "record not delivered; continuing as the production handler says");
        self.instance
            .metrics
            .counter(
                crate::metrics::names::DROPPED,
                "Records skipped",
                &[
                    ("task", &task.to_string()),
                    ("reason", DropReason::SerializationError.as_str()),
                ],
            )
            .inc();
        Ok(())
    }

    /// Exactly-once after an abortable error: aborts the open transaction, drops every running
    /// task's uncommitted work and buffered input, and rewinds its partitions to the committed
    /// offsets. Returns the partitions to resume.
    pub(crate) fn abort_and_rewind(&mut self, consumer: &mut dyn Consumer) -> Result<(), StreamsError> {
        self.abort_transaction()?;
        let running = self.running();
        let partitions = self.running_partitions();
        let committed = match consumer.committed(&partitions) {
            Ok(committed) => committed,
            // Where to rewind to is unknown for now: the tasks close (their stores hold the
            // last commit) and are created again from the offsets once they can be read.
            Err(e) if e.kind == ClientErrorKind::Retriable => {
                for id in &running {
                    let Some(mut t) = self.tasks.remove(id) else {
                        continue;
                    };
                    // Blocked before closing: a close that fails still leaves it to retry.
                    // (`close_clean` drops the uncommitted work itself.)
                    self.blocked.insert(
                        *id,
                        Blocked {
                            stream_time: UNKNOWN_TIME,
                            partitions: std::mem::take(&mut t.partitions),
                            floors: std::mem::take(&mut t.floors),
                        },
                    );
                    t.task.close_clean()?;
                }
                self.board
                    .set_thread(self.thread, ThreadState::PartitionsAssigned);
                consumer
                    .pause(&partitions)
                    .map_err(|e| StreamsError::client("pausing partitions", e))?;
                tracing::warn!(thread = self.thread, error = %e, tasks = ?running, "transaction aborted; the committed offsets to rewind to are unreadable for now: the tasks are created again once they can be read");
                return Ok(());
            }
            Err(e) => return Err(StreamsError::client("reading committed offsets to rewind", e)),
        };
        let mut resume = Vec::new();
        for id in &running {
            let t = self.tasks.get_mut(id).expect("running task");
            t.task.abort();
            t.input.clear();
            t.consumed.clear();
            t.dirty = false;
            resume.extend(std::mem::take(&mut t.paused));
        }
        for (tp, om) in committed {
            consumer
                .seek(&tp, om.map(|om| om.offset))
                .map_err(|e| StreamsError::client(format!("rewinding {tp}"), e))?;
        }
        if !resume.is_empty() {
            consumer
                .resume(&resume)
                .map_err(|e| StreamsError::client("resuming partitions", e))?;
        }
        tracing::info!(thread = self.thread, tasks = ?running, "transaction aborted; inputs rewound to the committed offsets");
        Ok(())
    }

    /// Aborts the open transaction, if any.
    fn abort_transaction(&mut self) -> Result<(), StreamsError> {
        if self.in_transaction {
            self.thread_counter(crate::metrics::names::ABORTS, "Transactions aborted")
                .inc();
            self.producer
                .abort_transaction(TXN_TIMEOUT)
                .map_err(|e| StreamsError::client("aborting the transaction", e))?;
            self.in_transaction = false;
        }
        Ok(())
    }

    /// The thread lost its tasks (fenced producer, or a group generation that moved on): close
    /// every task without committing; they come back through the next assignment.
    pub(crate) fn close_all_dirty(&mut self) {
        if let Err(e) = self.abort_transaction() {
            tracing::debug!(error = %e, "abort after losing the tasks failed");
        }
        self.in_transaction = false;
        self.blocked.clear();
        for (id, mut t) in std::mem::take(&mut self.tasks)
            .into_iter()
            .chain(std::mem::take(&mut self.suspended))
        {
            t.task.abort();
            if let Err(e) = t.task.close_clean() {
                tracing::warn!(task = %id, error = %e, "closing a lost task failed");
            }
        }
        tracing::info!(thread = self.thread, "tasks lost: closed without committing");
    }

    /// Replaces a fenced producer.
    pub(crate) fn replace_producer(&mut self, producer: Box<dyn Producer>) {
        self.producer = producer;
        self.in_transaction = false;
    }

    /// Partitions are being revoked: commit everything, then suspend the affected tasks.
    pub(crate) fn on_revoked(&mut self, consumer: &dyn ConsumerOps, partitions: &[TopicPartition]) {
        self.board.set_thread(self.thread, ThreadState::PartitionsRevoked);
        if let Err(e) = self.commit(consumer) {
            match client_kind(&e) {
                // The tasks move anyway: what was not committed is dropped, and redone by
                // whoever owns them next.
                Some(kind) if self.exactly_once && kind != ClientErrorKind::Fatal => {
                    tracing::warn!(thread = self.thread, error = %e, "commit on revocation failed; aborting");
                    if kind == ClientErrorKind::Fenced || self.abort_transaction().is_err() {
                        self.producer_fenced = true;
                        self.in_transaction = false;
                    }
                    for t in self.tasks.values_mut() {
                        t.task.abort();
                        t.dirty = false;
                    }
                    // Tasks not revoked (none under the eager protocol) rewind at the next step.
                    self.needs_rewind =
                        partitions.len() < self.tasks.values().map(|t| t.partitions.len()).sum();
                }
                _ => {
                    self.fatal.get_or_insert(e);
                }
            }
        }
        let revoked: BTreeSet<TaskId> = partitions.iter().filter_map(|tp| self.task_of(tp)).collect();
        for id in &revoked {
            self.blocked.remove(id);
        }
        for id in revoked {
            if let Some(mut t) = self.tasks.remove(&id) {
                t.input.clear();
                t.consumed.clear();
                t.floors.clear();
                t.paused.clear();
                t.partitions.clear();
                self.suspended.insert(id, t);
            }
        }
        tracing::info!(thread = self.thread, ?partitions, "partitions revoked");
    }

    /// Partitions were lost (this member was removed from the group): another member may own
    /// them already, so their tasks are closed without committing, never kept suspended — a
    /// suspended copy would be stale once the new owner commits. The open transaction holds
    /// their uncommitted work: it is aborted.
    pub(crate) fn on_lost(&mut self, partitions: &[TopicPartition]) {
        self.board.set_thread(self.thread, ThreadState::PartitionsRevoked);
        if let Err(e) = self.abort_transaction() {
            tracing::debug!(error = %e, "abort after losing partitions failed");
            self.producer_fenced = true;
            self.in_transaction = false;
        }
        let lost: BTreeSet<TaskId> = partitions.iter().filter_map(|tp| self.task_of(tp)).collect();
        for id in &lost {
            self.blocked.remove(id);
            if let Some(mut t) = self.tasks.remove(id) {
                t.task.abort();
                if let Err(e) = t.task.close_clean() {
                    tracing::warn!(task = %id, error = %e, "closing a lost task failed");
                }
            }
        }
        // Other tasks' uncommitted work went with the transaction (none under the eager
        // protocol, which loses every partition at once): they rewind at the next step.
        self.needs_rewind = !self.tasks.is_empty();
        tracing::info!(
            thread = self.thread,
            ?partitions,
            "partitions lost: tasks closed without committing"
        );
    }

    /// Partitions were assigned: resume or create their tasks (restoring before processing)
    /// and close suspended tasks that did not come back.
    pub(crate) fn on_assigned(&mut self, consumer: &dyn ConsumerOps, partitions: &[TopicPartition]) {
        self.board
            .set_thread(self.thread, ThreadState::PartitionsAssigned);
        self.thread_counter(
            crate::metrics::names::ASSIGNMENTS,
            "Partition assignments received (one per rebalance the thread took part in)",
        )
        .inc();
        if let Err(e) = self.assign(consumer, partitions) {
            self.fatal.get_or_insert(e);
        }
        tracing::info!(thread = self.thread, ?partitions, tasks = ?self.tasks.keys().collect::<Vec<_>>(), "partitions assigned");
    }

    fn assign(
        &mut self,
        consumer: &dyn ConsumerOps,
        partitions: &[TopicPartition],
    ) -> Result<(), StreamsError> {
        let committed = match consumer.committed(partitions) {
            Ok(committed) => committed,
            Err(e) if e.kind == ClientErrorKind::Retriable => {
                self.defer_assignment(partitions, &e)?;
                return Ok(());
            }
            Err(e) => return Err(StreamsError::client("reading committed offsets", e)),
        };
        let mut stream_times: BTreeMap<TaskId, i64> = BTreeMap::new();
        let offsets: BTreeMap<TopicPartition, i64> = committed
            .iter()
            .filter_map(|(tp, om)| om.as_ref().map(|om| (tp.clone(), om.offset)))
            .collect();
        let mut targets = changelog_targets(
            committed
                .iter()
                .filter_map(|(tp, om)| Some((self.task_of(tp)?, om.as_ref()?.metadata.as_str()))),
        );
        for (tp, om) in committed {
            if let Some(id) = self.task_of(&tp) {
                let st = om
                    .and_then(|om| parse_metadata(&om.metadata).stream_time)
                    .unwrap_or(UNKNOWN_TIME);
                let e = stream_times.entry(id).or_insert(UNKNOWN_TIME);
                *e = (*e).max(st);
            }
        }
        for (&id, &stream_time) in &stream_times {
            if self.tasks.contains_key(&id) {
                continue;
            }
            if let Some(t) = self.suspended.remove(&id) {
                let current = t.committed.iter().all(|(tp, o)| offsets.get(tp) == Some(o))
                    && offsets
                        .iter()
                        .all(|(tp, o)| self.task_of(tp) != Some(id) || t.committed.get(tp) == Some(o));
                if current {
                    self.tasks.insert(id, t);
                    continue;
                }
                // Another member processed it since: its state is stale.
                tracing::info!(task = %id, "suspended task was processed elsewhere meanwhile; restoring it afresh");
                t.task.close_clean()?;
            }
            match Task::new(id, &self.instance, stream_time) {
                Ok(mut task) => {
                    task.set_changelog_targets(targets.remove(&id).unwrap_or_default());
                    self.tasks.insert(id, ActiveTask::new(task));
                }
                Err(e) if is_locked(&e) => {
                    tracing::debug!(task = %id, "task state still open in another thread; retrying");
                    self.blocked.insert(id, Blocked::new(stream_time));
                }
                Err(e) => return Err(e),
            }
        }
        for tp in partitions {
            let Some(id) = self.task_of(tp) else { continue };
            if let Some(t) = self.tasks.get_mut(&id) {
                t.input.register(tp.clone());
                t.partitions.insert(tp.clone());
                if !t.paused.contains(tp) {
                    self.pending_resumes.insert(tp.clone());
                }
                self.pending_backlog_checks.insert(tp.clone());
                if let Some(&o) = offsets.get(tp) {
                    t.committed.insert(tp.clone(), o);
                } else if self.latest_sources.contains(&tp.topic) {
                    t.floors.insert(tp.clone(), i64::MAX);
                    self.pending_resets.insert(tp.clone());
                }
            } else if let Some(b) = self.blocked.get_mut(&id) {
                b.partitions.insert(tp.clone());
            }
        }
        for (id, t) in std::mem::take(&mut self.suspended) {
            tracing::info!(task = %id, "closing a task that moved to another thread");
            t.task.close_clean()?;
        }
        Ok(())
    }

    /// The committed offsets of newly assigned partitions could not be read (the broker just
    /// restarted and its group coordinator is still loading them, say): their tasks wait as
    /// blocked ones do, and `retry_blocked` creates them at a later step, reading the offsets
    /// again and rewinding the partitions to them. Dropping the assignment instead left its
    /// partitions without tasks for good: their records were fetched and thrown away, and
    /// the instance never left `REBALANCING`. Suspended tasks among them are closed (their
    /// state stays on disk): whether another member processed them meanwhile is unknown
    /// without the offsets.
    fn defer_assignment(
        &mut self,
        partitions: &[TopicPartition],
        e: &ClientError,
    ) -> Result<(), StreamsError> {
        tracing::warn!(thread = self.thread, error = %e, ?partitions, "reading the committed offsets of assigned partitions failed; their tasks are created at a later step");
        for tp in partitions {
            let Some(id) = self.task_of(tp) else { continue };
            if self.tasks.contains_key(&id) {
                continue;
            }
            self.blocked
                .entry(id)
                .or_insert_with(|| Blocked::new(UNKNOWN_TIME))
                .partitions
                .insert(tp.clone());
        }
        for (id, t) in std::mem::take(&mut self.suspended) {
            tracing::info!(task = %id, "closing a suspended task: its offsets are unknown");
            t.task.close_clean()?;
        }
        Ok(())
    }

    /// Resumes the partitions assigned since the last step to tasks that run (outside the
    /// rebalance callback, where the partitions are not assigned yet): the consumer may still
    /// hold them paused from before the rebalance (see `pending_resumes`).
    pub(crate) fn resume_assigned(&mut self, consumer: &mut dyn Consumer) -> Result<(), StreamsError> {
        let parts: Vec<TopicPartition> = std::mem::take(&mut self.pending_resumes)
            .into_iter()
            .filter(|tp| {
                self.task_of(tp)
                    .and_then(|id| self.tasks.get(&id))
                    .is_some_and(|t| t.partitions.contains(tp) && !t.paused.contains(tp))
            })
            .collect();
        if !parts.is_empty() {
            consumer
                .resume(&parts)
                .map_err(|e| StreamsError::client("resuming assigned partitions", e))?;
        }
        Ok(())
    }

    /// Kafka Streams' KIP-695 at assignment: a task with several input partitions does not
    /// process while one of them is empty but has records on the broker it has not fetched yet
    /// (its end when assigned is past where the task starts reading), so that, say, a table's
    /// rows are in before the stream records that join them. A partition stops lagging once
    /// the consumer's position reaches that end (or a record at it is buffered). Reading the
    /// end needs the broker: a partition whose end cannot be read does not wait.
    pub(crate) fn check_backlogs(&mut self, consumer: &mut dyn Consumer) {
        for tp in std::mem::take(&mut self.pending_backlog_checks) {
            let Some(t) = self.task_of(&tp).and_then(|id| self.tasks.get_mut(&id)) else {
                continue;
            };
            if !t.partitions.contains(&tp) || t.partitions.len() < 2 || t.floors.contains_key(&tp) {
                continue;
            }
            let Ok(end) = consumer.end_offset(&tp) else {
                continue;
            };
            let start = t.committed.get(&tp).copied().unwrap_or(0);
            if end > start {
                t.backlog.insert(tp.clone(), end);
                t.input.set_lagging(tp);
            }
        }
        // Reading positions asks librdkafka's main thread for the assignment: at most every
        // BACKLOG_SWEEP_MS, not every step (a buffered record at the end catches a partition
        // up at once; the sweep is for ends past the last record, such as transaction markers).
        let now = self.clock.now_ms();
        if now.saturating_sub(self.last_backlog_sweep_ms) < BACKLOG_SWEEP_MS {
            return;
        }
        self.last_backlog_sweep_ms = now;
        for t in self.tasks.values_mut().filter(|t| !t.backlog.is_empty()) {
            let caught_up: Vec<TopicPartition> = t
                .backlog
                .iter()
                .filter(|(tp, &end)| consumer.position(tp).ok().flatten().is_some_and(|p| p >= end))
                .map(|(tp, _)| tp.clone())
                .collect();
            for tp in caught_up {
                t.backlog.remove(&tp);
                t.input.caught_up(&tp);
            }
        }
    }

    /// Moves partitions of `latest` sources that had no committed offset to their end (outside
    /// the rebalance callback, where seeking is not possible); records fetched before are
    /// dropped by their floor.
    pub(crate) fn apply_offset_resets(&mut self, consumer: &mut dyn Consumer) -> Result<(), StreamsError> {
        for tp in std::mem::take(&mut self.pending_resets) {
            let Some(t) = self.task_of(&tp).and_then(|id| self.tasks.get_mut(&id)) else {
                continue;
            };
            if !t.partitions.contains(&tp) {
                continue;
            }
            let end = consumer
                .end_offset(&tp)
                .map_err(|e| StreamsError::client(format!("reading the end of {tp}"), e))?;
            consumer
                .seek(&tp, Some(end))
                .map_err(|e| StreamsError::client(format!("moving {tp} to its end"), e))?;
            t.floors.insert(tp.clone(), end);
            tracing::info!(partition = %tp, offset = end, "no committed offset: starting at the end (auto.offset.reset latest)");
        }
        Ok(())
    }

    /// Creates the tasks whose state another thread held, once it let go, and those whose
    /// committed offsets could not be read at assignment, once they can: their partitions are
    /// rewound to the committed offsets (records fetched meanwhile were dropped) and resumed.
    /// The partitions of tasks still blocked stay paused.
    pub(crate) fn retry_blocked(&mut self, consumer: &mut dyn Consumer) -> Result<(), StreamsError> {
        if self.blocked.is_empty() {
            return Ok(());
        }
        // One read for every blocked partition: while the coordinator loads the offsets a
        // read may wait out its whole timeout, so once per step, not once per task.
        let all: Vec<TopicPartition> = self
            .blocked
            .values()
            .flat_map(|b| b.partitions.iter().cloned())
            .collect();
        let committed = match consumer.committed(&all) {
            Ok(committed) => committed,
            Err(e) if e.kind == ClientErrorKind::Retriable => {
                tracing::debug!(thread = self.thread, error = %e, "committed offsets of blocked tasks still unreadable; retrying");
                consumer
                    .pause(&all)
                    .map_err(|e| StreamsError::client("pausing partitions", e))?;
                return Ok(());
            }
            Err(e) => return Err(StreamsError::client("reading committed offsets", e)),
        };
        let mut by_task: BTreeMap<TaskId, Vec<(TopicPartition, Option<OffsetAndMetadata>)>> = BTreeMap::new();
        for (tp, om) in committed {
            if let Some(id) = self.task_of(&tp) {
                by_task.entry(id).or_default().push((tp, om));
            }
        }
        let ids: Vec<TaskId> = self.blocked.keys().copied().collect();
        for id in ids {
            let committed = by_task.remove(&id).unwrap_or_default();
            self.create_blocked(consumer, id, committed)?;
        }
        Ok(())
    }

    /// Creates blocked task `id` from its partitions' committed offsets, unless its state is
    /// still locked; it leaves `blocked` only once created (an error leaves it to retry).
    fn create_blocked(
        &mut self,
        consumer: &mut dyn Consumer,
        id: TaskId,
        committed: Vec<(TopicPartition, Option<OffsetAndMetadata>)>,
    ) -> Result<(), StreamsError> {
        let b = &self.blocked[&id];
        let parts: Vec<TopicPartition> = b.partitions.iter().cloned().collect();
        // A task deferred before its offsets were read learns its stream time here.
        let stream_time = committed
            .iter()
            .filter_map(|(_, om)| parse_metadata(&om.as_ref()?.metadata).stream_time)
            .fold(b.stream_time, i64::max);
        let mut task = match Task::new(id, &self.instance, stream_time) {
            Ok(task) => task,
            Err(e) if is_locked(&e) => {
                return consumer
                    .pause(&parts)
                    .map_err(|e| StreamsError::client("pausing partitions", e));
            }
            Err(e) => return Err(e),
        };
        let mut targets = changelog_targets(
            committed
                .iter()
                .filter_map(|(_, om)| Some((id, om.as_ref()?.metadata.as_str()))),
        );
        task.set_changelog_targets(targets.remove(&id).unwrap_or_default());
        let mut t = ActiveTask::new(task);
        for tp in &parts {
            t.input.register(tp.clone());
            t.partitions.insert(tp.clone());
        }
        let mut resets = Vec::new();
        for (tp, om) in committed {
            // Where it starts: the committed offset; without one, the floor it had (an abort
            // closed it), else the `latest` reset as at assignment, else the beginning.
            let start = match (om, b.floors.get(&tp)) {
                (Some(om), _) => {
                    t.committed.insert(tp.clone(), om.offset);
                    Some(om.offset)
                }
                (None, Some(&floor)) => {
                    t.floors.insert(tp.clone(), floor);
                    Some(floor)
                }
                (None, None) if self.latest_sources.contains(&tp.topic) => {
                    t.floors.insert(tp.clone(), i64::MAX);
                    resets.push(tp);
                    continue;
                }
                (None, None) => None,
            };
            match consumer.seek(&tp, start) {
                Ok(()) => {}
                // The client cannot seek the partition yet (librdkafka: it waits for the
                // committed offset itself): the task waits one more step (its state closes).
                Err(e) if e.kind == ClientErrorKind::Retriable => {
                    tracing::debug!(task = %id, error = %e, "cannot rewind yet; retrying");
                    return consumer
                        .pause(&parts)
                        .map_err(|e| StreamsError::client("pausing partitions", e));
                }
                Err(e) => return Err(StreamsError::client(format!("rewinding {tp}"), e)),
            }
        }
        consumer
            .resume(&parts)
            .map_err(|e| StreamsError::client("resuming partitions", e))?;
        tracing::debug!(task = %id, "blocked task created");
        self.blocked.remove(&id);
        self.pending_resets.extend(resets);
        // As at assignment: a task with several inputs waits for their backlogs (KIP-695).
        self.pending_backlog_checks.extend(parts);
        self.tasks.insert(id, t);
        Ok(())
    }

    /// One bounded step of restoration (see `Task::restore_step`) for every restoring task:
    /// each checks its background snapshot request or reads once from its changelog (all
    /// through the one restore consumer, see `ConsumerChangelogReader`). A restored task
    /// processes from the next step on. Returns whether anything moved: then the next poll
    /// should not wait.
    pub(crate) fn restore_step(&mut self, restore_consumer: &mut dyn Consumer) -> Result<bool, StreamsError> {
        let now = self.clock.now_ms();
        let mut progressed = false;
        for (id, t) in self.tasks.iter_mut().filter(|(_, t)| t.restoring) {
            let started = *t.restore_started_ms.get_or_insert(now);
            let mut reader = ConsumerChangelogReader::new(restore_consumer, &mut self.restore_cursor);
            match t.task.restore_step(&mut reader, now)? {
                RestoreStep::Working { progressed: p, .. } => progressed |= p,
                RestoreStep::Done(restored) => {
                    let records: u64 = restored.iter().map(|r| r.records).sum();
                    let elapsed_ms = now.saturating_sub(started);
                    tracing::info!(task = %id, records, elapsed_ms, "task restored");
                    t.task.set_wall_clock(crate::task::wall_clock_ms());
                    t.task.init_processors()?;
                    t.restoring = false;
                    progressed = true;
                }
            }
        }
        // Changelogs no task reads any more (restored, or their task closed) leave the
        // restore consumer.
        let needed = self
            .tasks
            .values()
            .filter(|t| t.restoring)
            .filter_map(|t| t.task.changelog_being_read())
            .map(|(topic, partition)| TopicPartition::new(topic, partition))
            .collect();
        self.restore_cursor.retain(&needed);
        // Once no task restores, the consumer stops fetching (it is left with no partitions).
        // While tasks restore, the next read applies a changed assignment: librdkafka aborted
        // (`rd_kafka_assignment_partition_stopped: rktp_started`) when the restore consumer was
        // also reassigned after every step, a partition removed and added back within
        // milliseconds.
        if !self.tasks.values().any(|t| t.restoring) {
            ConsumerChangelogReader::new(restore_consumer, &mut self.restore_cursor).sync()?;
        }
        Ok(progressed)
    }

    /// The partitions of restoring tasks, not paused, whose buffers are full: paused at once
    /// (unlike a running task's, see [`Self::full_partitions`]), since nothing drains them
    /// until the restore is done. They resume once their task processes.
    pub(crate) fn restoring_full_partitions(&self) -> Vec<TopicPartition> {
        self.full_unpaused(true)
    }

    /// Tells the board whether this thread is running (all tasks restored).
    pub(crate) fn report_running(&self) {
        if !self.restoring() && self.blocked.is_empty() {
            self.board.set_thread(self.thread, ThreadState::Running);
        }
    }

    /// Commits and closes every task (clean shutdown). Under exactly-once a commit the
    /// cluster refuses (fenced, aborted) is no error: the work is dropped, and redone by the
    /// partitions' next owner.
    pub(crate) fn close(&mut self, consumer: &dyn ConsumerOps) -> Result<(), StreamsError> {
        let committed = self.commit(consumer);
        if let Err(e) = &committed {
            if self.exactly_once && client_kind(e).is_some_and(|k| k != ClientErrorKind::Fatal) {
                tracing::warn!(thread = self.thread, error = %e, "final commit refused; closing without it");
                self.close_all_dirty();
                return Ok(());
            }
            let _ = self.abort_transaction();
        }
        for (_, t) in std::mem::take(&mut self.tasks)
            .into_iter()
            .chain(std::mem::take(&mut self.suspended))
        {
            t.task.close_clean()?;
        }
        committed
    }
}

/// Records taken per poll.
pub(crate) const POLL_MAX: usize = 2000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_time_round_trips_through_commit_metadata() {
        assert_eq!(parse_metadata(&metadata_of(1234, &[])).stream_time, Some(1234));
        assert_eq!(parse_metadata(""), CommitMetadata::default());
        assert_eq!(parse_metadata("other").stream_time, None);
        let positions = vec![("counts".to_string(), 17), ("window-counts".to_string(), 4)];
        let m = metadata_of(-1, &positions);
        assert_eq!(m, "st=-1;cl=counts:17,window-counts:4");
        assert_eq!(
            parse_metadata(&m),
            CommitMetadata {
                stream_time: Some(-1),
                changelogs: positions
            }
        );
        let a = TaskId::new(0, 1);
        let targets = changelog_targets([(a, "st=5;cl=s:3"), (a, "st=6;cl=s:9,t:1")]);
        assert_eq!(targets[&a]["s"], 9);
        assert_eq!(targets[&a]["t"], 1);
        assert_eq!(changelog_tag(0, 0), 1);
        assert_eq!(changelog_tag(2, 3), 1 + (2 << 16) + 3);
    }
}
