//! `StreamsConfig`: typed configuration with Kafka Streams' key names.

use sluice_dsl::StoreType;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// `transaction.timeout.ms` of the transactional producers unless set: Kafka Streams' default
/// under exactly-once (the broker's is 60 s).
pub const DEFAULT_TRANSACTION_TIMEOUT_MS: u64 = 10_000;

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The key is not a Sluice or pass-through client setting.
    #[error("unknown config key {key:?}")]
    UnknownKey {
        /// The key.
        key: String,
    },
    /// The value does not parse or is out of range.
    #[error("config {key} = {value:?}: {reason}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// `processing.guarantee`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProcessingGuarantee {
    /// `at_least_once`: every input is reflected; a crash may duplicate effects.
    AtLeastOnce,
    /// `exactly_once_v2`: outputs, state changes and input offsets commit in one transaction.
    ExactlyOnceV2,
}

/// What happens to a record that fails (Kafka Streams' exception handlers; the dead-letter
/// queue follows KIP-1034).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorHandler {
    /// Stop with an error naming the record (Kafka Streams' default).
    LogAndFail,
    /// Log, count in metrics, skip the record.
    LogAndContinue,
    /// Write the record with error headers to `errors.dead.letter.queue.topic.name`, count it,
    /// and continue. Under exactly-once the write is in the same transaction.
    DeadLetterQueue,
}

impl ErrorHandler {
    fn parse(key: &str, value: &str) -> Result<Self, ConfigError> {
        let simple = value.rsplit('.').next().unwrap_or(value);
        match simple.to_ascii_lowercase().replace(['_', '-'], "").as_str() {
            "logandfail" | "logandfailexceptionhandler" | "fail" => Ok(ErrorHandler::LogAndFail),
            "logandcontinue" | "logandcontinueexceptionhandler" | "continue" => {
                Ok(ErrorHandler::LogAndContinue)
            }
            "deadletterqueue" | "dlq" => Ok(ErrorHandler::DeadLetterQueue),
            _ => Err(invalid(
                key,
                value,
                "expected log_and_fail, log_and_continue or dead_letter_queue",
            )),
        }
    }
}

/// Configuration of a Sluice application. Field names are Kafka Streams' keys in snake_case;
/// [`set`](Self::set) takes the dotted Kafka names.
///
/// ```
/// use sluice_engine::{StreamsConfig, ProcessingGuarantee};
/// use std::time::Duration;
///
/// let mut config = StreamsConfig::new("fraud-app", "localhost:9092");
/// config.set("processing.guarantee", "exactly_once_v2").unwrap();
/// config.set("num.stream.threads", "4").unwrap();
/// assert_eq!(config.processing_guarantee, ProcessingGuarantee::ExactlyOnceV2);
/// assert_eq!(config.commit_interval(), Duration::from_millis(100));
/// assert!(config.set("num.stream.thread", "4").is_err());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StreamsConfig {
    /// `application.id`: consumer group id, and prefix of internal topics and state.
    pub application_id: String,
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// `num.stream.threads` (default 1).
    pub num_stream_threads: usize,
    /// `processing.guarantee` (default at_least_once).
    pub processing_guarantee: ProcessingGuarantee,
    /// `commit.interval.ms`; `None` takes the default of the guarantee (30 s, or 100 ms under
    /// exactly-once).
    pub commit_interval_ms: Option<u64>,
    /// `state.dir` (default: `<tmp>/sluice`).
    pub state_dir: PathBuf,
    /// `statestore.cache.max.bytes` (default 10 MiB): record cache for the whole instance;
    /// 0 forwards every update.
    pub statestore_cache_max_bytes: usize,
    /// `statestore.cache.flush.when.idle` (Sluice's own, default true): at-least-once, a
    /// stream thread that has caught up with its input (a step that found no record to
    /// process, or processed all it had fetched) forwards what its record caches hold then,
    /// instead of holding it until the next commit. Coalescing only pays while records queue
    /// up; a thread that keeps up has the time to send, and its results would otherwise wait
    /// up to `commit.interval.ms` (30 s by default). Without effect under exactly-once, where
    /// nothing is visible before the commit.
    pub statestore_cache_flush_when_idle: bool,
    /// `statestore.uncommitted.max.bytes` (default 64 MiB): uncommitted writes a task's stores
    /// may hold before a commit is forced (KIP-892's bound).
    pub statestore_uncommitted_max_bytes: usize,
    /// `default.dsl.store`: `rocksDB` (default) or `in_memory`.
    pub default_dsl_store: StoreType,
    /// `rocksdb.block.cache.bytes` (default 64 MiB): one block cache for every RocksDB store of
    /// the instance, memtables included.
    pub rocksdb_block_cache_bytes: usize,
    /// `rocksdb.write.buffer.bytes` (default 16 MiB): memtables of every RocksDB store of the
    /// instance, counted inside the block cache.
    pub rocksdb_write_buffer_bytes: usize,
    /// `rocksdb.row.cache.bytes` (default 16 MiB; 0 turns it off): the bound of the read
    /// caches in front of the instance's RocksDB stores, which keep committed values of
    /// recently read keys and answer repeated point reads (a table join's lookups, an
    /// aggregation's read-modify-write) without RocksDB. Each store's cache holds at most an
    /// equal share of it.
    pub rocksdb_row_cache_bytes: usize,
    /// `deserialization.exception.handler` (default log_and_fail).
    pub deserialization_exception_handler: ErrorHandler,
    /// `processing.exception.handler` (default log_and_fail).
    pub processing_exception_handler: ErrorHandler,
    /// `production.exception.handler` (default log_and_fail): serialization failures at sinks.
    pub production_exception_handler: ErrorHandler,
    /// `buffered.records.per.partition` (default 1000): while a partition's buffer holds this
    /// many records the thread processes instead of polling; if it cannot process (the task
    /// waits for another input), the partition is paused until it drains below this. A
    /// buffer stays under this plus one poll (2,000 records).
    pub buffered_records_per_partition: usize,
    /// `max.task.idle.ms` (default 0): how long a task with several input partitions waits
    /// for an empty one before processing the others out of timestamp order. 0 and -1 never
    /// wait (Sluice does not read consumer lag; see DEVELOPERS.md).
    pub max_task_idle_ms: i64,
    /// `replication.factor` of internal topics (default -1: the broker's default).
    pub replication_factor: i32,
    /// `errors.dead.letter.queue.topic.name`: where `dead_letter_queue` handlers write.
    pub errors_dead_letter_queue_topic_name: Option<String>,
    /// Settings passed to the Kafka clients: `consumer.*`, `producer.*`, `admin.*` keys with
    /// the prefix removed per client, and unprefixed client keys for all of them.
    pub client_overrides: BTreeMap<String, String>,
    /// `state.snapshot.store`: where task databases are snapshotted (`s3://bucket/prefix`,
    /// `file:///path`, `memory://`, `hdfs://...` with the `hdfs` feature). `None` (default):
    /// no snapshots; restoration replays changelogs.
    pub state_snapshot_store: Option<String>,
    /// `state.snapshot.interval.ms` (default 30,000): at most one snapshot per task per
    /// interval, taken right after a commit.
    pub state_snapshot_interval_ms: u64,
    /// `state.snapshot.retained` (default 2): snapshots kept per task.
    pub state_snapshot_retained: usize,
    /// `state.snapshot.gc.grace.ms` (default 600,000): files no retained snapshot names are
    /// deleted only once this old (an upload may still be running).
    pub state_snapshot_gc_grace_ms: u64,
    /// Settings of the snapshot store, as object_store names them: `state.snapshot.s3.endpoint`,
    /// `.region`, `.access.key.id`, `.secret.access.key`, `.session.token`, `.allow.http`
    /// become `aws_endpoint`, ...; `state.snapshot.hdfs.<key>` passes `<key>` to the HDFS
    /// client.
    pub state_snapshot_options: BTreeMap<String, String>,
    /// `__state.snapshot.inline__` (internal, default false): publish snapshots on the stream
    /// thread right after the commit instead of in the background, so that a simulation
    /// replays deterministically.
    #[doc(hidden)]
    pub state_snapshot_inline: bool,
    /// `http.server.listen` (e.g. `127.0.0.1:9464`; port 0 picks a free one): where the
    /// built-in HTTP endpoint listens (`/metrics`, `/health/live`, `/health/ready`,
    /// `/topology`). `None` (default): no endpoint.
    pub http_server_listen: Option<std::net::SocketAddr>,
    /// `application.server` (`host:port`): how other instances (and clients) reach this one
    /// for interactive queries; published through the group membership (Kafka Streams' key).
    pub application_server: Option<String>,
    /// `metrics.recording.level` (Kafka Streams' key): `INFO` (default), `DEBUG` and `TRACE`
    /// record everything Sluice has; `OFF` (Sluice's own) skips the per-record and per-commit
    /// latency histograms and the consumer lag statistics, keeping the counters.
    pub metrics_recording_level: MetricsLevel,
}

/// How much `metrics.recording.level` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricsLevel {
    /// Everything (`INFO`, `DEBUG`, `TRACE`).
    Info,
    /// Counters and gauges only: no latency histograms, no lag statistics (`OFF`).
    Off,
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|e: T::Err| invalid(key, value, e.to_string()))
}

/// librdkafka settings accepted without a `consumer.`/`producer.` prefix.
const CLIENT_KEYS: &[&str] = &[
    "security.protocol",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.password",
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.key.password",
    "client.id",
    "socket.timeout.ms",
    "message.max.bytes",
    "debug",
];

/// True for librdkafka settings passed to every client without a prefix.
pub(crate) fn is_client_key(key: &str) -> bool {
    CLIENT_KEYS.contains(&key)
}

impl StreamsConfig {
    /// A configuration with Kafka Streams' defaults.
    pub fn new(application_id: impl Into<String>, bootstrap_servers: impl Into<String>) -> Self {
        StreamsConfig {
            application_id: application_id.into(),
            bootstrap_servers: bootstrap_servers.into(),
            num_stream_threads: 1,
            processing_guarantee: ProcessingGuarantee::AtLeastOnce,
            commit_interval_ms: None,
            state_dir: std::env::temp_dir().join("sluice"),
            statestore_cache_max_bytes: 10 * 1024 * 1024,
            statestore_cache_flush_when_idle: true,
            statestore_uncommitted_max_bytes: 64 * 1024 * 1024,
            default_dsl_store: StoreType::RocksDb,
            rocksdb_block_cache_bytes: 64 << 20,
            rocksdb_write_buffer_bytes: 16 << 20,
            rocksdb_row_cache_bytes: 16 << 20,
            deserialization_exception_handler: ErrorHandler::LogAndFail,
            processing_exception_handler: ErrorHandler::LogAndFail,
            production_exception_handler: ErrorHandler::LogAndFail,
            errors_dead_letter_queue_topic_name: None,
            buffered_records_per_partition: 1000,
            max_task_idle_ms: 0,
            replication_factor: -1,
            client_overrides: BTreeMap::new(),
            state_snapshot_store: None,
            state_snapshot_interval_ms: 30_000,
            state_snapshot_retained: 2,
            state_snapshot_gc_grace_ms: 600_000,
            state_snapshot_options: BTreeMap::new(),
            state_snapshot_inline: false,
            http_server_listen: None,
            application_server: None,
            metrics_recording_level: MetricsLevel::Info,
        }
    }

    /// `commit.interval.ms`, or the default of the processing guarantee.
    /// The transactional producers' `transaction.timeout.ms` (`producer.` prefix or plain key;
    /// default 10 s, as Kafka Streams sets under exactly-once).
    pub fn transaction_timeout_ms(&self) -> u64 {
        ["producer.transaction.timeout.ms", "transaction.timeout.ms"]
            .iter()
            .find_map(|k| self.client_overrides.get(*k)?.parse().ok())
            .unwrap_or(DEFAULT_TRANSACTION_TIMEOUT_MS)
    }

    /// Where sources without their own policy start when the group has no committed offset:
    /// `consumer.auto.offset.reset` (or `main.consumer.`), default earliest as in Kafka Streams.
    pub fn default_offset_reset(&self) -> sluice_dsl::AutoOffsetReset {
        let value = ["main.consumer.auto.offset.reset", "consumer.auto.offset.reset"]
            .iter()
            .find_map(|k| self.client_overrides.get(*k));
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            Some("latest" | "end" | "largest") => sluice_dsl::AutoOffsetReset::Latest,
            _ => sluice_dsl::AutoOffsetReset::Earliest,
        }
    }

    /// Whether stream threads flush their record caches when idle: at-least-once with
    /// `statestore.cache.flush.when.idle` (under exactly-once nothing is visible before the
    /// commit, so the key changes nothing there).
    pub(crate) fn flushes_when_idle(&self) -> bool {
        self.statestore_cache_flush_when_idle
            && self.processing_guarantee != ProcessingGuarantee::ExactlyOnceV2
    }

    /// The interval between commits (`commit.interval.ms`).
    pub fn commit_interval(&self) -> Duration {
        Duration::from_millis(
            self.commit_interval_ms
                .unwrap_or(match self.processing_guarantee {
                    ProcessingGuarantee::AtLeastOnce => 30_000,
                    ProcessingGuarantee::ExactlyOnceV2 => 100,
                }),
        )
    }

    /// Sets one key by its Kafka Streams name.
    pub fn set(&mut self, key: &str, value: &str) -> Result<&mut Self, ConfigError> {
        match key {
            "application.id" => self.application_id = value.to_string(),
            "bootstrap.servers" => self.bootstrap_servers = value.to_string(),
            "num.stream.threads" => {
                let n: usize = parse_num(key, value)?;
                if n == 0 {
                    return Err(invalid(key, value, "must be at least 1"));
                }
                self.num_stream_threads = n;
            }
            "processing.guarantee" => {
                self.processing_guarantee = match value {
                    "at_least_once" => ProcessingGuarantee::AtLeastOnce,
                    "exactly_once_v2" | "exactly_once_beta" => ProcessingGuarantee::ExactlyOnceV2,
                    _ => return Err(invalid(key, value, "expected at_least_once or exactly_once_v2")),
                }
            }
            "commit.interval.ms" => self.commit_interval_ms = Some(parse_num(key, value)?),
            "state.dir" => self.state_dir = PathBuf::from(value),
            "statestore.cache.max.bytes" | "cache.max.bytes.buffering" => {
                self.statestore_cache_max_bytes = parse_num(key, value)?
            }
            "statestore.cache.flush.when.idle" => {
                self.statestore_cache_flush_when_idle = parse_num(key, value)?
            }
            "statestore.uncommitted.max.bytes" => {
                self.statestore_uncommitted_max_bytes = parse_num(key, value)?
            }
            "default.dsl.store" => {
                self.default_dsl_store = match value {
                    "rocksDB" | "rocksdb" => StoreType::RocksDb,
                    "in_memory" => StoreType::InMemory,
                    _ => return Err(invalid(key, value, "expected rocksDB or in_memory")),
                }
            }
            "rocksdb.block.cache.bytes" => self.rocksdb_block_cache_bytes = parse_num(key, value)?,
            "rocksdb.write.buffer.bytes" => self.rocksdb_write_buffer_bytes = parse_num(key, value)?,
            "rocksdb.row.cache.bytes" => self.rocksdb_row_cache_bytes = parse_num(key, value)?,
            "deserialization.exception.handler" | "default.deserialization.exception.handler" => {
                self.deserialization_exception_handler = ErrorHandler::parse(key, value)?
            }
            "processing.exception.handler" => {
                self.processing_exception_handler = ErrorHandler::parse(key, value)?
            }
            "production.exception.handler" | "default.production.exception.handler" => {
                self.production_exception_handler = ErrorHandler::parse(key, value)?
            }
            "buffered.records.per.partition" => {
                let n: usize = parse_num(key, value)?;
                if n == 0 {
                    return Err(invalid(key, value, "must be at least 1"));
                }
                self.buffered_records_per_partition = n;
            }
            "replication.factor" => self.replication_factor = parse_num(key, value)?,
            "max.task.idle.ms" => {
                let ms: i64 = parse_num(key, value)?;
                if ms < -1 {
                    return Err(invalid(key, value, "must be -1 or more"));
                }
                self.max_task_idle_ms = ms;
            }
            "metrics.recording.level" => {
                self.metrics_recording_level = match value.trim() {
                    "INFO" | "DEBUG" | "TRACE" => MetricsLevel::Info,
                    "OFF" => MetricsLevel::Off,
                    _ => return Err(invalid(key, value, "expected INFO, DEBUG, TRACE or OFF")),
                }
            }
            "application.server" => {
                let v = value.trim();
                self.application_server = if v.is_empty() {
                    None
                } else if v
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
                    && !v.contains(['@', ' '])
                {
                    Some(v.to_string())
                } else {
                    return Err(invalid(key, value, "expected host:port"));
                }
            }
            "http.server.listen" => {
                self.http_server_listen = if value.trim().is_empty() {
                    None
                } else {
                    Some(value.trim().parse().map_err(|e: std::net::AddrParseError| {
                        invalid(
                            key,
                            value,
                            format!("{e}: expected an IP address and port, e.g. 127.0.0.1:9464"),
                        )
                    })?)
                }
            }
            "state.snapshot.store" => {
                self.state_snapshot_store = (!value.trim().is_empty()).then(|| value.trim().to_string())
            }
            "state.snapshot.interval.ms" => {
                self.state_snapshot_interval_ms = parse_num(key, value)?;
                if self.state_snapshot_interval_ms == 0 {
                    return Err(invalid(key, value, "must be positive"));
                }
            }
            "state.snapshot.retained" => {
                self.state_snapshot_retained = parse_num(key, value)?;
                if self.state_snapshot_retained == 0 {
                    return Err(invalid(key, value, "at least 1"));
                }
            }
            "__state.snapshot.inline__" => {
                self.state_snapshot_inline = parse_num(key, value)?;
            }
            "state.snapshot.gc.grace.ms" => self.state_snapshot_gc_grace_ms = parse_num(key, value)?,
            _ if key.starts_with("state.snapshot.s3.") => {
                let option = match &key["state.snapshot.s3.".len()..] {
                    "endpoint" => "aws_endpoint",
                    "region" => "aws_region",
                    "access.key.id" => "aws_access_key_id",
                    "secret.access.key" => "aws_secret_access_key",
                    "session.token" => "aws_session_token",
                    "allow.http" => "aws_allow_http",
                    "virtual.hosted.style" => "aws_virtual_hosted_style_request",
                    _ => return Err(ConfigError::UnknownKey { key: key.to_string() }),
                };
                self.state_snapshot_options
                    .insert(option.to_string(), value.to_string());
            }
            _ if key.starts_with("state.snapshot.hdfs.") => {
                self.state_snapshot_options
                    .insert(key["state.snapshot.hdfs.".len()..].to_string(), value.to_string());
            }
            "errors.dead.letter.queue.topic.name" => {
                self.errors_dead_letter_queue_topic_name = (!value.is_empty()).then(|| value.to_string())
            }
            _ if key.starts_with("consumer.")
                || key.starts_with("producer.")
                || key.starts_with("admin.")
                || key.starts_with("restore.consumer.")
                || key.starts_with("main.consumer.")
                || key.starts_with("global.consumer.")
                || CLIENT_KEYS.contains(&key) =>
            {
                self.client_overrides.insert(key.to_string(), value.to_string());
            }
            _ => return Err(ConfigError::UnknownKey { key: key.to_string() }),
        }
        Ok(self)
    }

    /// Builder-style [`set`](Self::set).
    pub fn with(mut self, key: &str, value: &str) -> Result<Self, ConfigError> {
        self.set(key, value)?;
        Ok(self)
    }

    /// Checks settings that only make sense together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.application_id.is_empty() {
            return Err(invalid("application.id", "", "must not be empty"));
        }
        let uses_dlq = [
            self.deserialization_exception_handler,
            self.processing_exception_handler,
            self.production_exception_handler,
        ]
        .contains(&ErrorHandler::DeadLetterQueue);
        if self.rocksdb_write_buffer_bytes > self.rocksdb_block_cache_bytes {
            return Err(invalid(
                "rocksdb.write.buffer.bytes",
                &self.rocksdb_write_buffer_bytes.to_string(),
                "memtables are counted inside rocksdb.block.cache.bytes, so this must not exceed it",
            ));
        }
        // As Kafka Streams: a transaction stays open for a commit interval, so a shorter
        // transaction timeout would have the coordinator abort every transaction.
        if self.processing_guarantee == ProcessingGuarantee::ExactlyOnceV2
            && self.commit_interval().as_millis() as u64 > self.transaction_timeout_ms()
        {
            return Err(invalid(
                "commit.interval.ms",
                &self.commit_interval().as_millis().to_string(),
                format!(
                    "under exactly_once_v2 it must not exceed the producers' transaction.timeout.ms ({}); \
                     raise producer.transaction.timeout.ms",
                    self.transaction_timeout_ms()
                ),
            ));
        }
        if uses_dlq && self.errors_dead_letter_queue_topic_name.is_none() {
            return Err(invalid(
                "errors.dead.letter.queue.topic.name",
                "",
                "a handler is dead_letter_queue, so the dead-letter topic must be set",
            ));
        }
        if let Some(url) = &self.state_snapshot_store {
            let options: Vec<(String, String)> = self.state_snapshot_options.clone().into_iter().collect();
            sluice_state::snapshot::parse_location(url, &options)
                .map_err(|e| invalid("state.snapshot.store", url, e.to_string()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafka_keys_and_rejects_bad_values() {
        let mut c = StreamsConfig::new("app", "");
        c.set(
            "default.deserialization.exception.handler",
            "org.apache.kafka.streams.errors.LogAndContinueExceptionHandler",
        )
        .unwrap();
        assert_eq!(c.deserialization_exception_handler, ErrorHandler::LogAndContinue);
        c.set("commit.interval.ms", "250").unwrap();
        assert_eq!(c.commit_interval(), Duration::from_millis(250));
        c.set("consumer.fetch.min.bytes", "1").unwrap();
        assert_eq!(c.client_overrides["consumer.fetch.min.bytes"], "1");
        let err = c.set("num.stream.threads", "zero").unwrap_err().to_string();
        assert!(err.contains("num.stream.threads"), "{err}");
        assert!(c.set("num.stream.threads", "0").is_err());
        assert!(c.statestore_cache_flush_when_idle);
        c.set("statestore.cache.flush.when.idle", "false").unwrap();
        assert!(!c.statestore_cache_flush_when_idle);
        assert!(c.set("statestore.cache.flush.when.idle", "no").is_err());
        assert!(matches!(
            c.set("no.such.key", "1"),
            Err(ConfigError::UnknownKey { .. })
        ));
    }

    #[test]
    fn exactly_once_commit_interval_must_fit_the_transaction_timeout() {
        let mut c = StreamsConfig::new("app", "");
        c.set("processing.guarantee", "exactly_once_v2").unwrap();
        c.set("commit.interval.ms", "60000").unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("transaction.timeout.ms"), "{err}");
        c.set("producer.transaction.timeout.ms", "120000").unwrap();
        c.validate().unwrap();
        assert_eq!(c.transaction_timeout_ms(), 120_000);
        c.set("processing.guarantee", "at_least_once").unwrap();
        c.set("commit.interval.ms", "600000").unwrap();
        c.validate().unwrap();
    }

    #[test]
    fn dead_letter_handler_needs_a_topic() {
        let mut c = StreamsConfig::new("app", "");
        c.set("processing.exception.handler", "dead_letter_queue")
            .unwrap();
        assert!(c.validate().is_err());
        c.set("errors.dead.letter.queue.topic.name", "app-dlq").unwrap();
        c.validate().unwrap();
    }
}
