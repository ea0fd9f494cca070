//! The tasks of one stream thread: created when their partitions are assigned, restored,
//! fed and processed, committed every `commit.interval.ms`, and committed and suspended when
//! their partitions are revoked (kept open in case the next assignment returns them).
//!
//! At-least-once commit order: flush record caches, write outputs and changelog records, wait
//! for every delivery, apply the stores' pending writes with the changelog offsets reached,
//! then commit the input offsets (with the task's stream time as metadata). A crash anywhere
//! in between replays input that was already applied: duplicates, never loss.

use super::partition_group::PartitionGroup;
use super::restore_reader::ConsumerChangelogReader;
use super::state::{StateBoard, ThreadState};
use crate::client::{ClientErrorKind, Consumer, ConsumerOps, OffsetAndMetadata, Producer, TopicPartition};
use crate::config::ErrorHandler;
use crate::error::StreamsError;
use crate::instance::Instance;
use crate::metrics::DropReason;
use crate::task::{Task, UNKNOWN_TIME};
use crate::task_id::TaskId;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a commit waits for deliveries.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(120);

/// Delivery tag of sink and dead-letter records (only failures are reported).
pub(crate) const OUTPUT_TAG: u64 = 0;

/// Tag of changelog records of store `store` of the task at position `task` in a commit.
fn changelog_tag(task: usize, store: usize) -> u64 {
    1 + ((task as u64) << 16) + store as u64
}

struct ActiveTask {
    task: Task,
    restoring: bool,
    input: PartitionGroup,
    /// Next offset to commit per input partition (last processed + 1).
    consumed: BTreeMap<TopicPartition, i64>,
    paused: BTreeSet<TopicPartition>,
}

/// Committed offsets' metadata: the task's stream time, as Kafka Streams keeps partition time.
fn metadata_of(stream_time: i64) -> String {
    format!("st={stream_time}")
}

fn stream_time_of(metadata: &str) -> Option<i64> {
    metadata.strip_prefix("st=")?.parse().ok()
}

pub(crate) struct TaskManager {
    instance: Instance,
    thread: usize,
    board: Arc<StateBoard>,
    producer: Box<dyn Producer>,
    /// Resolved source topic -> its sub-topology.
    sub_topology_of: HashMap<Arc<str>, u32>,
    tasks: BTreeMap<TaskId, ActiveTask>,
    /// Revoked but still open: resumed if the next assignment returns them.
    suspended: BTreeMap<TaskId, ActiveTask>,
    last_commit: Instant,
    /// An error raised inside a rebalance callback, reported after the poll.
    fatal: Option<StreamsError>,
}

impl TaskManager {
    pub(crate) fn new(
        instance: Instance,
        thread: usize,
        board: Arc<StateBoard>,
        producer: Box<dyn Producer>,
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
        TaskManager {
            instance,
            thread,
            board,
            producer,
            sub_topology_of,
            tasks: BTreeMap::new(),
            suspended: BTreeMap::new(),
            last_commit: Instant::now(),
            fatal: None,
        }
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

    pub(crate) fn has_tasks(&self) -> bool {
        !self.tasks.is_empty()
    }

    pub(crate) fn restoring(&self) -> bool {
        self.tasks.values().any(|t| t.restoring)
    }

    /// Buffers polled records; returns the partitions to pause (their buffers are full).
    pub(crate) fn add_records(&mut self, records: Vec<crate::record::RawRecord>) -> Vec<TopicPartition> {
        let capacity = self.instance.config.buffered_records_per_partition;
        let mut pause = Vec::new();
        for r in records {
            let tp = TopicPartition::new(Arc::clone(&r.topic), r.partition);
            let Some(id) = self.task_of(&tp) else { continue };
            // Records of partitions no longer owned are fetched again by their new owner.
            let Some(task) = self.tasks.get_mut(&id) else {
                continue;
            };
            if task.input.add(tp.clone(), r) >= capacity && task.paused.insert(tp.clone()) {
                pause.push(tp);
            }
        }
        pause
    }

    /// Processes up to `per_task` buffered records of each running task in timestamp order;
    /// returns the number processed and the partitions to resume (their buffers drained).
    pub(crate) fn process(&mut self, per_task: usize) -> Result<(usize, Vec<TopicPartition>), StreamsError> {
        let mut processed = 0;
        let mut resume = Vec::new();
        let max_idle = u64::try_from(self.instance.config.max_task_idle_ms)
            .ok()
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis);
        let now = Instant::now();
        let TaskManager { tasks, producer, .. } = self;
        for t in tasks.values_mut().filter(|t| !t.restoring) {
            for _ in 0..per_task {
                if !t.input.ready(max_idle, now) {
                    break;
                }
                let Some((tp, record)) = t.input.next() else { break };
                t.task.process(&record)?;
                t.consumed.insert(tp.clone(), record.offset + 1);
                processed += 1;
                if t.input.queued(&tp) == 0 && t.paused.remove(&tp) {
                    resume.push(tp);
                }
            }
            for out in t.task.take_output() {
                producer.send(&out, OUTPUT_TAG).map_err(|e| {
                    StreamsError::client(format!("task {}: writing to {}", t.task.id(), out.topic), e)
                })?;
            }
        }
        Ok((processed, resume))
    }

    /// True when the commit interval passed or a store's uncommitted writes hit their bound.
    pub(crate) fn commit_due(&self) -> bool {
        self.last_commit.elapsed() >= self.instance.config.commit_interval()
            || self.tasks.values().any(|t| t.task.needs_commit())
    }

    /// Commits every running task (at-least-once order; see the module docs).
    pub(crate) fn commit(&mut self, consumer: &dyn ConsumerOps) -> Result<(), StreamsError> {
        self.last_commit = Instant::now();
        let running: Vec<TaskId> = self
            .tasks
            .iter()
            .filter(|(_, t)| !t.restoring)
            .map(|(id, _)| *id)
            .collect();
        if running.is_empty() {
            return Ok(());
        }
        for (i, id) in running.iter().enumerate() {
            let t = &mut self.tasks.get_mut(id).expect("running task").task;
            t.flush()?;
            for out in t.take_output() {
                self.producer
                    .send(&out, OUTPUT_TAG)
                    .map_err(|e| StreamsError::client(format!("task {id}: writing to {}", out.topic), e))?;
            }
            for (store, record) in t.changelog_records() {
                self.producer
                    .send(&record, changelog_tag(i, store))
                    .map_err(|e| {
                        StreamsError::client(format!("task {id}: writing changelog {}", record.topic), e)
                    })?;
            }
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
                Err(source) => self.delivery_failed(d.tag, &running, source)?,
            }
        }
        let mut commits = Vec::new();
        for (i, id) in running.iter().enumerate() {
            let t = self.tasks.get_mut(id).expect("running task");
            let offsets: Vec<Option<i64>> = (0..t.task.store_count())
                .map(|s| changelog_offsets.get(&changelog_tag(i, s)).copied())
                .collect();
            t.task.commit_stores(&offsets)?;
            let metadata = metadata_of(t.task.committed_stream_time());
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
        if commits.is_empty() {
            return Ok(());
        }
        match consumer.commit(&commits) {
            Ok(()) => Ok(()),
            // Under at-least-once a missed offset commit only means reprocessing.
            Err(e) if matches!(e.kind, ClientErrorKind::Retriable | ClientErrorKind::Abortable) => {
                tracing::warn!(thread = self.thread, error = %e, "offset commit failed; records will be processed again");
                Ok(())
            }
            Err(e) => Err(StreamsError::client("committing offsets", e)),
        }
    }

    /// A record was not delivered: fatal for changelog records (the store would get ahead of
    /// its changelog); for outputs, as `production.exception.handler` says.
    fn delivery_failed(
        &mut self,
        tag: u64,
        running: &[TaskId],
        source: crate::client::ClientError,
    ) -> Result<(), StreamsError> {
        let task = if tag == OUTPUT_TAG {
            running.first().copied().unwrap_or(TaskId::new(0, 0))
        } else {
            running[((tag - 1) >> 16) as usize]
        };
        let error = StreamsError::Delivery {
            task,
            topic: if tag == OUTPUT_TAG {
                "an output topic".into()
            } else {
                "a changelog".into()
            },
            source,
        };
        if tag != OUTPUT_TAG || self.instance.config.production_exception_handler == ErrorHandler::LogAndFail
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

    /// Partitions are being revoked: commit everything, then suspend the affected tasks.
    pub(crate) fn on_revoked(&mut self, consumer: &dyn ConsumerOps, partitions: &[TopicPartition]) {
        self.board.set_thread(self.thread, ThreadState::PartitionsRevoked);
        if let Err(e) = self.commit(consumer) {
            self.fatal.get_or_insert(e);
        }
        let revoked: BTreeSet<TaskId> = partitions.iter().filter_map(|tp| self.task_of(tp)).collect();
        for id in revoked {
            if let Some(mut t) = self.tasks.remove(&id) {
                t.input.clear();
                t.consumed.clear();
                t.paused.clear();
                self.suspended.insert(id, t);
            }
        }
        tracing::info!(thread = self.thread, ?partitions, "partitions revoked");
    }

    /// Partitions were assigned: resume or create their tasks (restoring before processing)
    /// and close suspended tasks that did not come back.
    pub(crate) fn on_assigned(&mut self, consumer: &dyn ConsumerOps, partitions: &[TopicPartition]) {
        self.board
            .set_thread(self.thread, ThreadState::PartitionsAssigned);
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
        let committed = consumer
            .committed(partitions)
            .map_err(|e| StreamsError::client("reading committed offsets", e))?;
        let mut stream_times: BTreeMap<TaskId, i64> = BTreeMap::new();
        for (tp, om) in committed {
            if let Some(id) = self.task_of(&tp) {
                let st = om
                    .and_then(|om| stream_time_of(&om.metadata))
                    .unwrap_or(UNKNOWN_TIME);
                let e = stream_times.entry(id).or_insert(UNKNOWN_TIME);
                *e = (*e).max(st);
            }
        }
        for (&id, &stream_time) in &stream_times {
            if self.tasks.contains_key(&id) {
                continue;
            }
            let t = match self.suspended.remove(&id) {
                Some(t) => t,
                None => ActiveTask {
                    task: Task::new(id, &self.instance, stream_time)?,
                    restoring: true,
                    input: PartitionGroup::default(),
                    consumed: BTreeMap::new(),
                    paused: BTreeSet::new(),
                },
            };
            self.tasks.insert(id, t);
        }
        for tp in partitions {
            if let Some(t) = self.task_of(tp).and_then(|id| self.tasks.get_mut(&id)) {
                t.input.register(tp.clone());
            }
        }
        for (id, t) in std::mem::take(&mut self.suspended) {
            tracing::info!(task = %id, "closing a task that moved to another thread");
            t.task.close_clean()?;
        }
        Ok(())
    }

    /// Restores every task waiting for it (blocking this thread), then lets it process.
    pub(crate) fn restore(&mut self, restore_consumer: &mut dyn Consumer) -> Result<(), StreamsError> {
        for (id, t) in self.tasks.iter_mut().filter(|(_, t)| t.restoring) {
            let started = Instant::now();
            let mut reader = ConsumerChangelogReader::new(restore_consumer);
            let restored = t.task.restore(&mut reader)?;
            let records: u64 = restored.iter().map(|r| r.records).sum();
            tracing::info!(task = %id, records, elapsed = ?started.elapsed(), "task restored");
            t.task.init_processors();
            t.restoring = false;
        }
        Ok(())
    }

    /// Tells the board whether this thread is running (all tasks restored).
    pub(crate) fn report_running(&self) {
        if !self.restoring() {
            self.board.set_thread(self.thread, ThreadState::Running);
        }
    }

    /// Commits and closes every task (clean shutdown).
    pub(crate) fn close(&mut self, consumer: &dyn ConsumerOps) -> Result<(), StreamsError> {
        let committed = self.commit(consumer);
        for (_, t) in std::mem::take(&mut self.tasks)
            .into_iter()
            .chain(std::mem::take(&mut self.suspended))
        {
            t.task.close_clean()?;
        }
        committed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_time_round_trips_through_commit_metadata() {
        assert_eq!(stream_time_of(&metadata_of(1234)), Some(1234));
        assert_eq!(stream_time_of(""), None);
        assert_eq!(stream_time_of("other"), None);
        assert_eq!(changelog_tag(0, 0), 1);
        assert_eq!(changelog_tag(2, 3), 1 + (2 << 16) + 3);
    }
}
