//! `TopologyTestDriver`: runs a topology in-process, deterministically, with no broker.
//!
//! As Kafka Streams' `TopologyTestDriver`: every sub-topology runs as one task (partition 0);
//! each piped record is processed and then committed (so record caches flush after every
//! record and tests see every update); records written to a topic the topology reads
//! (repartition topics) are processed right after; everything written to any topic is captured
//! for [`TestOutputTopic`]s. Changelog topics are captured too, so the driver can restart (or
//! crash) its tasks and restore their stores from them.
//!
//! Unlike Kafka Streams' driver, this one can also commit less often
//! ([`TopologyTestDriver::with_commit_every`]), as the runtime does: a commit then covers a batch
//! of records, record caches coalesce their updates, and stream time may move far between two
//! commits — the paths a backlog processed after downtime takes.

mod input_topic;
mod output_topic;
mod routed;
mod store_view;
mod test_record;

pub use input_topic::TestInputTopic;
pub use output_topic::TestOutputTopic;
pub use store_view::{KeyValueStoreView, SessionStoreView, VersionedStoreView, WindowStoreView};
pub use test_record::TestRecord;

use crate::config::StreamsConfig;
use crate::error::StreamsError;
use crate::global::GlobalStores;
use crate::instance::Instance;
use crate::metrics::Metrics;
use crate::record::{Headers, OutputRecord, RawRecord};
use crate::restore::{ChangelogReader, ChangelogRecord, ReadOutcome};
use crate::task::{Task, UNKNOWN_TIME};
use crate::task_id::TaskId;
use sluice_dsl::dynamic::Data;
use sluice_dsl::serde::Serde;
use sluice_dsl::Topology;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

/// Runs a [`Topology`] without Kafka, for unit tests of topologies.
///
/// ```
/// use sluice_dsl::prelude::*;
/// use sluice_engine::TopologyTestDriver;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream("payments", Consumed::with(Serde::string(), Serde::<i64>::i64()))
///     .group_by_key()
///     .count(Materialized::as_("payments-per-card"))
///     .to_stream()
///     .to("counts", Produced::default());
/// let driver = TopologyTestDriver::new(builder.build().unwrap());
///
/// let payments = driver.create_input_topic("payments", Serde::string(), Serde::<i64>::i64());
/// let counts = driver.create_output_topic("counts", Serde::string(), Serde::<i64>::i64());
/// payments.pipe_input("card-1".to_string(), 20);
/// payments.pipe_input("card-2".to_string(), 5);
/// payments.pipe_input("card-1".to_string(), 7);
/// assert_eq!(
///     counts.read_key_values_to_list(),
///     vec![("card-1".to_string(), 1), ("card-2".to_string(), 1), ("card-1".to_string(), 2)]
/// );
/// let store = driver.key_value_store::<String, i64>("payments-per-card").unwrap();
/// assert_eq!(store.get(&"card-1".to_string()), Some(2));
/// ```
pub struct TopologyTestDriver {
    state: Rc<RefCell<DriverState>>,
}

pub(crate) struct DriverState {
    instance: Instance,
    tasks: Vec<Task>,
    /// Resolved topic -> index of the task reading it.
    routes: HashMap<Arc<str>, usize>,
    /// Every record written to each topic, offset = index.
    logs: BTreeMap<Arc<str>, Vec<OutputRecord>>,
    /// Records not yet read by a `TestOutputTopic`, per topic.
    unread: HashMap<Arc<str>, VecDeque<OutputRecord>>,
    /// Next offset per input topic piped by the test.
    input_offsets: HashMap<Arc<str>, i64>,
    /// Stream time of each task at its last commit (the committed offsets' metadata).
    committed_stream_time: HashMap<TaskId, i64>,
    /// Commit after this many piped records (1: after every record, as Kafka Streams' driver).
    commit_every: usize,
    /// Records piped since the last commit.
    piped_since_commit: usize,
    /// Per task, the records it processed since its last commit: replayed after a crash or a
    /// failed record, as the runtime re-reads them from the committed offsets.
    uncommitted: Vec<Vec<RawRecord>>,
    /// Per task, whether a punctuation ran since its last commit (it has work to commit
    /// even without records).
    punctuated: Vec<bool>,
    /// The driver's wall clock (ms since the epoch): the real time at creation, then moved
    /// only by `advance_wall_clock_time`, as Kafka Streams' driver's mock clock.
    wall_clock_ms: i64,
    /// This driver's own state directory, deleted when the driver is dropped.
    state_dir: tempfile::TempDir,
}

impl TopologyTestDriver {
    /// A driver with a test configuration: `application.id = test-driver` and in-memory stores
    /// (Kafka Streams' driver defaults to RocksDB; pass a config to choose).
    pub fn new(topology: Topology) -> Self {
        let config = StreamsConfig::new("test-driver", "dummy:9092")
            .with("default.dsl.store", "in_memory")
            .expect("valid key");
        Self::with_config(topology, config).expect("the default test configuration is valid")
    }

    /// A driver with `config` (application id, exception handlers, cache size, store type...).
    /// RocksDB stores live in a fresh directory under `state.dir`, deleted with the driver.
    pub fn with_config(topology: Topology, config: StreamsConfig) -> Result<Self, StreamsError> {
        Self::with_config_at(topology, config, std::time::SystemTime::now())
    }

    /// [`with_config`](Self::with_config) with the driver's wall clock starting at
    /// `wall_clock` (Kafka Streams' `initialWallClockTime`): wall-clock punctuations count from
    /// it, and only [`advance_wall_clock_time`](Self::advance_wall_clock_time) moves it.
    pub fn with_config_at(
        topology: Topology,
        config: StreamsConfig,
        wall_clock: std::time::SystemTime,
    ) -> Result<Self, StreamsError> {
        config.validate()?;
        std::fs::create_dir_all(&config.state_dir).map_err(|e| io_error(&config, e))?;
        let state_dir = tempfile::Builder::new()
            .prefix("test-driver-")
            .tempdir_in(&config.state_dir)
            .map_err(|e| io_error(&config, e))?;
        let root = state_dir.path().join(&config.application_id);
        let mut driver = DriverState {
            instance: Instance::new(Arc::new(topology), Arc::new(config), root)?,
            tasks: Vec::new(),
            routes: HashMap::new(),
            logs: BTreeMap::new(),
            unread: HashMap::new(),
            input_offsets: HashMap::new(),
            committed_stream_time: HashMap::new(),
            commit_every: 1,
            piped_since_commit: 0,
            uncommitted: Vec::new(),
            punctuated: Vec::new(),
            wall_clock_ms: wall_clock
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
            state_dir,
        };
        driver.open_tasks()?;
        Ok(TopologyTestDriver {
            state: Rc::new(RefCell::new(driver)),
        })
    }

    /// Commits after every `records` piped records instead of after each one (`records` >= 1;
    /// 1 is Kafka Streams' behaviour and the default). Between commits, record caches coalesce
    /// updates, outputs stay invisible (as to a `read_committed` reader) and stream time may
    /// advance far; [`commit`](Self::commit) commits early. A record that fails aborts its
    /// task's uncommitted work, which the driver then replays without the failing record (the
    /// runtime would re-read it from the committed offsets), so earlier records are not lost.
    ///
    /// ```
    /// use sluice_dsl::prelude::*;
    /// use sluice_engine::TopologyTestDriver;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("in", Consumed::with(Serde::string(), Serde::string()))
    ///     .group_by_key()
    ///     .count(Materialized::as_("counts"))
    ///     .to_stream()
    ///     .to("out", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).with_commit_every(100);
    /// let input = driver.create_input_topic("in", Serde::string(), Serde::string());
    /// let output = driver.create_output_topic("out", Serde::string(), Serde::<i64>::i64());
    /// for _ in 0..3 {
    ///     input.pipe_input("k".to_string(), "v".to_string());
    /// }
    /// assert!(output.is_empty()); // nothing committed yet
    /// driver.commit().unwrap();
    /// // The record cache coalesced the three updates into one.
    /// assert_eq!(output.read_key_values_to_list(), vec![("k".to_string(), 3)]);
    /// ```
    pub fn with_commit_every(self, records: usize) -> Self {
        assert!(records >= 1, "commit every {records} records: at least 1");
        self.state.borrow_mut().commit_every = records;
        self
    }

    /// Commits every task now: flushes record caches, captures outputs and changelogs and
    /// processes what the topology wrote to topics it reads, until nothing is left.
    pub fn commit(&self) -> Result<(), StreamsError> {
        self.state.borrow_mut().commit_all()
    }

    /// Moves the driver's wall clock on (Kafka Streams' `advanceWallClockTime`): wall-clock
    /// punctuations that come due run, then every task commits. The clock starts at the real
    /// time when the driver is created and moves only here.
    pub fn advance_wall_clock_time(&self, by: std::time::Duration) -> Result<(), StreamsError> {
        self.state.borrow_mut().advance_wall_clock(by.as_millis() as i64)
    }

    /// A typed handle to pipe records into `topic`, starting at timestamp 0.
    pub fn create_input_topic<K: 'static, V: 'static>(
        &self,
        topic: &str,
        key_serde: Serde<K>,
        value_serde: Serde<V>,
    ) -> TestInputTopic<K, V> {
        TestInputTopic::new(Rc::clone(&self.state), topic, key_serde, value_serde)
    }

    /// A typed handle to read what the topology wrote to `topic`.
    pub fn create_output_topic<K: 'static, V: 'static>(
        &self,
        topic: &str,
        key_serde: Serde<K>,
        value_serde: Serde<V>,
    ) -> TestOutputTopic<K, V> {
        TestOutputTopic::new(Rc::clone(&self.state), topic, key_serde, value_serde)
    }

    /// A typed read view of the key-value store `name`. Fails if there is no such store or its
    /// serdes are not of `K` and `V`.
    pub fn key_value_store<K: Data + Clone, V: 'static>(
        &self,
        name: &str,
    ) -> Result<KeyValueStoreView<K, V>, StreamsError> {
        KeyValueStoreView::new(Rc::clone(&self.state), name)
    }

    /// A typed read view of the versioned store `name` (a table materialized with
    /// `Materialized::as_versioned`).
    pub fn versioned_store<K: Data + Clone, V: 'static>(
        &self,
        name: &str,
    ) -> Result<VersionedStoreView<K, V>, StreamsError> {
        VersionedStoreView::new(Rc::clone(&self.state), name)
    }

    /// A typed read view of the window store `name` (of a windowed aggregation).
    pub fn window_store<K: Data + Clone, V: 'static>(
        &self,
        name: &str,
    ) -> Result<WindowStoreView<K, V>, StreamsError> {
        WindowStoreView::new(Rc::clone(&self.state), name)
    }

    /// A typed read view of the session store `name` (of a session aggregation).
    pub fn session_store<K: Data + Clone, V: 'static>(
        &self,
        name: &str,
    ) -> Result<SessionStoreView<K, V>, StreamsError> {
        SessionStoreView::new(Rc::clone(&self.state), name)
    }

    /// The driver's metrics (dropped records, dead-lettered records...).
    pub fn metrics(&self) -> Metrics {
        self.state.borrow().instance.metrics.clone()
    }

    /// Names of every topic written so far (outputs, repartition, changelog, dead-letter).
    pub fn produced_topic_names(&self) -> Vec<String> {
        self.state.borrow().logs.keys().map(|t| t.to_string()).collect()
    }

    /// Every record written to `topic` so far, read or not, serialized.
    pub fn topic_log(&self, topic: &str) -> Vec<OutputRecord> {
        self.state.borrow().logs.get(topic).cloned().unwrap_or_default()
    }

    /// The directory holding this driver's RocksDB stores: `<this>/<task>/` per task.
    pub fn state_dir(&self) -> PathBuf {
        let s = self.state.borrow();
        s.state_dir.path().join(&s.instance.config.application_id)
    }

    /// Commits, closes every task cleanly (committed state made durable), reopens them from the
    /// state directory and restores each store from the changelog records captured so far, as
    /// an application restart does.
    pub fn restart(&self) -> Result<Vec<RestoredStore>, StreamsError> {
        let mut state = self.state.borrow_mut();
        state.commit_all()?;
        state.reopen(true)
    }

    /// Drops every task as a crash would — uncommitted work and RocksDB memtables not yet
    /// flushed are lost — then reopens, restores from the captured changelogs and processes
    /// again the records that were not committed (as the runtime re-reads them from the
    /// committed offsets).
    pub fn crash_and_restart(&self) -> Result<Vec<RestoredStore>, StreamsError> {
        let mut state = self.state.borrow_mut();
        let replay = std::mem::take(&mut state.uncommitted);
        let restored = state.reopen(false)?;
        for (task, records) in replay.into_iter().enumerate() {
            for raw in records {
                state.process(task, raw)?;
            }
        }
        Ok(restored)
    }
}

fn io_error(config: &StreamsConfig, source: std::io::Error) -> StreamsError {
    StreamsError::Store {
        task: TaskId::new(0, 0),
        source: sluice_state::StoreError::Io {
            store: "test driver".into(),
            operation: format!("create a state directory under {}", config.state_dir.display()),
            source,
        },
    }
}

/// What restoring one store did after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredStore {
    /// The task.
    pub task: TaskId,
    /// The store.
    pub store: String,
    /// The changelog offset replay started from (0: full replay).
    pub from_offset: i64,
    /// Changelog records replayed.
    pub records: u64,
}

/// Reads the driver's captured topics as changelogs (everything is partition 0).
struct CapturedLogs<'a>(&'a BTreeMap<Arc<str>, Vec<OutputRecord>>);

impl ChangelogReader for CapturedLogs<'_> {
    fn end_offset(&mut self, topic: &str, _partition: i32) -> Result<i64, StreamsError> {
        Ok(self.0.get(topic).map_or(0, |l| l.len() as i64))
    }

    fn read(
        &mut self,
        topic: &str,
        _partition: i32,
        from: i64,
        max: usize,
    ) -> Result<ReadOutcome, StreamsError> {
        let Some(log) = self.0.get(topic) else {
            return Ok(ReadOutcome::CaughtUp);
        };
        let batch: Vec<ChangelogRecord> = log
            .iter()
            .enumerate()
            .skip(from.max(0) as usize)
            .take(max)
            .map(|(offset, r)| ChangelogRecord {
                offset: offset as i64,
                key: r.key.clone().unwrap_or_default(),
                value: r.value.clone(),
                timestamp: r.timestamp,
            })
            .collect();
        Ok(if batch.is_empty() {
            ReadOutcome::CaughtUp
        } else {
            ReadOutcome::Records(batch)
        })
    }
}

impl DriverState {
    /// Creates one task per sub-topology and restores its stores from the captured changelogs.
    fn open_tasks(&mut self) -> Result<Vec<RestoredStore>, StreamsError> {
        self.routes.clear();
        let mut restored = Vec::new();
        let topology = Arc::clone(&self.instance.topology);
        for sub in topology.sub_topologies() {
            let id = TaskId::new(sub.id, 0);
            let stream_time = self
                .committed_stream_time
                .get(&id)
                .copied()
                .unwrap_or(UNKNOWN_TIME);
            let mut task = Task::new(id, &self.instance, stream_time)?;
            for r in task.restore(&mut CapturedLogs(&self.logs))? {
                restored.push(RestoredStore {
                    task: task.id(),
                    store: r.store,
                    from_offset: r.from,
                    records: r.records,
                });
            }
            task.set_wall_clock(self.wall_clock_ms);
            task.init_processors()?;
            for topic in task.source_topics() {
                self.routes.insert(Arc::clone(topic), self.tasks.len());
            }
            self.tasks.push(task);
        }
        self.uncommitted = vec![Vec::new(); self.tasks.len()];
        self.punctuated = vec![false; self.tasks.len()];
        self.piped_since_commit = 0;
        Ok(restored)
    }

    fn reopen(&mut self, clean: bool) -> Result<Vec<RestoredStore>, StreamsError> {
        for task in std::mem::take(&mut self.tasks) {
            if clean {
                task.close_clean()?;
            }
        }
        // Global stores are rebuilt from their topics, as at every start (the old handles are
        // released first: RocksDB allows one open per directory).
        self.instance.globals = GlobalStores::default();
        self.instance.globals = GlobalStores::open(&self.instance.topology, &self.instance.state)?;
        for topic in self.instance.globals.topics() {
            for (offset, r) in self
                .logs
                .get(topic.as_str())
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .enumerate()
            {
                let raw = RawRecord {
                    topic: Arc::clone(&r.topic),
                    partition: 0,
                    offset: offset as i64,
                    timestamp: r.timestamp,
                    key: r.key,
                    value: r.value,
                    headers: r.headers,
                };
                let i = &self.instance;
                i.globals.apply(&raw, &i.config, &i.metrics)?;
            }
        }
        self.open_tasks()
    }

    /// Processes one record; commits (and processes what the commit routes back) once
    /// `commit_every` records were piped since the last commit.
    pub(crate) fn pipe(
        &mut self,
        topic: &str,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<(), StreamsError> {
        let topic: Arc<str> = Arc::from(topic);
        if self.instance.globals.for_topic(&topic).is_some() {
            return self.pipe_global(topic, key, value, timestamp, headers);
        }
        let Some(&task) = self.routes.get(&topic) else {
            return Err(StreamsError::UnknownTopic {
                topic: topic.to_string(),
                known: self.routes.keys().map(|t| t.to_string()).collect(),
            });
        };
        let offset = self.input_offsets.entry(Arc::clone(&topic)).or_insert(0);
        let raw = RawRecord {
            topic,
            partition: 0,
            offset: *offset,
            timestamp,
            key,
            value,
            headers,
        };
        *offset += 1;
        self.process(task, raw)?;
        self.piped_since_commit += 1;
        if self.piped_since_commit >= self.commit_every {
            self.commit_all()?;
        }
        Ok(())
    }

    /// Processes one record on `task`. On failure the task's uncommitted work is aborted and
    /// the records before this one are processed again, so only the failing record is lost to
    /// the caller (who gets the error), as after a runtime restart.
    fn process(&mut self, task: usize, raw: RawRecord) -> Result<(), StreamsError> {
        if let Err(e) = self.tasks[task].process(&raw) {
            self.tasks[task].abort();
            for earlier in self.uncommitted[task].clone() {
                self.tasks[task].process(&earlier)?;
            }
            return Err(e);
        }
        self.uncommitted[task].push(raw);
        // Stream-time punctuations after each record, as Kafka Streams' driver.
        if self.tasks[task].punctuate()? {
            self.punctuated[task] = true;
        }
        Ok(())
    }

    /// Moves the wall clock on by `ms`, runs the wall-clock punctuations now due and commits.
    pub(crate) fn advance_wall_clock(&mut self, ms: i64) -> Result<(), StreamsError> {
        self.wall_clock_ms += ms;
        for task in 0..self.tasks.len() {
            self.tasks[task].set_wall_clock(self.wall_clock_ms);
            if self.tasks[task].punctuate()? {
                self.punctuated[task] = true;
            }
        }
        self.commit_all()
    }

    /// Commits every task with uncommitted records, then processes the records those commits
    /// wrote to topics the topology reads, committing after each of them when committing
    /// after every record (Kafka Streams' driver) or once they are all processed otherwise;
    /// until nothing is left.
    pub(crate) fn commit_all(&mut self) -> Result<(), StreamsError> {
        self.piped_since_commit = 0;
        let mut queue = routed::Routed::default();
        loop {
            let dirty: Vec<usize> = (0..self.tasks.len())
                .filter(|&t| !self.uncommitted[t].is_empty() || self.punctuated[t])
                .collect();
            if dirty.is_empty() && queue.is_empty() {
                return Ok(());
            }
            for task in dirty {
                self.commit_task(task, &mut queue)?;
            }
            while let Some((task, raw)) = queue.pop() {
                self.process(task, raw)?;
                if self.commit_every == 1 {
                    self.commit_task(task, &mut queue)?;
                }
            }
        }
    }

    /// Commits one task; a failure aborts its uncommitted work (nothing of it was captured).
    fn commit_task(&mut self, task: usize, queue: &mut routed::Routed) -> Result<(), StreamsError> {
        let result = self.commit(task, queue);
        if result.is_err() {
            self.tasks[task].abort();
        }
        self.uncommitted[task].clear();
        self.punctuated[task] = false;
        result
    }

    /// Applies a record of a global table's topic, and logs it so that a restart can rebuild
    /// the global store from the topic.
    fn pipe_global(
        &mut self,
        topic: Arc<str>,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<(), StreamsError> {
        let record = OutputRecord {
            topic: Arc::clone(&topic),
            partition: Some(0),
            key,
            value,
            timestamp,
            headers,
        };
        let offset = self.append(&record);
        let raw = RawRecord {
            topic,
            partition: 0,
            offset,
            timestamp: record.timestamp,
            key: record.key,
            value: record.value,
            headers: record.headers,
        };
        let i = &self.instance;
        i.globals.apply(&raw, &i.config, &i.metrics)
    }

    /// Flushes caches, captures outputs and changelogs, routes records the topology reads
    /// back into `queue`, and commits the task's stores at the changelog offsets written.
    fn commit(&mut self, task: usize, queue: &mut routed::Routed) -> Result<(), StreamsError> {
        self.tasks[task].flush()?;
        // Through `send_output`, as the runtime sends: the task's buffers are recycled here too,
        // so every test through the driver covers the recycled values (`task::Recycler`).
        let (logs, routes, unread) = (&mut self.logs, &self.routes, &mut self.unread);
        self.tasks[task].send_output(|record| {
            let offset = append_to(logs, record);
            if let Some(&reader) = routes.get(&record.topic) {
                queue.push(
                    reader,
                    RawRecord {
                        topic: Arc::clone(&record.topic),
                        partition: 0,
                        offset,
                        timestamp: record.timestamp,
                        key: record.key.clone(),
                        value: record.value.clone(),
                        headers: record.headers.clone(),
                    },
                );
            }
            unread
                .entry(Arc::clone(&record.topic))
                .or_default()
                .push_back(record.clone());
            Ok(())
        })?;
        let mut offsets = vec![None; self.tasks[task].store_count()];
        let logs = &mut self.logs;
        self.tasks[task].send_changelog(|store, record| {
            offsets[store] = Some(append_to(logs, record));
            Ok(())
        })?;
        self.tasks[task].commit_stores(&offsets)?;
        let t = &self.tasks[task];
        self.committed_stream_time
            .insert(t.id(), t.committed_stream_time());
        Ok(())
    }

    fn append(&mut self, record: &OutputRecord) -> i64 {
        append_to(&mut self.logs, record)
    }

    pub(crate) fn take_unread(&mut self, topic: &str) -> Option<OutputRecord> {
        self.unread.get_mut(topic).and_then(VecDeque::pop_front)
    }

    pub(crate) fn unread_len(&self, topic: &str) -> usize {
        self.unread.get(topic).map_or(0, VecDeque::len)
    }

    pub(crate) fn store_task(&self, name: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.store(name).is_some())
    }
}

/// Appends `record` to its topic's log; returns its offset.
fn append_to(logs: &mut BTreeMap<Arc<str>, Vec<OutputRecord>>, record: &OutputRecord) -> i64 {
    let log = logs.entry(Arc::clone(&record.topic)).or_default();
    log.push(record.clone());
    (log.len() - 1) as i64
}
