//! Backlog runs: a windowed count started on a topic filled beforehand (as after downtime or
//! for a reprocessing run), on the simulated cluster, without faults, so that one commit covers
//! far more event time than the window store keeps. The committed output must hold every
//! window the input defines with its exact final count, whatever the commit interval.
//!
//! [`reference`] is the brute-force model of a windowed count (also used by the broker tests):
//! per partition, in offset order, stream time is the largest timestamp seen, and a record
//! counts in each of its windows that has not closed (`end + grace > stream time`).
//!
//! ```
//! use sluice_engine::sim::backlog::BacklogConfig;
//! let mut config = BacklogConfig::new(7);
//! config.records = 500;
//! let report = config.run();
//! assert!(report.passed(), "{report}");
//! ```

use super::instance::{App, SimInstance};
use crate::client::sim::{Faults, Rng, SimCluster};
use crate::client::TopicPartition;
use crate::config::{ProcessingGuarantee, StreamsConfig};
use crate::metrics::names;
use sluice_dsl::prelude::*;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

const INPUT: &str = "backlog-input";
const OUTPUT: &str = "backlog-output";
const STORE: &str = "backlog-counts";
/// Simulated milliseconds per thread step.
const STEP_MS: u64 = 5;
/// Thread steps before a run is declared stuck.
const MAX_STEPS: usize = 200_000;

/// Tumbling (`advance == size`) or hopping time windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    /// Window size.
    pub size_ms: i64,
    /// Hop; equal to the size for tumbling windows.
    pub advance_ms: i64,
    /// Grace after the window end.
    pub grace_ms: i64,
}

impl WindowSpec {
    /// The starts of the windows holding `timestamp`, ascending (Kafka Streams' alignment).
    pub fn starts(&self, timestamp: i64) -> Vec<i64> {
        let mut out = Vec::new();
        let mut start = timestamp - timestamp.rem_euclid(self.advance_ms);
        while start >= 0 && start + self.size_ms > timestamp {
            out.push(start);
            start -= self.advance_ms;
        }
        out.reverse();
        out
    }
}

/// One input record of a backlog: key and event time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BacklogRecord {
    /// The key.
    pub key: String,
    /// Event time (ms).
    pub timestamp: i64,
}

/// `records` records over `keys` keys from `start_ms` on, event time advancing `step_ms` on
/// average per record with up to `disorder_ms` of disorder (records arrive up to that much
/// earlier than the latest).
pub fn backlog_input(
    seed: u64,
    start_ms: i64,
    records: usize,
    keys: usize,
    step_ms: i64,
    disorder_ms: i64,
) -> Vec<BacklogRecord> {
    let mut rng = Rng::new(seed);
    let mut time = start_ms;
    (0..records)
        .map(|_| {
            time += rng.below(2 * step_ms.max(1) as u64 + 1) as i64;
            let late_by = if disorder_ms > 0 {
                rng.below(disorder_ms as u64 + 1) as i64
            } else {
                0
            };
            BacklogRecord {
                key: format!("k{}", rng.below(keys as u64)),
                timestamp: time - late_by,
            }
        })
        .collect()
}

/// What a windowed count must produce from its input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reference {
    /// Final count per (key, window start).
    pub counts: BTreeMap<(String, i64), i64>,
    /// Records rejected by at least one of their windows (closed): counted as
    /// `expired_window` drops.
    pub late: u64,
}

/// The brute-force windowed count of `partitions`: per partition, its records in offset order
/// as (key, timestamp).
pub fn reference<'a>(
    partitions: impl IntoIterator<Item = &'a [(String, i64)]>,
    windows: WindowSpec,
) -> Reference {
    let mut out = Reference::default();
    for records in partitions {
        let mut stream_time = i64::MIN;
        for (key, ts) in records {
            stream_time = stream_time.max(*ts);
            let close = stream_time - windows.grace_ms;
            let mut late = false;
            for start in windows.starts(*ts) {
                if start + windows.size_ms > close {
                    *out.counts.entry((key.clone(), start)).or_default() += 1;
                } else {
                    late = true;
                }
            }
            out.late += u64::from(late);
        }
    }
    out
}

/// Compares a windowed count's output — (window key `key@start`, count) in the order a reader
/// sees them — with the reference: every window present, its last count exact, counts never
/// above the final one nor going back. Returns the problems found, readable.
pub fn compare(expected: &Reference, outputs: &[(String, i64)]) -> Vec<String> {
    let mut seen: BTreeMap<(String, i64), Vec<i64>> = BTreeMap::new();
    let mut problems = Vec::new();
    for (window, count) in outputs {
        let parsed = window
            .rsplit_once('@')
            .and_then(|(k, s)| Some((k.to_string(), s.parse::<i64>().ok()?)));
        match parsed {
            Some(w) => seen.entry(w).or_default().push(*count),
            None => problems.push(format!("output key {window:?} is not key@start")),
        }
    }
    for (window, &n) in &expected.counts {
        match seen.get(window) {
            None => problems.push(format!("{}@{}: count {n} never output", window.0, window.1)),
            Some(counts) => {
                if counts.last() != Some(&n) {
                    problems.push(format!(
                        "{}@{}: last output {:?}, expected {n}",
                        window.0,
                        window.1,
                        counts.last()
                    ));
                }
                if counts.windows(2).any(|p| p[1] < p[0]) || counts.iter().any(|&c| c > n) {
                    problems.push(format!(
                        "{}@{}: counts {counts:?} (final {n})",
                        window.0, window.1
                    ));
                }
            }
        }
    }
    for window in seen.keys().filter(|w| !expected.counts.contains_key(*w)) {
        problems.push(format!("{}@{}: output but not in the input", window.0, window.1));
    }
    problems
}

/// A backlog run: the input, the application and how often it commits.
#[derive(Debug, Clone)]
pub struct BacklogConfig {
    /// Drives the input.
    pub seed: u64,
    /// Input records (all produced before the application starts).
    pub records: usize,
    /// Distinct keys.
    pub keys: usize,
    /// Input partitions (one task each).
    pub partitions: i32,
    /// Stream threads of the one instance.
    pub threads: usize,
    /// Mean event-time advance per record.
    pub step_ms: i64,
    /// Largest disorder.
    pub disorder_ms: i64,
    /// The windows.
    pub windows: WindowSpec,
    /// `commit.interval.ms`, in simulated time (a thread step takes 5 ms).
    pub commit_interval_ms: u64,
    /// `statestore.cache.max.bytes`: 0 forwards every update.
    pub cache_max_bytes: u64,
    /// The guarantee.
    pub guarantee: ProcessingGuarantee,
    /// RocksDB stores (else in memory).
    pub rocksdb: bool,
    /// `EmitStrategy::on_window_close`: the output must hold exactly the windows closed by the
    /// end of the input (each partition's stream time past end + grace), each once.
    pub emit_on_close: bool,
}

impl BacklogConfig {
    /// The issue's shape, scaled down: 60 s windows with 10 s grace, event time advancing
    /// ~100 ms per record with up to 3 s of disorder, commits every 200 ms, caching on.
    pub fn new(seed: u64) -> Self {
        BacklogConfig {
            seed,
            records: 4_000,
            keys: 50,
            partitions: 4,
            threads: 1,
            step_ms: 100,
            disorder_ms: 3_000,
            windows: WindowSpec {
                size_ms: 60_000,
                advance_ms: 60_000,
                grace_ms: 10_000,
            },
            commit_interval_ms: 200,
            cache_max_bytes: 10 * 1024 * 1024,
            guarantee: ProcessingGuarantee::ExactlyOnceV2,
            rocksdb: false,
            emit_on_close: false,
        }
    }

    /// Runs it.
    pub fn run(&self) -> BacklogReport {
        let cluster = SimCluster::new(self.seed, Faults::none());
        cluster.create_topic(INPUT, self.partitions);
        cluster.create_topic(OUTPUT, self.partitions);
        let input = backlog_input(
            self.seed,
            1_700_000_000_000,
            self.records,
            self.keys,
            self.step_ms,
            self.disorder_ms,
        );
        for r in &input {
            cluster.produce(INPUT, r.key.as_bytes(), b"x", r.timestamp);
        }
        let mut by_partition: BTreeMap<i32, Vec<(String, i64)>> = BTreeMap::new();
        for r in cluster.read_committed(INPUT) {
            by_partition
                .entry(r.partition)
                .or_default()
                .push((text(&r.key), r.timestamp));
        }
        let expected = reference(by_partition.values().map(Vec::as_slice), self.windows);

        let guarantee = match self.guarantee {
            ProcessingGuarantee::ExactlyOnceV2 => "exactly_once_v2",
            _ => "at_least_once",
        };
        let config = StreamsConfig::new(format!("backlog-{}", self.seed), "simulated")
            .with("processing.guarantee", guarantee)
            .and_then(|c| c.with("commit.interval.ms", &self.commit_interval_ms.to_string()))
            .and_then(|c| c.with("statestore.cache.max.bytes", &self.cache_max_bytes.to_string()))
            .and_then(|c| {
                c.with(
                    "default.dsl.store",
                    if self.rocksdb { "rocksdb" } else { "in_memory" },
                )
            })
            // A transaction stays open for a commit interval: the timeout must cover it.
            .and_then(|c| {
                let timeout =
                    (2 * self.commit_interval_ms).max(crate::config::DEFAULT_TRANSACTION_TIMEOUT_MS);
                c.with("producer.transaction.timeout.ms", &timeout.to_string())
            })
            .expect("valid backlog config");
        config.validate().expect("a consistent backlog config");
        let app = App {
            cluster: cluster.clone(),
            topology: Arc::new(self.topology()),
            config: Arc::new(config),
            threads: self.threads,
            broken: None,
        };
        let dir = tempfile::tempdir().expect("a temporary state directory");
        let mut report = BacklogReport {
            config: self.clone(),
            windows_expected: expected.counts.len(),
            windows_output: 0,
            late_expected: expected.late,
            late_counted: 0,
            expired_store_writes: 0,
            commits: 0,
            problems: Vec::new(),
        };
        let mut instance = match SimInstance::start(&app, 1, "i0", dir.path()) {
            Ok(i) => i,
            Err(e) => {
                report.problems.push(format!("the instance did not start: {e}"));
                return report;
            }
        };
        let group = app.config.application_id.clone();
        let caught_up = |cluster: &SimCluster| {
            let committed = cluster.committed(&group);
            cluster
                .stable_end_offsets(INPUT)
                .iter()
                .enumerate()
                .all(|(p, &end)| {
                    committed
                        .get(&TopicPartition::new(INPUT, p as i32))
                        .copied()
                        .unwrap_or(0)
                        >= end
                })
                && cluster.open_transactions() == 0
        };
        let mut steps = 0;
        while !caught_up(&cluster) {
            if steps == MAX_STEPS {
                report
                    .problems
                    .push(format!("input not committed after {MAX_STEPS} steps"));
                break;
            }
            let t = steps % instance.threads.len();
            if let Err(e) = instance.threads[t].step() {
                report.problems.push(format!("thread {t} failed: {e}"));
                return report;
            }
            cluster.advance(STEP_MS);
            steps += 1;
        }
        let metrics = instance.metrics.clone();
        if let Err(e) = instance.close() {
            report.problems.push(format!("close failed: {e}"));
        }
        report.late_counted = metrics.total(names::DROPPED, &[("reason", "expired_window")]);
        report.expired_store_writes = metrics.total(names::EXPIRED_STORE_WRITES, &[]);
        report.commits = metrics.total(names::COMMITS, &[]);
        let outputs: Vec<(String, i64)> = cluster
            .read_committed(OUTPUT)
            .iter()
            .map(|r| (text(&r.key), text(&r.value).parse().unwrap_or(-1)))
            .collect();
        report.windows_output = outputs
            .iter()
            .map(|(w, _)| w.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        if self.emit_on_close {
            report
                .problems
                .extend(compare(&self.closed(&expected, &by_partition), &outputs));
            let mut once = std::collections::BTreeSet::new();
            for (window, _) in &outputs {
                if !once.insert(window) {
                    report
                        .problems
                        .push(format!("{window}: final result output twice"));
                }
            }
        } else {
            report.problems.extend(compare(&expected, &outputs));
        }
        // The changelog must hold the same: it is what a restore rebuilds the store from.
        let changelog: Vec<(String, i64)> = cluster
            .read_committed(&format!("{group}-{STORE}-changelog"))
            .iter()
            .filter_map(|r| {
                Some((
                    window_of_changelog_key(r.key.as_deref()?)?,
                    count_of(r.value.as_deref()?)?,
                ))
            })
            .collect();
        report.problems.extend(
            compare(&expected, &changelog)
                .into_iter()
                .map(|p| format!("changelog: {p}")),
        );
        if report.late_counted != report.late_expected {
            report.problems.push(format!(
                "{} records counted as expired_window drops, the reference has {}",
                report.late_counted, report.late_expected
            ));
        }
        report
    }

    /// The windows of `expected` that closed by the end of the input: a key's partition's
    /// stream time is past the window's end + grace.
    fn closed(&self, expected: &Reference, by_partition: &BTreeMap<i32, Vec<(String, i64)>>) -> Reference {
        let mut stream_time_of_key = BTreeMap::new();
        for records in by_partition.values() {
            let stream_time = records.iter().map(|r| r.1).max().unwrap_or(i64::MIN);
            for (key, _) in records {
                stream_time_of_key.insert(key.as_str(), stream_time);
            }
        }
        let w = self.windows;
        let mut closed = expected.clone();
        closed
            .counts
            .retain(|(key, start), _| start + w.size_ms + w.grace_ms <= stream_time_of_key[key.as_str()]);
        closed
    }

    fn topology(&self) -> Topology {
        let builder = StreamsBuilder::new();
        let w = self.windows;
        let windowed = builder
            .stream(INPUT, Consumed::with(Serde::string(), Serde::string()))
            .group_by_key()
            .windowed_by(
                TimeWindows::of_size_and_grace(
                    Duration::from_millis(w.size_ms as u64),
                    Duration::from_millis(w.grace_ms as u64),
                )
                .advance_by(Duration::from_millis(w.advance_ms as u64)),
            );
        let windowed = if self.emit_on_close {
            windowed.emit_strategy(EmitStrategy::on_window_close())
        } else {
            windowed
        };
        windowed
            .count(Materialized::as_(STORE).with_value_serde(Serde::i64()))
            .to_stream()
            .map(|w, n| (format!("{}@{}", w.key, w.window.start), n.to_string()))
            .to(OUTPUT, Produced::with(Serde::string(), Serde::string()));
        builder.build().expect("a valid backlog topology")
    }
}

/// `key@start` of a window store changelog key (`len u32 | key | start i64`, big-endian).
fn window_of_changelog_key(key: &[u8]) -> Option<String> {
    let len = u32::from_be_bytes(key.get(..4)?.try_into().ok()?) as usize;
    let k = std::str::from_utf8(key.get(4..4 + len)?).ok()?;
    let start = i64::from_be_bytes(key.get(4 + len..12 + len)?.try_into().ok()?);
    Some(format!("{k}@{start}"))
}

fn count_of(value: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(value.try_into().ok()?))
}

fn text(bytes: &Option<Vec<u8>>) -> String {
    bytes
        .as_deref()
        .map_or_else(String::new, |b| String::from_utf8_lossy(b).into_owned())
}

/// What a backlog run produced, against its reference.
#[derive(Debug, Clone)]
pub struct BacklogReport {
    /// The run.
    pub config: BacklogConfig,
    /// Windows the input defines.
    pub windows_expected: usize,
    /// Distinct windows in the committed output.
    pub windows_output: usize,
    /// Late records in the reference.
    pub late_expected: u64,
    /// `expired_window` drops counted by the application.
    pub late_counted: u64,
    /// Store updates skipped locally because their window expired before the commit.
    pub expired_store_writes: u64,
    /// Commits made.
    pub commits: u64,
    /// Everything wrong, readable.
    pub problems: Vec<String>,
}

impl BacklogReport {
    /// True if the output matched the reference exactly.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for BacklogReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        write!(
            f,
            "backlog seed {}: {} records, {} partitions, windows {}/{}/{} ms (size/advance/grace), \
             commit every {} ms, cache {} bytes, {:?}{}: {} of {} windows output, {} commits, \
             {} late (reference {}), {} expired store writes: {}",
            c.seed,
            c.records,
            c.partitions,
            c.windows.size_ms,
            c.windows.advance_ms,
            c.windows.grace_ms,
            c.commit_interval_ms,
            c.cache_max_bytes,
            c.guarantee,
            if c.emit_on_close {
                ", final results only"
            } else {
                ""
            },
            self.windows_output,
            self.windows_expected,
            self.commits,
            self.late_counted,
            self.late_expected,
            self.expired_store_writes,
            if self.passed() { "passed" } else { "FAILED" }
        )?;
        for p in self.problems.iter().take(5) {
            write!(f, "\n  {p}")?;
        }
        if self.problems.len() > 5 {
            write!(f, "\n  ... {} problems in all", self.problems.len())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_starts_align_like_kafka_streams() {
        let hopping = WindowSpec {
            size_ms: 10,
            advance_ms: 5,
            grace_ms: 0,
        };
        assert_eq!(hopping.starts(7), vec![0, 5]);
        assert_eq!(hopping.starts(12), vec![5, 10]);
        assert_eq!(hopping.starts(3), vec![0]);
        let tumbling = WindowSpec {
            size_ms: 10,
            advance_ms: 10,
            grace_ms: 0,
        };
        assert_eq!(tumbling.starts(19), vec![10]);
    }

    #[test]
    fn reference_counts_and_drops_per_partition() {
        let w = WindowSpec {
            size_ms: 10,
            advance_ms: 10,
            grace_ms: 5,
        };
        let p0 = vec![("a".to_string(), 1), ("a".to_string(), 30), ("a".to_string(), 2)];
        let p1 = vec![("b".to_string(), 2)];
        let r = reference([p0.as_slice(), p1.as_slice()], w);
        assert_eq!(r.counts.get(&("a".to_string(), 0)), Some(&1));
        assert_eq!(r.counts.get(&("a".to_string(), 30)), Some(&1));
        assert_eq!(r.counts.get(&("b".to_string(), 0)), Some(&1));
        assert_eq!(r.late, 1);
        let ok = vec![
            ("a@0".to_string(), 1),
            ("a@30".to_string(), 1),
            ("b@0".to_string(), 1),
        ];
        assert!(compare(&r, &ok).is_empty());
        let missing = vec![("a@0".to_string(), 1)];
        assert_eq!(compare(&r, &missing).len(), 2);
    }
}
