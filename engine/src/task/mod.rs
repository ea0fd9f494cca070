//! `Task`: one sub-topology over one partition: its processors, stores and stream time.
//!
//! A task is driven from outside (a stream thread, or the test driver): `process` one input
//! record at a time and `send_output` what the sinks wrote; at commit `flush` the record
//! caches, `send_output` again and `send_changelog` to the producer, and once those are
//! durable `commit_stores`; or `abort` to drop everything since the last commit.

mod recycler;
mod restoration;
mod stores;

pub(crate) use recycler::Recycler;
pub(crate) use restoration::RestoreStep;
pub(crate) use stores::StoreSet;

use crate::config::StreamsConfig;
use crate::error::{RecordPosition, StreamsError};
use crate::global::GlobalStores;
use crate::handlers;
use crate::instance::Instance;
use crate::metrics::{DropReason, TaskMetrics};
use crate::processor::dispatch::{self, Call, Graph};
use crate::processor::{self, Processor, ProcessorContext};
use crate::record::{OutputRecord, RawRecord, Record};
use crate::task_id::TaskId;
use sluice_dsl::processor::PunctuationType;
use sluice_dsl::topology::{NodeId, NodeKind, SourceSpec, Topology};
use sluice_state::KeyValueStore;
use std::collections::HashMap;
use std::sync::Arc;

/// Kafka Streams' "unknown" stream time, before the first record.
pub(crate) const UNKNOWN_TIME: i64 = -1;

pub(crate) struct Task {
    id: TaskId,
    topology: Arc<Topology>,
    config: Arc<StreamsConfig>,
    /// Indexed by topology node id; `None` for nodes of other sub-topologies (and, during a
    /// dispatch, for the nodes running).
    processors: Vec<Option<Box<dyn Processor>>>,
    /// Resolved source topic -> source node: a list, as a task reads few topics (found per
    /// record by comparing names, cheaper than hashing one).
    sources: Vec<(Arc<str>, NodeId)>,
    /// Nodes with record caches, in topological order (flush order).
    caching: Vec<NodeId>,
    /// Processor API nodes, in topological order (punctuation order).
    custom: Vec<NodeId>,
    stores: StoreSet,
    /// Where the stores come from (to reopen them after a snapshot replaced the database).
    state: crate::state_provider::StateProvider,
    snapshots: Option<Arc<crate::snapshots::Snapshots>>,
    globals: GlobalStores,
    output: Vec<OutputRecord>,
    /// Decoded values and output buffers reused from record to record.
    recycler: Recycler,
    metrics: TaskMetrics,
    stream_time: i64,
    committed_stream_time: i64,
    /// Wall-clock time (ms since the epoch), set per batch by the runtime: what sinks measure
    /// end-to-end latency against.
    wall_clock_ms: i64,
    /// Per store name, the changelog offset the group's committed offsets say the store
    /// reflects (committed together with them): restoration reads at least that far.
    changelog_targets: HashMap<String, i64>,
    /// How far restoring the stores got.
    restoration: restoration::Restoration,
}

/// Milliseconds since the epoch, now (0 if the system clock is before it).
pub(crate) fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Task {
    pub(crate) fn new(
        id: TaskId,
        instance: &Instance,
        committed_stream_time: i64,
    ) -> Result<Task, StreamsError> {
        let topology = Arc::clone(&instance.topology);
        let config = Arc::clone(&instance.config);
        let stores = StoreSet::open(id, &topology, &config.application_id, &instance.state)?;
        let sub = topology
            .sub_topology(id.sub_topology)
            .expect("tasks belong to stream sub-topologies");
        let mut processors: Vec<Option<Box<dyn Processor>>> =
            (0..topology.nodes().len()).map(|_| None).collect();
        let mut sources = Vec::new();
        let mut caching = Vec::new();
        let mut custom = Vec::new();
        let mut shared = processor::BuildShared::default();
        for &n in &sub.nodes {
            let node = topology.node(n);
            if let NodeKind::Source(s) = node.kind() {
                for t in &s.topics {
                    sources.push((Arc::from(t.resolve(&config.application_id)), n));
                }
            }
            let processor = processor::build(&topology, n, &stores, &config, &instance.budget, &mut shared);
            if processor.has_cache() {
                caching.push(n);
            }
            if processor.is_custom() {
                custom.push(n);
            }
            processors[n] = Some(processor);
        }
        Ok(Task {
            id,
            metrics: TaskMetrics::new(&instance.metrics, id),
            topology,
            config,
            processors,
            sources,
            caching,
            custom,
            stores,
            state: instance.state.clone(),
            snapshots: instance.snapshots.clone(),
            globals: instance.globals.clone(),
            output: Vec::new(),
            recycler: Recycler::default(),
            stream_time: committed_stream_time,
            wall_clock_ms: wall_clock_ms(),
            changelog_targets: HashMap::new(),
            committed_stream_time,
            restoration: restoration::Restoration::Start,
        })
    }

    /// The largest timestamp processed so far.
    pub(crate) fn stream_time(&self) -> i64 {
        self.stream_time
    }

    /// Lets processors pick up the committed stream time (once stores are restored).
    /// Processor API nodes are initialized here too (their `init` may schedule wall-clock
    /// punctuations, which count from now).
    pub(crate) fn init_processors(&mut self) -> Result<(), StreamsError> {
        for processor in self.processors.iter_mut().flatten() {
            processor.init(self.committed_stream_time);
        }
        for i in 0..self.custom.len() {
            self.dispatch(self.custom[i], Call::Start, None)?;
        }
        Ok(())
    }

    /// The stream time of the last commit: what a restarted task resumes from (Kafka Streams
    /// keeps it in the committed offsets' metadata).
    pub(crate) fn committed_stream_time(&self) -> i64 {
        self.committed_stream_time
    }

    pub(crate) fn id(&self) -> TaskId {
        self.id
    }

    /// Resolved topics this task reads.
    pub(crate) fn source_topics(&self) -> impl Iterator<Item = &Arc<str>> {
        self.sources.iter().map(|(topic, _)| topic)
    }

    /// Sets the wall-clock time the next records are processed at (ms since the epoch).
    pub(crate) fn set_wall_clock(&mut self, ms: i64) {
        self.wall_clock_ms = ms;
    }

    /// Processes one input record through the sub-topology (timing one in 64 for
    /// `sluice_process_latency_seconds`).
    pub(crate) fn process(&mut self, raw: &RawRecord) -> Result<(), StreamsError> {
        if self.config.metrics_recording_level == crate::config::MetricsLevel::Off
            || !self.metrics.sample_process()
        {
            return self.process_record(raw);
        }
        let started = std::time::Instant::now();
        let result = self.process_record(raw);
        self.metrics.process_latency(started.elapsed());
        result
    }

    fn process_record(&mut self, raw: &RawRecord) -> Result<(), StreamsError> {
        let source = self.sources.iter().find(|(topic, _)| **topic == *raw.topic);
        let Some(&(_, source)) = source else {
            return Err(StreamsError::UnknownTopic {
                topic: raw.topic.to_string(),
                known: self.sources.iter().map(|(t, _)| t.to_string()).collect(),
            });
        };
        let topology = Arc::clone(&self.topology);
        let NodeKind::Source(spec) = topology.node(source).kind() else {
            unreachable!("sources map to source nodes")
        };
        let Some((key, value, timestamp)) = self.deserialize(spec, raw)? else {
            return Ok(());
        };
        self.stream_time = self.stream_time.max(timestamp);
        self.metrics.processed.inc();
        let record = Record::new(key, value, timestamp, raw.headers.clone());
        self.dispatch(source, Call::Process(record), Some(raw))
            .map(|_| ())
    }

    /// Key, value and event time of `raw`, or `None` if a handler skipped it.
    #[allow(clippy::type_complexity)]
    fn deserialize(
        &mut self,
        spec: &SourceSpec,
        raw: &RawRecord,
    ) -> Result<Option<(sluice_dsl::dynamic::Dyn, Option<sluice_dsl::dynamic::Dyn>, i64)>, StreamsError> {
        let position = || RecordPosition {
            topic: Arc::clone(&raw.topic),
            partition: raw.partition,
            offset: raw.offset,
        };
        let key = match self.recycler.decode(&spec.key_serde, raw.key.as_deref()) {
            Ok(k) => k,
            Err(source) => {
                let error = StreamsError::Deserialization {
                    task: self.id,
                    position: position(),
                    part: "key",
                    source: Box::new(source),
                };
                return self
                    .input_failed(error, DropReason::DeserializationError, raw)
                    .map(|()| None);
            }
        };
        let value = match raw.value.as_deref() {
            // A null value the serde cannot represent travels as a null (see KStream docs).
            None if !spec.value_serde.accepts_null() => None,
            bytes => match self.recycler.decode(&spec.value_serde, bytes) {
                Ok(v) => Some(v),
                Err(source) => {
                    let error = StreamsError::Deserialization {
                        task: self.id,
                        position: position(),
                        part: "value",
                        source: Box::new(source),
                    };
                    return self
                        .input_failed(error, DropReason::DeserializationError, raw)
                        .map(|()| None);
                }
            },
        };
        let timestamp = match (&spec.timestamp_extractor, &value) {
            (Some(extract), Some(v)) => extract(&key, v, raw.timestamp, self.stream_time),
            _ => raw.timestamp,
        };
        if timestamp < 0 {
            let error = StreamsError::InvalidTimestamp {
                task: self.id,
                position: position(),
                timestamp,
                reason: "negative timestamps are invalid (was the record written with a timestamp?)",
            };
            return self
                .input_failed(error, DropReason::InvalidTimestamp, raw)
                .map(|()| None);
        }
        Ok(Some((key, value, timestamp)))
    }

    fn input_failed(
        &mut self,
        error: StreamsError,
        reason: DropReason,
        raw: &RawRecord,
    ) -> Result<(), StreamsError> {
        handlers::apply(
            self.config.deserialization_exception_handler,
            error,
            reason,
            Some(raw),
            &self.config,
            &mut self.output,
            &mut self.metrics,
        )
    }

    /// Runs `call` at `node` (and, through its forwards, at its descendants): see
    /// [`dispatch`]. `input` is the record being processed, if any. True if punctuations ran.
    fn dispatch(
        &mut self,
        node: NodeId,
        call: Call,
        input: Option<&RawRecord>,
    ) -> Result<bool, StreamsError> {
        let topology = &*self.topology;
        let ctx = ProcessorContext {
            task: self.id,
            node: topology.node(node).name(),
            stores: &mut self.stores,
            output: &mut self.output,
            recycler: &mut self.recycler,
            input,
            stream_time: self.stream_time,
            wall_clock_ms: self.wall_clock_ms,
            globals: &self.globals,
            metrics: &mut self.metrics,
            config: &self.config,
            graph: Graph::new(topology, node, &mut self.processors),
        };
        dispatch::run(ctx, call)
    }

    /// Forwards what the record caches hold, upstream caches first so that downstream ones
    /// see their output in the same flush.
    pub(crate) fn flush(&mut self) -> Result<(), StreamsError> {
        for i in 0..self.caching.len() {
            let node = self.caching[i];
            self.dispatch(node, Call::Flush, None)?;
        }
        Ok(())
    }

    /// Runs the Processor API's punctuations that are due: stream-time ones at the task's
    /// stream time (once it is known), wall-clock ones at the wall clock set last
    /// (`set_wall_clock`). A node re-created after an abort initializes itself first. True if
    /// any ran (the task then has output or writes to commit).
    pub(crate) fn punctuate(&mut self) -> Result<bool, StreamsError> {
        if self.custom.is_empty() {
            return Ok(false);
        }
        let mut punctuated = false;
        if self.stream_time != UNKNOWN_TIME {
            for i in 0..self.custom.len() {
                let node = self.custom[i];
                punctuated |= self.dispatch(
                    node,
                    Call::Punctuate(PunctuationType::StreamTime, self.stream_time),
                    None,
                )?;
            }
        }
        for i in 0..self.custom.len() {
            let node = self.custom[i];
            punctuated |= self.dispatch(
                node,
                Call::Punctuate(PunctuationType::WallClockTime, self.wall_clock_ms),
                None,
            )?;
        }
        Ok(punctuated)
    }

    /// Whether the task has Processor API nodes (only those punctuate).
    pub(crate) fn has_punctuation(&self) -> bool {
        !self.custom.is_empty()
    }

    /// Records for sinks (and the dead-letter topic) since the last call (tests read them;
    /// the runtime and the test driver use `send_output`).
    #[cfg(test)]
    pub(crate) fn take_output(&mut self) -> Vec<OutputRecord> {
        std::mem::take(&mut self.output)
    }

    /// True if records for sinks (or the dead-letter topic) wait to be sent.
    pub(crate) fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    /// Hands each record for sinks (and the dead-letter topic) since the last call to `send`,
    /// in order, then keeps its buffers for later records (`send` must not keep them: a
    /// producer copies what it sends). Stops at the first error; the records not yet sent are
    /// dropped with the task's other uncommitted work.
    pub(crate) fn send_output(
        &mut self,
        mut send: impl FnMut(&OutputRecord) -> Result<(), StreamsError>,
    ) -> Result<(), StreamsError> {
        let mut result = Ok(());
        let mut sent = 0;
        for out in self.output.drain(..) {
            if result.is_ok() {
                result = send(&out);
                sent += u64::from(result.is_ok());
            }
            if let Some(k) = out.key {
                self.recycler.give_buffer(k);
            }
            if let Some(v) = out.value {
                self.recycler.give_buffer(v);
            }
        }
        self.metrics.sent(crate::metrics::SentKind::Output, sent);
        result
    }

    /// Hands `send` one changelog record per key written since the last commit, per logged
    /// store, for this task's partition, with the index of its store. One record's buffers
    /// serve them all (`send` must not keep them: a producer copies what it sends). Stops at
    /// the first error.
    pub(crate) fn send_changelog(
        &mut self,
        mut send: impl FnMut(usize, &OutputRecord) -> Result<(), StreamsError>,
    ) -> Result<(), StreamsError> {
        let mut sent = 0;
        let (mut key, mut value) = (self.recycler.take_buffer(), self.recycler.take_buffer());
        let mut result = Ok(());
        'stores: for (i, store) in self.stores.iter().enumerate() {
            let Some(topic) = &store.changelog else { continue };
            for (k, v) in store.kv.changes() {
                let (payload, timestamp) = store.changelog_payload(v, self.stream_time.max(0));
                key.clear();
                key.extend_from_slice(store.layout.changelog_key(k));
                let out = OutputRecord {
                    topic: Arc::clone(topic),
                    partition: Some(self.id.partition),
                    key: Some(std::mem::take(&mut key)),
                    value: payload.map(|p| {
                        let mut buffer = std::mem::take(&mut value);
                        buffer.clear();
                        buffer.extend_from_slice(p);
                        buffer
                    }),
                    timestamp,
                    headers: Default::default(),
                };
                result = send(i, &out);
                // The buffers come back for the next record.
                key = out.key.expect("set above");
                if let Some(v) = out.value {
                    value = v;
                }
                if result.is_err() {
                    break 'stores;
                }
                sent += 1;
            }
        }
        self.recycler.give_buffer(key);
        self.recycler.give_buffer(value);
        self.metrics.sent(crate::metrics::SentKind::Changelog, sent);
        result
    }

    /// [`send_changelog`](Self::send_changelog)'s records, collected.
    #[cfg(test)]
    pub(crate) fn changelog_records(&mut self) -> Vec<(usize, OutputRecord)> {
        let mut out = Vec::new();
        self.send_changelog(|i, r| {
            out.push((i, r.clone()));
            Ok(())
        })
        .expect("collecting cannot fail");
        out
    }

    /// Applies every store's pending writes; `offsets[i]` is the changelog offset of the last
    /// record of store `i` in this commit (`None` if it wrote none or keeps no changelog).
    pub(crate) fn commit_stores(&mut self, offsets: &[Option<i64>]) -> Result<(), StreamsError> {
        for (i, store) in self.stores.iter_mut().enumerate() {
            let offset = offsets.get(i).copied().flatten();
            self.metrics
                .expired_store_writes(store.kv.name(), store.kv.expired_writes() as u64);
            store.kv.commit(offset).map_err(|source| StreamsError::Store {
                task: self.id,
                source,
            })?;
        }
        self.committed_stream_time = self.stream_time;
        Ok(())
    }

    /// Drops everything since the last commit: pending writes, caches, output, stream time.
    pub(crate) fn abort(&mut self) {
        for store in self.stores.iter_mut() {
            store.kv.abort();
        }
        for processor in self.processors.iter_mut().flatten() {
            processor.abort();
            processor.init(self.committed_stream_time);
        }
        self.output.clear();
        self.stream_time = self.committed_stream_time;
    }

    /// True once the stores' uncommitted writes pass `statestore.uncommitted.max.bytes`: the
    /// runtime commits early to bound memory.
    pub(crate) fn needs_commit(&self) -> bool {
        self.stores.iter().map(|s| s.kv.pending_bytes()).sum::<usize>()
            > self.config.statestore_uncommitted_max_bytes
    }

    /// Number of stores (the length `commit_stores` expects).
    pub(crate) fn store_count(&self) -> usize {
        self.stores.iter().count()
    }

    /// The changelog offsets the committed input offsets vouch for (read from their metadata):
    /// each store must be restored at least through its offset before the task processes.
    pub(crate) fn set_changelog_targets(&mut self, targets: HashMap<String, i64>) {
        self.changelog_targets = targets;
    }

    /// Per logged store, the last changelog offset its state reflects once this commit's
    /// records are applied: `written(i)` is the last offset written for store `i` in this
    /// commit, if any; else what the store recorded (or, not yet restored, its target).
    /// Committed with the input offsets, these tell a later owner how far it must restore.
    pub(crate) fn changelog_positions(&self, written: impl Fn(usize) -> Option<i64>) -> Vec<(String, i64)> {
        self.stores
            .iter()
            .enumerate()
            .filter(|(_, store)| store.changelog.is_some())
            .filter_map(|(i, store)| {
                let known = [
                    written(i),
                    store.kv.committed_offset(),
                    self.changelog_targets.get(&store.name).copied(),
                ];
                known.into_iter().flatten().max().map(|o| (store.name.clone(), o))
            })
            .collect()
    }

    /// The changelog position of each logged store of the task's database.
    fn snapshot_offsets(&self) -> Vec<sluice_state::snapshot::StoreOffset> {
        self.stores
            .iter()
            .filter(|s| s.persistent)
            .filter_map(|s| {
                Some(sluice_state::snapshot::StoreOffset {
                    store: s.name.clone(),
                    changelog_topic: s.changelog.as_deref()?.to_string(),
                    partition: self.id.partition,
                    offset: s.kv.committed_offset(),
                })
            })
            .collect()
    }

    /// Right after a commit: hands the task's committed database to the snapshotter, which
    /// snapshots it in the background if the task is due.
    pub(crate) fn after_commit(&self, now_ms: u64) {
        if let (Some(snapshots), Some(db)) = (&self.snapshots, self.stores.db()) {
            snapshots.after_commit(self.id, db, self.snapshot_offsets(), now_ms);
        }
    }

    /// Closes the task cleanly: uncommitted work is dropped and committed state made durable,
    /// so that a restart replays nothing already applied.
    pub(crate) fn close_clean(mut self) -> Result<(), StreamsError> {
        for &n in &self.custom {
            if let Some(processor) = self.processors[n].as_mut() {
                processor.close();
            }
        }
        self.abort();
        let task = self.id;
        for store in self.stores.iter_mut() {
            store
                .kv
                .flush()
                .map_err(|source| StreamsError::Store { task, source })?;
        }
        Ok(())
    }

    /// A store, for reads by the test driver.
    pub(crate) fn store(&self, name: &str) -> Option<&KeyValueStore> {
        self.stores.get(name).map(|s| &s.kv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restore::{ChangelogReader, ChangelogRecord, ReadOutcome};
    use sluice_dsl::prelude::*;

    fn config_in_memory() -> StreamsConfig {
        StreamsConfig::new("app", "")
            .with("default.dsl.store", "in_memory")
            .unwrap()
    }

    /// An instance whose topology counts `tx` by key into the store `counts`, to `out`.
    fn count_instance(cache_max_bytes: usize) -> Instance {
        let b = StreamsBuilder::new();
        b.stream("tx", Consumed::with(Serde::string(), Serde::string()))
            .group_by_key()
            .count(Materialized::as_("counts"))
            .to_stream()
            .to("out", Produced::default());
        let mut config = config_in_memory();
        config.statestore_cache_max_bytes = cache_max_bytes;
        Instance::new(
            Arc::new(b.build().unwrap()),
            Arc::new(config),
            std::env::temp_dir(),
        )
        .unwrap()
    }

    fn count_task(cache_max_bytes: usize) -> Task {
        Task::new(TaskId::new(0, 3), &count_instance(cache_max_bytes), UNKNOWN_TIME).unwrap()
    }

    fn raw(offset: i64, key: &str) -> RawRecord {
        RawRecord {
            topic: "tx".into(),
            partition: 3,
            offset,
            timestamp: offset * 10,
            key: Some(key.as_bytes().to_vec()),
            value: Some(b"v".to_vec()),
            headers: Default::default(),
        }
    }

    fn counts(out: &[OutputRecord]) -> Vec<(String, i64)> {
        out.iter()
            .map(|r| {
                let k = String::from_utf8(r.key.clone().unwrap()).unwrap();
                let v = i64::from_be_bytes(r.value.clone().unwrap().try_into().unwrap());
                (k, v)
            })
            .collect()
    }

    #[test]
    fn record_cache_forwards_latest_value_per_key_at_flush() {
        let mut task = count_task(1 << 20);
        for (i, k) in ["a", "a", "b", "a"].iter().enumerate() {
            task.process(&raw(i as i64, k)).unwrap();
        }
        assert!(
            task.take_output().is_empty(),
            "nothing is forwarded before the flush"
        );
        task.flush().unwrap();
        let out = task.take_output();
        assert_eq!(counts(&out), vec![("a".into(), 3), ("b".into(), 1)]);
        // The forwarded record carries the timestamp of the key's latest update.
        assert_eq!(out[0].timestamp, 30);
        // One changelog record per key, for the task's partition.
        let changelog = task.changelog_records();
        assert_eq!(changelog.len(), 2);
        assert!(changelog
            .iter()
            .all(|(_, r)| r.partition == Some(3) && &*r.topic == "app-counts-changelog"));
    }

    #[test]
    fn records_sent_are_counted_by_kind_and_changelog_buffers_are_reused() {
        let instance = count_instance(1 << 20);
        let mut task = Task::new(TaskId::new(0, 3), &instance, UNKNOWN_TIME).unwrap();
        for (i, k) in ["a", "a", "b", "a", "c"].iter().enumerate() {
            task.process(&raw(i as i64, k)).unwrap();
        }
        task.flush().unwrap();
        task.send_output(|_| Ok(())).unwrap();
        // Each changelog record is handed over in the same buffers, rewritten: what `send`
        // sees must be that record's key and value, never an earlier one's.
        let mut seen = Vec::new();
        let mut addresses = std::collections::HashSet::new();
        task.send_changelog(|store, r| {
            addresses.insert(r.key.as_ref().unwrap().as_ptr());
            let count = i64::from_be_bytes(r.value.clone().unwrap().try_into().unwrap());
            seen.push((store, String::from_utf8(r.key.clone().unwrap()).unwrap(), count));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![(0, "a".into(), 3), (0, "b".into(), 1), (0, "c".into(), 1)]
        );
        assert_eq!(addresses.len(), 1, "one key buffer serves every changelog record");
        let m = &instance.metrics;
        assert_eq!(m.total(crate::metrics::names::SENT, &[("kind", "output")]), 3);
        assert_eq!(m.total(crate::metrics::names::SENT, &[("kind", "changelog")]), 3);
        assert_eq!(m.total(crate::metrics::names::PROCESSED, &[]), 5);
    }

    #[test]
    fn disabled_cache_forwards_every_update() {
        let mut task = count_task(0);
        for (i, k) in ["a", "a", "b"].iter().enumerate() {
            task.process(&raw(i as i64, k)).unwrap();
        }
        assert_eq!(
            counts(&task.take_output()),
            vec![("a".into(), 1), ("a".into(), 2), ("b".into(), 1)]
        );
    }

    #[test]
    fn exhausted_cache_budget_flushes_early() {
        // Room for about one entry: every new key evicts.
        let mut task = count_task(120);
        for (i, k) in ["a", "a", "b", "c"].iter().enumerate() {
            task.process(&raw(i as i64, k)).unwrap();
        }
        let out = counts(&task.take_output());
        assert_eq!(out, vec![("a".into(), 2), ("b".into(), 1)]);
        task.flush().unwrap();
        assert_eq!(counts(&task.take_output()), vec![("c".into(), 1)]);
    }

    #[test]
    fn abort_drops_uncommitted_state_and_cache() {
        let mut task = count_task(1 << 20);
        task.process(&raw(0, "a")).unwrap();
        task.flush().unwrap();
        task.take_output();
        task.commit_stores(&[None]).unwrap();
        task.process(&raw(1, "a")).unwrap();
        task.abort();
        task.flush().unwrap();
        assert!(task.take_output().is_empty());
        assert_eq!(task.stream_time, 0);
        task.process(&raw(1, "a")).unwrap();
        task.flush().unwrap();
        assert_eq!(counts(&task.take_output()), vec![("a".into(), 2)]);
    }

    /// Where a record's values live, as `peek` sees them: (key, value before `map_values`,
    /// value after it).
    type Addresses = Arc<std::sync::Mutex<Vec<(usize, usize, usize)>>>;

    fn stateless_task(addresses: &Addresses) -> Task {
        let b = StreamsBuilder::new();
        let (before, after) = (Arc::clone(addresses), Arc::clone(addresses));
        b.stream("tx", Consumed::with(Serde::string(), Serde::bytes()))
            .filter(|_, v: &Vec<u8>| !v.is_empty())
            .peek(move |k: &String, v: &Vec<u8>| {
                let at = (k as *const String as usize, v as *const Vec<u8> as usize, 0);
                before.lock().unwrap().push(at);
            })
            .map_values(|v: &Vec<u8>| v.iter().map(u8::to_ascii_uppercase).collect::<Vec<u8>>())
            .peek(move |_, v: &Vec<u8>| {
                after.lock().unwrap().last_mut().unwrap().2 = v as *const Vec<u8> as usize;
            })
            .to("out", Produced::with(Serde::string(), Serde::bytes()));
        let instance = Instance::new(
            Arc::new(b.build().unwrap()),
            Arc::new(config_in_memory()),
            std::env::temp_dir(),
        )
        .unwrap();
        Task::new(TaskId::new(0, 3), &instance, UNKNOWN_TIME).unwrap()
    }

    /// Processes `raw` and sends its output: the one output record, and where its key's and
    /// value's bytes were.
    fn through(task: &mut Task, raw: &RawRecord) -> (OutputRecord, usize, usize) {
        task.process(raw).unwrap();
        let at = |b: &Option<Vec<u8>>| b.as_ref().map_or(0, |b| b.as_ptr() as usize);
        let mut sent = Vec::new();
        task.send_output(|out| {
            sent.push((out.clone(), at(&out.key), at(&out.value)));
            Ok(())
        })
        .unwrap();
        assert_eq!(sent.len(), 1, "one output record");
        sent.pop().unwrap()
    }

    #[test]
    fn the_stateless_path_reuses_the_last_records_allocations() {
        let addresses = Addresses::default();
        let mut task = stateless_task(&addresses);
        let first = through(&mut task, &raw(0, "card-1"));
        assert_eq!(first.0.key.as_deref(), Some(&b"card-1"[..]));
        assert_eq!(first.0.value.as_deref(), Some(&b"V"[..]));
        for offset in 1..4 {
            let key = format!("card-{offset}");
            let next = through(&mut task, &raw(offset, &key));
            assert_eq!(
                next.0.key.as_deref(),
                Some(key.as_bytes()),
                "the new record's key"
            );
            assert_eq!(next.0.value.as_deref(), Some(&b"V"[..]));
            // The same two buffers, in either order (the pool gives back the last one kept).
            let pair = |a: usize, b: usize| (a.min(b), a.max(b));
            assert_eq!(
                pair(next.1, next.2),
                pair(first.1, first.2),
                "the output buffers are reused"
            );
        }
        let seen = addresses.lock().unwrap().clone();
        let (key, value, mapped) = seen[0];
        assert_eq!(mapped, value, "map_values wrote its result where the value was");
        for &later in &seen[1..] {
            assert_eq!(
                later,
                (key, value, value),
                "the source decoded into the same values"
            );
        }
    }

    /// A changelog partition in memory. `stable`, if set, is a last stable offset held back by
    /// an open transaction: reads stop there until the test clears it (the transaction is
    /// aborted; its records are not in the vector).
    #[derive(Default)]
    struct VecChangelog(Vec<ChangelogRecord>, Option<i64>);

    impl ChangelogReader for VecChangelog {
        fn end_offset(&mut self, _: &str, _: i32) -> Result<i64, StreamsError> {
            let end = self.0.last().map_or(0, |r| r.offset + 1);
            Ok(self.1.map_or(end, |stable| stable.min(end)))
        }
        fn read(&mut self, _: &str, _: i32, from: i64, max: usize) -> Result<ReadOutcome, StreamsError> {
            let stable = self.1.unwrap_or(i64::MAX);
            let batch: Vec<ChangelogRecord> = self
                .0
                .iter()
                .filter(|r| r.offset >= from && r.offset < stable)
                .take(max)
                .cloned()
                .collect();
            Ok(if batch.is_empty() {
                ReadOutcome::CaughtUp
            } else {
                ReadOutcome::Records(batch)
            })
        }
    }

    impl VecChangelog {
        /// Appends a commit's changelog records, returning each store's last offset.
        fn append(&mut self, records: Vec<(usize, OutputRecord)>, stores: usize) -> Vec<Option<i64>> {
            let mut offsets = vec![None; stores];
            for (store, r) in records {
                let offset = self.0.len() as i64;
                self.0.push(ChangelogRecord {
                    offset,
                    key: r.key.unwrap(),
                    value: r.value,
                    timestamp: r.timestamp,
                });
                offsets[store] = Some(offset);
            }
            offsets
        }
    }

    /// A RocksDB-backed counting task keeping state under `dir`.
    fn rocksdb_count_task(dir: &std::path::Path) -> Task {
        let b = StreamsBuilder::new();
        b.stream("tx", Consumed::with(Serde::string(), Serde::string()))
            .group_by_key()
            .count(Materialized::as_("counts"));
        let config = Arc::new(StreamsConfig::new("app", ""));
        let instance = Instance::new(Arc::new(b.build().unwrap()), config, dir.to_path_buf()).unwrap();
        Task::new(TaskId::new(0, 3), &instance, UNKNOWN_TIME).unwrap()
    }

    fn stored_count(task: &Task, key: &str) -> Option<i64> {
        let bytes = task.store("counts").unwrap().get(key.as_bytes()).unwrap()?;
        // Table stores keep the record time before the value.
        Some(i64::from_be_bytes(bytes[8..].try_into().unwrap()))
    }

    #[test]
    fn crash_between_changelog_and_store_commit_restores_committed_state() {
        let dir = tempfile::tempdir().unwrap();
        let mut changelog = VecChangelog::default();
        let mut task = rocksdb_count_task(dir.path());
        task.restore(&mut changelog).unwrap();
        for (i, k) in ["a", "b", "a"].iter().enumerate() {
            task.process(&raw(i as i64, k)).unwrap();
        }
        task.flush().unwrap();
        let offsets = changelog.append(task.changelog_records(), task.store_count());
        task.commit_stores(&offsets).unwrap();
        task.close_clean().unwrap();

        // Second commit: its changelog records are committed, then the process dies before the
        // overlay reaches RocksDB.
        let mut task = rocksdb_count_task(dir.path());
        assert_eq!(task.restore(&mut changelog).unwrap()[0].records, 0);
        for (i, k) in ["a", "c"].iter().enumerate() {
            task.process(&raw(10 + i as i64, k)).unwrap();
        }
        task.flush().unwrap();
        changelog.append(task.changelog_records(), task.store_count());
        drop(task);

        let mut task = rocksdb_count_task(dir.path());
        let restored = task.restore(&mut changelog).unwrap();
        assert_eq!(
            (restored[0].from, restored[0].records, restored[0].wiped),
            (2, 2, false)
        );
        assert_eq!(stored_count(&task, "a"), Some(3));
        assert_eq!(stored_count(&task, "b"), Some(1));
        assert_eq!(stored_count(&task, "c"), Some(1));
    }

    #[test]
    fn local_state_ahead_of_its_changelog_is_replayed_in_full() {
        let dir = tempfile::tempdir().unwrap();
        let mut long = VecChangelog::default();
        let mut task = rocksdb_count_task(dir.path());
        for i in 0..5 {
            task.process(&raw(i, "a")).unwrap();
            task.flush().unwrap();
            let offsets = long.append(task.changelog_records(), task.store_count());
            task.commit_stores(&offsets).unwrap();
        }
        task.close_clean().unwrap();
        // The changelog topic was recreated and holds one record: local state cannot be trusted.
        let mut short = VecChangelog(
            vec![ChangelogRecord {
                offset: 0,
                key: b"z".to_vec(),
                value: Some(7i64.to_be_bytes().to_vec()),
                timestamp: 5,
            }],
            None,
        );
        let mut task = rocksdb_count_task(dir.path());
        let restored = task.restore(&mut short).unwrap();
        assert!(restored[0].wiped);
        assert_eq!(stored_count(&task, "a"), None);
        assert_eq!(stored_count(&task, "z"), Some(7));
    }

    /// Seed 16278 of the simulation: a crashed producer's open transaction held the changelog's
    /// last stable offset below records another owner committed later, together with the input
    /// offsets. Restoring only up to the stable offset gave state older than the committed
    /// offsets: counts went back and were committed twice. The committed offsets' changelog
    /// target makes restoration wait until those records are readable.
    #[test]
    fn restore_waits_for_the_changelog_offsets_the_committed_offsets_vouch_for() {
        let mut changelog = VecChangelog::default();
        let mut task = count_task(0);
        task.restore(&mut changelog).unwrap();
        for i in 0..4 {
            task.process(&raw(i, "a")).unwrap();
            task.flush().unwrap();
            let offsets = changelog.append(task.changelog_records(), task.store_count());
            task.commit_stores(&offsets).unwrap();
        }
        let positions = task.changelog_positions(|_| None);
        assert_eq!(positions, vec![("counts".to_string(), 3)]);
        // A zombie's open transaction starts at offset 2: a read_committed reader stops there.
        changelog.1 = Some(2);

        let mut stale = count_task(0);
        stale.restore(&mut changelog).unwrap();
        assert_eq!(
            stored_count(&stale, "a"),
            Some(2),
            "what the stable offset alone gives"
        );

        changelog.1 = Some(2);
        let mut task = count_task(0);
        task.set_changelog_targets(positions.clone().into_iter().collect());
        // While the transaction is open the restore waits, a step at a time: the thread polls
        // and processes other tasks meanwhile.
        for now_ms in 0..20 {
            let step = task.restore_step(&mut changelog, now_ms * 1000).unwrap();
            assert!(matches!(step, RestoreStep::Working { .. }), "{step:?}");
        }
        changelog.1 = None;
        task.restore(&mut changelog).unwrap();
        assert_eq!(stored_count(&task, "a"), Some(4));

        // A transaction that never resolves is an error, once the wait is long past any
        // transaction timeout.
        changelog.1 = Some(2);
        let mut task = count_task(0);
        task.set_changelog_targets(positions.into_iter().collect());
        let mut now_ms = 0;
        let err = loop {
            match task.restore_step(&mut changelog, now_ms) {
                Ok(_) => now_ms += 10_000,
                Err(e) => break e,
            }
        };
        assert!(now_ms > crate::restore::END_WAIT_TIMEOUT.as_millis() as u64);
        assert!(err.to_string().contains("vouch for offset 3"), "{err}");
    }
}
