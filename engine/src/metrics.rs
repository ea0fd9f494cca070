//! Metrics: counters per application instance, rendered in Prometheus text format.
//!
//! No global registry: each `Streams` instance (or test driver) owns one [`Metrics`] and hands
//! counter handles to its tasks, which increment them without locking.

use crate::task_id::TaskId;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A monotonically increasing count.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (the last one set).
#[derive(Debug, Clone, Default)]
pub struct Gauge(Counter);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: u64) {
        self.0 .0.store(v, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

type Labels = Vec<(String, String)>;

/// A distribution of durations (Prometheus histogram, `prometheus-client`'s): observations
/// are bucketed at exponentially growing bounds from 0.5 ms to about 65 s.
#[derive(Debug, Clone)]
pub struct Histogram {
    buckets: prometheus_client::metrics::histogram::Histogram,
    /// Observations, readable (the crate keeps its own count for rendering only).
    count: Counter,
}

impl Histogram {
    /// Bucket bounds in seconds: 0.5 ms doubling 18 times (the last bound is ~65 s; slower
    /// goes to `+Inf`).
    fn latency_buckets() -> prometheus_client::metrics::histogram::Histogram {
        prometheus_client::metrics::histogram::Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(0.0005, 2.0, 18),
        )
    }

    /// Records a duration of `ms` milliseconds (negative ones, from clock skew, count as 0).
    pub fn observe_ms(&self, ms: i64) {
        self.buckets.observe(ms.max(0) as f64 / 1000.0);
        self.count.inc();
    }

    /// Records a duration.
    pub fn observe(&self, d: std::time::Duration) {
        self.buckets.observe(d.as_secs_f64());
        self.count.inc();
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.get()
    }
}

/// The histograms: a `prometheus-client` registry (which renders them) and an index of every
/// series (for [`Metrics::histogram_count`]).
#[derive(Default)]
struct Histograms {
    registry: prometheus_client::registry::Registry,
    families: BTreeMap<&'static str, HistogramFamily>,
    series: BTreeMap<(&'static str, Labels), Histogram>,
}

type HistogramFamily = prometheus_client::metrics::family::Family<
    Labels,
    prometheus_client::metrics::histogram::Histogram,
    fn() -> prometheus_client::metrics::histogram::Histogram,
>;

#[derive(Default)]
struct Family {
    help: &'static str,
    /// `counter` or `gauge`.
    kind: &'static str,
    series: BTreeMap<Labels, Counter>,
}

/// The metrics of one application instance.
#[derive(Clone, Default)]
pub struct Metrics {
    families: Arc<Mutex<BTreeMap<&'static str, Family>>>,
    histograms: Arc<Mutex<Histograms>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The counter `name{labels}`, created at zero on first use.
    pub fn counter(&self, name: &'static str, help: &'static str, labels: &[(&str, &str)]) -> Counter {
        self.series(name, help, "counter", labels)
    }

    /// The gauge `name{labels}`, created at zero on first use.
    pub fn gauge(&self, name: &'static str, help: &'static str, labels: &[(&str, &str)]) -> Gauge {
        Gauge(self.series(name, help, "gauge", labels))
    }

    fn series(
        &self,
        name: &'static str,
        help: &'static str,
        kind: &'static str,
        labels: &[(&str, &str)],
    ) -> Counter {
        let labels: Labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut families = self.families.lock().expect("metrics lock poisoned");
        let family = families.entry(name).or_insert_with(|| Family {
            help,
            kind,
            series: BTreeMap::new(),
        });
        family.series.entry(labels).or_default().clone()
    }

    /// The latency histogram `name{labels}` (seconds; see [`Histogram`]), created empty on
    /// first use. Hold the handle: observing through it takes no registry lock.
    pub fn histogram(&self, name: &'static str, help: &'static str, labels: &[(&str, &str)]) -> Histogram {
        let labels: Labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut h = self.histograms.lock().expect("metrics lock poisoned");
        let Histograms {
            registry,
            families,
            series,
        } = &mut *h;
        let family = families.entry(name).or_insert_with(|| {
            let constructor: fn() -> prometheus_client::metrics::histogram::Histogram =
                Histogram::latency_buckets;
            let family = HistogramFamily::new_with_constructor(constructor);
            registry.register(name, help, family.clone());
            family
        });
        series
            .entry((name, labels.clone()))
            .or_insert_with(|| Histogram {
                buckets: family.get_or_create_owned(&labels),
                count: Counter::default(),
            })
            .clone()
    }

    /// The number of observations of histogram `name` over every series whose labels include
    /// all of `filter`.
    pub fn histogram_count(&self, name: &str, filter: &[(&str, &str)]) -> u64 {
        let h = self.histograms.lock().expect("metrics lock poisoned");
        h.series
            .iter()
            .filter(|((n, labels), _)| {
                *n == name
                    && filter
                        .iter()
                        .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, h)| h.count())
            .sum()
    }

    /// Drops the series `name{labels}` (a partition no longer assigned, ...): it is no longer
    /// rendered, and handles to it count into nothing.
    pub fn remove(&self, name: &str, labels: &[(&str, &str)]) {
        let labels: Labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut families = self.families.lock().expect("metrics lock poisoned");
        if let Some(family) = families.get_mut(name) {
            family.series.remove(&labels);
        }
    }

    /// The sum of `name` over every series whose labels include all of `filter`.
    pub fn total(&self, name: &str, filter: &[(&str, &str)]) -> u64 {
        let families = self.families.lock().expect("metrics lock poisoned");
        families.get(name).map_or(0, |f| {
            f.series
                .iter()
                .filter(|(labels, _)| {
                    filter
                        .iter()
                        .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
                })
                .map(|(_, c)| c.get())
                .sum()
        })
    }

    /// Every series in Prometheus text exposition format.
    pub fn render_prometheus(&self) -> String {
        let families = self.families.lock().expect("metrics lock poisoned");
        let mut out = String::new();
        for (name, family) in families.iter() {
            let _ = writeln!(out, "# HELP {name} {}", family.help);
            let _ = writeln!(out, "# TYPE {name} {}", family.kind);
            for (labels, counter) in &family.series {
                let rendered: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                    .collect();
                if rendered.is_empty() {
                    let _ = writeln!(out, "{name} {}", counter.get());
                } else {
                    let _ = writeln!(out, "{name}{{{}}} {}", rendered.join(","), counter.get());
                }
            }
        }
        drop(families);
        let h = self.histograms.lock().expect("metrics lock poisoned");
        // Without the OpenMetrics `# EOF` line: the page is Prometheus text 0.0.4.
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &h.registry);
        out
    }
}

/// Metric names, shared by the engine and the docs.
pub mod names {
    /// Records processed by a task.
    pub const PROCESSED: &str = "sluice_records_processed_total";
    /// Records a task handed to the producer, by `kind`: `output` (sinks, repartition topics
    /// and the dead-letter topic) and `changelog`. Divided by the records processed, it says
    /// how many records each input costs to write: window aggregations write an output and a
    /// changelog record per window updated since the last commit.
    pub const SENT: &str = "sluice_records_sent_total";
    /// Records skipped, by reason (null key or value, deserialization error, late...).
    pub const DROPPED: &str = "sluice_dropped_records_total";
    /// Records written to the dead-letter topic, by reason.
    pub const DEAD_LETTERED: &str = "sluice_dead_letter_records_total";
    /// Commits of a stream thread (offset commits, or committed transactions under
    /// exactly-once).
    pub const COMMITS: &str = "sluice_commits_total";
    /// Partition assignments a stream thread received: one per rebalance it took part in
    /// (Kafka's consumer metric `rebalance-total`). A thread that stops polling for longer
    /// than `max.poll.interval.ms` is removed from the group and assigned again.
    pub const ASSIGNMENTS: &str = "sluice_partition_assignments_total";
    /// Transactions aborted by a stream thread (abortable errors, lost or fenced tasks).
    pub const ABORTS: &str = "sluice_transaction_aborts_total";
    /// Waits for a lagging input partition (KIP-695, `max.task.idle.ms` = 0) that ran out
    /// after 30 s: the task then processed its other partitions without it.
    pub const LAGGING_WAIT_TIMEOUTS: &str = "sluice_lagging_wait_timeouts_total";
    /// Window or session store updates that the local store skipped at commit because their
    /// window had expired (retention) since the update; the changelog and downstream operators
    /// still received them. Kafka Streams counts these as `expired-window-record-drop`.
    pub const EXPIRED_STORE_WRITES: &str = "sluice_expired_store_writes_total";
    /// Snapshots of a task published to the snapshot store.
    pub const SNAPSHOTS_TAKEN: &str = "sluice_snapshots_taken_total";
    /// Snapshots of a task that failed (checkpoint or upload); retried with backoff.
    pub const SNAPSHOTS_FAILED: &str = "sluice_snapshots_failed_total";
    /// Bytes uploaded by a task's snapshots (files shared with the previous one are not).
    pub const SNAPSHOT_UPLOADED_BYTES: &str = "sluice_snapshot_uploaded_bytes_total";
    /// Milliseconds spent publishing a task's snapshots (divide by the taken count for a mean).
    pub const SNAPSHOT_DURATION_MS: &str = "sluice_snapshot_duration_ms_total";
    /// Milliseconds the stream thread spent taking a task's checkpoints for snapshots (the only
    /// part of a snapshot on the processing thread; uploads run in the background).
    pub const SNAPSHOT_CHECKPOINT_MS: &str = "sluice_snapshot_checkpoint_ms_total";
    /// When the task's newest snapshot was published (ms since the epoch): its age is now
    /// minus this.
    pub const SNAPSHOT_NEWEST_MS: &str = "sluice_snapshot_newest_timestamp_ms";
    /// Tasks restored from a snapshot.
    pub const SNAPSHOT_RESTORES: &str = "sluice_snapshot_restores_total";
    /// Bytes downloaded restoring a task from a snapshot.
    pub const SNAPSHOT_RESTORED_BYTES: &str = "sluice_snapshot_restored_bytes_total";
    /// Snapshots a restore could not use (checksum, missing file, offsets past the changelog),
    /// or could not reach.
    pub const SNAPSHOT_RESTORE_SKIPPED: &str = "sluice_snapshot_restore_skipped_total";
    /// Changelog records replayed restoring a task's stores (after a snapshot, only the tail).
    pub const RESTORED_RECORDS: &str = "sluice_restored_records_total";
    /// Bytes (keys and values) of the changelog records replayed restoring a task's stores.
    pub const RESTORED_BYTES: &str = "sluice_restored_bytes_total";
    /// Changelog records a store still has to replay (offsets up to the changelog's end as
    /// read when its replay began; transaction markers count): 0 once restored.
    pub const RESTORE_REMAINING_RECORDS: &str = "sluice_restore_remaining_records";
    /// Bytes of the snapshot a task is downloading that are still to come: 0 once done.
    pub const SNAPSHOT_RESTORE_REMAINING_BYTES: &str = "sluice_snapshot_restore_remaining_bytes";
    /// 1 while a task restores (snapshot or changelog), 0 once it processes.
    pub const RESTORING: &str = "sluice_task_restoring";
    /// Gauge per assigned input partition (`thread`, `topic`, `partition`): records between
    /// the consumer's position and the partition's end (the last stable offset under
    /// exactly-once). Updated at every commit and whenever new ends come: the position is
    /// read then, the end is the newest from the consumer's statistics
    /// (`statistics.interval.ms`, default 1 s).
    pub const CONSUMER_LAG: &str = "sluice_consumer_lag";
    /// Gauge per state (`state`): 1 for the instance's current state, 0 for the others it has
    /// been in.
    pub const INSTANCE_STATE: &str = "sluice_instance_state";
    /// Gauge per stream thread and state (`thread`, `state`), as `INSTANCE_STATE`.
    pub const THREAD_STATE: &str = "sluice_stream_thread_state";
    /// Gauge: bytes of RocksDB's shared block cache in use (cached blocks, index and filter
    /// blocks, and the memtables charged to it), against `ROCKSDB_MEMORY_BOUND`.
    pub const ROCKSDB_CACHE_USAGE: &str = "sluice_rocksdb_block_cache_usage_bytes";
    /// Gauge: bytes of memtables (write buffers) of all the instance's RocksDB stores.
    pub const ROCKSDB_MEMTABLE_USAGE: &str = "sluice_rocksdb_memtable_usage_bytes";
    /// Gauge: bytes held by the read caches of the RocksDB stores (`rocksdb.row.cache.bytes`
    /// bounds them), as of their last commits.
    pub const ROCKSDB_ROW_CACHE_USAGE: &str = "sluice_rocksdb_row_cache_usage_bytes";
    /// Gauge: the instance's RocksDB memory bound (`rocksdb.block.cache.bytes`).
    pub const ROCKSDB_MEMORY_BOUND: &str = "sluice_rocksdb_memory_bound_bytes";
    /// Histogram per sink (`task`, `node`): wall-clock time when a record reaches the sink
    /// minus its timestamp (Kafka Streams' `record-e2e-latency` at sink nodes), in seconds.
    pub const RECORD_E2E_LATENCY: &str = "sluice_record_e2e_latency_seconds";
    /// Histogram per stream thread (`thread`): how long each commit that committed offsets
    /// took (flush, stores, offsets; the transaction's commit under exactly-once), in seconds:
    /// its count equals `sluice_commits_total`.
    pub const COMMIT_LATENCY: &str = "sluice_commit_latency_seconds";
    /// Histogram per task (`task`): time to process one input record through the task's
    /// sub-topology (Kafka Streams' `process-latency`), one record in 64 timed, in seconds.
    pub const PROCESS_LATENCY: &str = "sluice_process_latency_seconds";
}

/// Why a record was skipped: the `reason` label of [`names::DROPPED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// Null value at an operator that needs one (aggregations, key mappers).
    NullValue,
    /// Null key at an operator that needs one.
    NullKey,
    /// Failed to deserialize; the handler said continue.
    DeserializationError,
    /// Invalid timestamp; the handler said continue.
    InvalidTimestamp,
    /// A processor panicked; the handler said continue.
    ProcessingError,
    /// A sink failed to serialize; the handler said continue.
    SerializationError,
    /// No branch of a split matched a null value and there is no default branch.
    NoBranch,
    /// Late: at least one window the record belongs to had closed (stream time past end +
    /// grace); the record still counts in its open windows. Counted once per record.
    ExpiredWindow,
    /// A table update older than its versioned store's history retention.
    ExpiredVersion,
    /// A foreign-key join response to a value its left row no longer has (a newer response
    /// follows, or followed).
    StaleResponse,
}

impl DropReason {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::NullValue => "null_value",
            DropReason::NullKey => "null_key",
            DropReason::DeserializationError => "deserialization_error",
            DropReason::InvalidTimestamp => "invalid_timestamp",
            DropReason::ProcessingError => "processing_error",
            DropReason::SerializationError => "serialization_error",
            DropReason::NoBranch => "no_branch",
            DropReason::ExpiredWindow => "expired_window",
            DropReason::ExpiredVersion => "expired_version",
            DropReason::StaleResponse => "stale_response",
        }
    }
}

/// What a task's record was sent to ([`names::SENT`]'s `kind`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum SentKind {
    /// A sink, a repartition topic or the dead-letter topic.
    Output,
    /// A store's changelog topic.
    Changelog,
}

/// Counter handles of one task, looked up once so the hot path only increments atomics.
#[derive(Debug, Clone)]
pub(crate) struct TaskMetrics {
    metrics: Metrics,
    task: String,
    pub(crate) processed: Counter,
    sent_output: Counter,
    sent_changelog: Counter,
    dropped: Vec<(DropReason, Counter)>,
    dead_lettered: Vec<(DropReason, Counter)>,
    expired_writes: Vec<(String, Counter)>,
    restored_records: Counter,
    restored_bytes: Counter,
    restoring: Gauge,
    /// Created on first use: only tasks with a snapshot store download.
    snapshot_remaining: Option<Gauge>,
    restore_remaining: Vec<(String, Gauge)>,
    /// `sluice_process_latency_seconds`, created on the first sample.
    process_latency: Option<Histogram>,
    /// Records since the last sampled one.
    unsampled: u32,
}

/// One record in this many is timed for `sluice_process_latency_seconds` (two clock reads
/// per record would cost more than the rest of the task's metrics).
pub(crate) const PROCESS_LATENCY_SAMPLING: u32 = 64;

impl TaskMetrics {
    /// Whether to time the record about to be processed (one in
    /// [`PROCESS_LATENCY_SAMPLING`]).
    pub(crate) fn sample_process(&mut self) -> bool {
        self.unsampled += 1;
        if self.unsampled >= PROCESS_LATENCY_SAMPLING {
            self.unsampled = 0;
            true
        } else {
            false
        }
    }

    /// Records a sampled record's processing time.
    pub(crate) fn process_latency(&mut self, d: std::time::Duration) {
        let (metrics, task) = (&self.metrics, &self.task);
        self.process_latency
            .get_or_insert_with(|| {
                metrics.histogram(
                    names::PROCESS_LATENCY,
                    "Time to process a record through its sub-topology (one record in 64 timed)",
                    &[("task", task)],
                )
            })
            .observe(d);
    }
}

impl TaskMetrics {
    /// The end-to-end latency histogram of the sink `node` (see
    /// [`names::RECORD_E2E_LATENCY`]).
    pub(crate) fn e2e_latency(&self, node: &str) -> Histogram {
        self.metrics.histogram(
            names::RECORD_E2E_LATENCY,
            "Wall-clock time a record reached a sink minus its timestamp",
            &[("task", &self.task), ("node", node)],
        )
    }
}

impl TaskMetrics {
    pub(crate) fn new(metrics: &Metrics, task: TaskId) -> Self {
        let task = task.to_string();
        let labels = [("task", task.as_str())];
        TaskMetrics {
            processed: metrics.counter(names::PROCESSED, "Records processed", &labels),
            sent_output: metrics.counter(
                names::SENT,
                "Records handed to the producer",
                &[("task", task.as_str()), ("kind", "output")],
            ),
            sent_changelog: metrics.counter(
                names::SENT,
                "Records handed to the producer",
                &[("task", task.as_str()), ("kind", "changelog")],
            ),
            restored_records: metrics.counter(
                names::RESTORED_RECORDS,
                "Changelog records replayed restoring stores",
                &labels,
            ),
            restored_bytes: metrics.counter(
                names::RESTORED_BYTES,
                "Bytes of changelog records replayed restoring stores",
                &labels,
            ),
            restoring: metrics.gauge(names::RESTORING, "1 while the task restores its stores", &labels),
            metrics: metrics.clone(),
            task,
            dropped: Vec::new(),
            dead_lettered: Vec::new(),
            expired_writes: Vec::new(),
            snapshot_remaining: None,
            restore_remaining: Vec::new(),
            process_latency: None,
            unsampled: 0,
        }
    }

    /// `n` records of `kind` handed to the producer.
    pub(crate) fn sent(&self, kind: SentKind, n: u64) {
        if n > 0 {
            match kind {
                SentKind::Output => self.sent_output.add(n),
                SentKind::Changelog => self.sent_changelog.add(n),
            }
        }
    }

    /// `n` updates of `store` that its local copy skipped at commit (expired windows).
    pub(crate) fn expired_store_writes(&mut self, store: &str, n: u64) {
        if n == 0 {
            return;
        }
        if let Some((_, c)) = self.expired_writes.iter().find(|(s, _)| s == store) {
            c.add(n);
            return;
        }
        let c = self.metrics.counter(
            names::EXPIRED_STORE_WRITES,
            "Store updates skipped locally because their window expired before the commit",
            &[("task", &self.task), ("store", store)],
        );
        c.add(n);
        self.expired_writes.push((store.to_string(), c));
    }

    pub(crate) fn dropped(&mut self, reason: DropReason) {
        Self::bump(
            &self.metrics,
            &self.task,
            names::DROPPED,
            "Records skipped",
            &mut self.dropped,
            reason,
        );
    }

    /// Changelog records replayed into the task's stores, and their bytes.
    pub(crate) fn restored(&self, records: u64, bytes: u64) {
        self.restored_records.add(records);
        self.restored_bytes.add(bytes);
    }

    /// Changelog records `store` still has to replay.
    pub(crate) fn restore_remaining(&mut self, store: &str, n: u64) {
        if let Some((_, g)) = self.restore_remaining.iter().find(|(s, _)| s == store) {
            g.set(n);
            return;
        }
        let g = self.metrics.gauge(
            names::RESTORE_REMAINING_RECORDS,
            "Changelog records a store still has to replay",
            &[("task", &self.task), ("store", store)],
        );
        g.set(n);
        self.restore_remaining.push((store.to_string(), g));
    }

    /// Bytes of the snapshot being downloaded still to come.
    pub(crate) fn snapshot_remaining(&mut self, n: u64) {
        let (metrics, task) = (&self.metrics, &self.task);
        self.snapshot_remaining
            .get_or_insert_with(|| {
                metrics.gauge(
                    names::SNAPSHOT_RESTORE_REMAINING_BYTES,
                    "Bytes of the snapshot being restored still to download",
                    &[("task", task)],
                )
            })
            .set(n);
    }

    /// Whether the task restores.
    pub(crate) fn restoring(&self, restoring: bool) {
        self.restoring.set(u64::from(restoring));
    }

    pub(crate) fn dead_lettered(&mut self, reason: DropReason) {
        Self::bump(
            &self.metrics,
            &self.task,
            names::DEAD_LETTERED,
            "Records written to the dead-letter topic",
            &mut self.dead_lettered,
            reason,
        );
    }

    fn bump(
        metrics: &Metrics,
        task: &str,
        name: &'static str,
        help: &'static str,
        cache: &mut Vec<(DropReason, Counter)>,
        reason: DropReason,
    ) {
        if let Some((_, c)) = cache.iter().find(|(r, _)| *r == reason) {
            c.inc();
            return;
        }
        let c = metrics.counter(name, help, &[("task", task), ("reason", reason.as_str())]);
        c.inc();
        cache.push((reason, c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_render_as_prometheus_histograms_and_count() {
        let m = Metrics::new();
        let h = m.histogram(names::COMMIT_LATENCY, "Commit time", &[("thread", "0")]);
        h.observe_ms(3);
        h.observe_ms(-5);
        h.observe(std::time::Duration::from_secs(100));
        // The same series again: one handle's observations are the other's.
        m.histogram(names::COMMIT_LATENCY, "Commit time", &[("thread", "0")])
            .observe_ms(1);
        assert_eq!(m.histogram_count(names::COMMIT_LATENCY, &[("thread", "0")]), 4);
        assert_eq!(m.histogram_count(names::COMMIT_LATENCY, &[("thread", "1")]), 0);
        let page = m.render_prometheus();
        assert!(
            page.contains("# TYPE sluice_commit_latency_seconds histogram"),
            "{page}"
        );
        assert!(
            page.contains("sluice_commit_latency_seconds_count{thread=\"0\"} 4"),
            "{page}"
        );
        // 0 and 1 ms fall at or under the 2 ms bound; 3 ms not; 100 s only under +Inf.
        assert!(
            page.contains("sluice_commit_latency_seconds_bucket{le=\"0.002\",thread=\"0\"} 2"),
            "{page}"
        );
        assert!(
            page.contains("sluice_commit_latency_seconds_bucket{le=\"+Inf\",thread=\"0\"} 4"),
            "{page}"
        );
        assert!(
            !page.contains("# EOF"),
            "Prometheus text, not OpenMetrics: {page}"
        );
    }

    #[test]
    fn counters_sum_by_label_and_render() {
        let m = Metrics::new();
        let mut t = TaskMetrics::new(&m, TaskId::new(0, 1));
        t.dropped(DropReason::NullValue);
        t.dropped(DropReason::NullValue);
        t.dropped(DropReason::DeserializationError);
        t.processed.add(5);
        assert_eq!(m.total(names::DROPPED, &[]), 3);
        assert_eq!(m.total(names::DROPPED, &[("reason", "null_value")]), 2);
        assert_eq!(m.total(names::PROCESSED, &[("task", "0_1")]), 5);
        let text = m.render_prometheus();
        assert!(
            text.contains("sluice_dropped_records_total{task=\"0_1\",reason=\"null_value\"} 2"),
            "{text}"
        );
        assert!(text.contains("# TYPE sluice_records_processed_total counter"));
    }
}
