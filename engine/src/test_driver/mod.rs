//! `TopologyTestDriver`: runs a topology in-process, deterministically, with no broker.
//!
//! As Kafka Streams' `TopologyTestDriver`: every sub-topology runs as one task (partition 0);
//! each piped record is processed and then committed (so record caches flush after every
//! record and tests see every update); records written to a topic the topology reads
//! (repartition topics) are processed right after; everything written to any topic is captured
//! for [`TestOutputTopic`]s. Changelog topics are captured too.

mod input_topic;
mod output_topic;
mod store_view;
mod test_record;

pub use input_topic::TestInputTopic;
pub use output_topic::TestOutputTopic;
pub use store_view::KeyValueStoreView;
pub use test_record::TestRecord;

use crate::config::StreamsConfig;
use crate::error::StreamsError;
use crate::metrics::Metrics;
use crate::processor::CacheBudget;
use crate::record::{Headers, OutputRecord, RawRecord};
use crate::task::Task;
use crate::task_id::TaskId;
use sluice_dsl::serde::Serde;
use sluice_dsl::Topology;
use sluice_state::MemoryBackend;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
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
    pub(crate) topology: Arc<Topology>,
    tasks: Vec<Task>,
    /// Resolved topic -> index of the task reading it.
    routes: HashMap<Arc<str>, usize>,
    /// Every record written to each topic, offset = index.
    logs: BTreeMap<Arc<str>, Vec<OutputRecord>>,
    /// Records not yet read by a `TestOutputTopic`, per topic.
    unread: HashMap<Arc<str>, VecDeque<OutputRecord>>,
    /// Next offset per input topic piped by the test.
    input_offsets: HashMap<Arc<str>, i64>,
    metrics: Metrics,
}

impl TopologyTestDriver {
    /// A driver with a test configuration (`application.id = test-driver`, in-memory stores).
    pub fn new(topology: Topology) -> Self {
        Self::with_config(topology, StreamsConfig::new("test-driver", "dummy:9092"))
            .expect("the default test configuration is valid")
    }

    /// A driver with `config` (application id, exception handlers, cache size...). Stores are
    /// in memory.
    pub fn with_config(topology: Topology, config: StreamsConfig) -> Result<Self, StreamsError> {
        config.validate()?;
        let topology = Arc::new(topology);
        let config = Arc::new(config);
        let metrics = Metrics::new();
        let budget = CacheBudget::new(config.statestore_cache_max_bytes);
        let mut tasks = Vec::new();
        let mut routes = HashMap::new();
        for sub in topology.sub_topologies() {
            let task = Task::new(
                TaskId::new(sub.id, 0),
                Arc::clone(&topology),
                Arc::clone(&config),
                &metrics,
                &budget,
                &mut |_, _| Ok(Box::new(MemoryBackend::new())),
            )?;
            for topic in task.source_topics() {
                routes.insert(Arc::clone(topic), tasks.len());
            }
            tasks.push(task);
        }
        Ok(TopologyTestDriver {
            state: Rc::new(RefCell::new(DriverState {
                topology,
                tasks,
                routes,
                logs: BTreeMap::new(),
                unread: HashMap::new(),
                input_offsets: HashMap::new(),
                metrics,
            })),
        })
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
    pub fn key_value_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<KeyValueStoreView<K, V>, StreamsError> {
        KeyValueStoreView::new(Rc::clone(&self.state), name)
    }

    /// The driver's metrics (dropped records, dead-lettered records...).
    pub fn metrics(&self) -> Metrics {
        self.state.borrow().metrics.clone()
    }

    /// Names of every topic written so far (outputs, repartition, changelog, dead-letter).
    pub fn produced_topic_names(&self) -> Vec<String> {
        self.state.borrow().logs.keys().map(|t| t.to_string()).collect()
    }

    /// Every record written to `topic` so far, read or not, serialized.
    pub fn topic_log(&self, topic: &str) -> Vec<OutputRecord> {
        self.state.borrow().logs.get(topic).cloned().unwrap_or_default()
    }
}

impl DriverState {
    /// Processes one record and everything it causes, committing after each record.
    pub(crate) fn pipe(
        &mut self,
        topic: &str,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<(), StreamsError> {
        let topic: Arc<str> = Arc::from(topic);
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
        let mut queue = VecDeque::from([(task, raw)]);
        while let Some((task, raw)) = queue.pop_front() {
            let result = self.tasks[task]
                .process(&raw)
                .and_then(|()| self.commit(task, &mut queue));
            if let Err(e) = result {
                self.tasks[task].abort();
                return Err(e);
            }
        }
        Ok(())
    }

    /// Flushes caches, captures outputs and changelogs, routes records the topology reads
    /// back into `queue`, and commits the task's stores at the changelog offsets written.
    fn commit(&mut self, task: usize, queue: &mut VecDeque<(usize, RawRecord)>) -> Result<(), StreamsError> {
        self.tasks[task].flush()?;
        for record in self.tasks[task].take_output() {
            let offset = self.append(&record);
            if let Some(&reader) = self.routes.get(&record.topic) {
                queue.push_back((
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
                ));
            }
            self.unread
                .entry(Arc::clone(&record.topic))
                .or_default()
                .push_back(record);
        }
        let mut offsets = vec![None; self.tasks[task].store_count()];
        for (store, record) in self.tasks[task].changelog_records() {
            offsets[store] = Some(self.append(&record));
        }
        self.tasks[task].commit_stores(&offsets)
    }

    fn append(&mut self, record: &OutputRecord) -> i64 {
        let log = self.logs.entry(Arc::clone(&record.topic)).or_default();
        log.push(record.clone());
        (log.len() - 1) as i64
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
