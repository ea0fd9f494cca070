//! Test harness for tests against a real broker: Apache Kafka 4.x (single-node KRaft, from
//! `sluice-testkit`), started once per test binary on free loopback ports, plus helpers to
//! create topics, produce and consume. Each test gives its topics and application ids a unique
//! suffix ([`unique`]), so the tests of a binary share the broker and run in parallel.
//!
//! The broker's jars come from Maven Central through `scripts/kafka/fetch.sh`, which the
//! README's test command runs (and the first test runs, if needed).

#![allow(dead_code)]

pub mod maven;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use sluice::engine::client::rdkafka::RdKafkaClient;
use sluice::engine::client::{KafkaClient, NewTopic};
use sluice::engine::StreamsConfig;
use sluice_testkit::KafkaBroker;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// A Kafka broker of this test binary.
pub struct Broker {
    pub bootstrap: String,
    pub port: u16,
    kafka: KafkaBroker,
}

impl Broker {
    /// Starts a broker on free ports (it dies with the test process). Its data lives in its own
    /// log directory, so it survives [`Broker::kill`] and [`Broker::launch`].
    pub fn start() -> Broker {
        Broker::start_with(&[])
    }

    /// Like [`Broker::start`], with `server.properties` entries added or replacing the
    /// defaults.
    pub fn start_with(overrides: &[(&str, &str)]) -> Broker {
        let kafka = KafkaBroker::start_with(overrides).unwrap_or_else(|e| panic!("starting Kafka: {e}"));
        Broker {
            bootstrap: kafka.bootstrap().to_string(),
            port: kafka.port(),
            kafka,
        }
    }

    /// Starts the broker again after [`Broker::kill`], on the same log directory and ports.
    pub fn launch(&self) {
        self.kafka
            .restart()
            .unwrap_or_else(|e| panic!("restarting Kafka: {e}"));
    }

    /// The broker's own log (WARN and above, appended to across restarts).
    pub fn log_path(&self) -> &std::path::Path {
        self.kafka.log_path()
    }

    /// The broker's log directory (see `sluice_testkit::log_segments`).
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.kafka.data_dir()
    }

    /// Kills the broker process (kill -9).
    pub fn kill(&self) {
        self.kafka.kill();
    }

    pub fn config(&self, app: &str) -> StreamsConfig {
        let mut c = StreamsConfig::new(app, &self.bootstrap);
        // Quick failure detection in tests.
        c.set("consumer.session.timeout.ms", "6000").unwrap();
        c.set("consumer.heartbeat.interval.ms", "500").unwrap();
        c
    }

    /// Creates an input and an output topic with unique names derived from `name`.
    pub fn topic_pair(&self, name: &str, partitions: i32) -> (String, String) {
        let (input, output) = (unique(&format!("{name}-in")), unique(&format!("{name}-out")));
        self.create_topic(&input, partitions);
        self.create_topic(&output, partitions);
        (input, output)
    }

    pub fn create_topic(&self, name: &str, partitions: i32) {
        let client = RdKafkaClient::new(Arc::new(self.config("admin")));
        client
            .admin()
            .unwrap()
            .create_topics(&[NewTopic {
                name: name.into(),
                partitions,
                replication_factor: -1,
                configs: vec![],
            }])
            .unwrap();
    }

    fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap);
        c
    }

    /// Writes records (key, value, timestamp), partitioned like Java clients.
    pub fn produce<K: AsRef<str>, V: AsRef<str>>(&self, topic: &str, records: &[(K, V, i64)]) {
        let producer: BaseProducer = self
            .client_config()
            .set("partitioner", "murmur2_random")
            // In order and once, as the tests' expectations assume, even if a batch is retried.
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create()
            .unwrap();
        for (k, v, ts) in records {
            let r = BaseRecord::<str, str>::to(topic)
                .key(k.as_ref())
                .payload(v.as_ref())
                .timestamp(*ts);
            send_retrying(&producer, r);
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    }

    /// A `read_committed` consumer assigned every partition of `topic` from its start.
    pub fn reader(&self, topic: &str) -> BaseConsumer {
        let consumer: BaseConsumer = self
            .client_config()
            .set("group.id", "sluice-test-reader")
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .set("fetch.wait.max.ms", "10")
            .create()
            .unwrap();
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in metadata.topics()[0].partitions() {
            tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&tpl).unwrap();
        consumer
    }

    /// Reads every partition of `topic` from the start until `expected` records arrived or
    /// `timeout` passed; returns (key, value, timestamp) with null values as "null".
    pub fn consume(&self, topic: &str, expected: usize, timeout: Duration) -> Vec<(String, String, i64)> {
        let consumer = self.reader(topic);
        let mut out = Vec::new();
        let deadline = Instant::now() + timeout;
        while out.len() < expected && Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                out.push((
                    String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                    m.payload()
                        .map_or("null".into(), |v| String::from_utf8_lossy(v).into_owned()),
                    m.timestamp().to_millis().unwrap_or(-1),
                ));
            }
        }
        out
    }
}

/// Queues `record`, serving deliveries while the producer's queue is full.
pub fn send_retrying<C, K, P>(producer: &BaseProducer<C>, mut record: BaseRecord<'_, K, P, C::DeliveryOpaque>)
where
    C: rdkafka::producer::ProducerContext,
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((_, back)) => {
                producer.poll(Duration::from_millis(10));
                record = back;
            }
        }
    }
}

/// Logs of a child process go to its stderr, at the level `RUST_LOG` sets (assignments,
/// restores and commits at `info`).
pub fn log_to_stderr() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
}

/// The start of a process test's `main` (`harness = false`): in `child ...` mode runs `child`
/// with the arguments after `child`; true if the process is done then, or if the harness only
/// probes (`--list`).
pub fn child_or_probe(child: impl FnOnce(&[String])) -> bool {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        child(&args[2..]);
        return true;
    }
    args.iter().any(|a| a == "--list")
}

/// Child-process mode of the process tests: waits until `streams` runs, prints `RUNNING`, then
/// serves until the parent writes `close` (or closes stdin).
pub fn serve_until_close(streams: &sluice::engine::Streams, wait: Duration) {
    use std::io::Write;
    assert!(
        streams.wait_for_state(sluice::engine::StreamsState::Running, wait),
        "child never running: {:?}",
        streams.errors()
    );
    println!("RUNNING");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    while std::io::stdin()
        .read_line(&mut line)
        .map(|n| n > 0)
        .unwrap_or(false)
    {
        if line.trim() == "close" {
            break;
        }
        line.clear();
    }
}

/// A record as a reader sees it, bytes as written.
#[derive(Debug, Clone)]
pub struct Read {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub timestamp: i64,
}

impl Broker {
    /// Reads every partition of `topic` from the start (`read_committed`) until it has been
    /// idle for `idle` (nothing more arrives) or `timeout` passed; in partition and offset order.
    pub fn read_all(&self, topic: &str, idle: Duration, timeout: Duration) -> Vec<Read> {
        let consumer = self.reader(topic);
        let mut out = Vec::new();
        let deadline = Instant::now() + timeout;
        let mut last = Instant::now();
        while Instant::now() < deadline && last.elapsed() < idle {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                last = Instant::now();
                out.push(Read {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                    timestamp: m.timestamp().to_millis().unwrap_or(-1),
                });
            }
        }
        out.sort_by_key(|r| (r.partition, r.offset));
        out
    }
}

/// Counts records per key: `input` (string keys) -> `output` (the running count as a string).
/// Every count of every key appears once per input, so outputs are checkable exactly.
pub fn count_topology(input: &str, output: &str) -> sluice::prelude::Topology {
    use sluice::prelude::*;
    let builder = StreamsBuilder::new();
    builder
        .stream(input, Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .count(Materialized::as_("counts"))
        .to_stream()
        .map_values(|n| n.to_string())
        .to(output, Produced::with(Serde::string(), Serde::string()));
    builder.build().expect("a valid topology")
}

/// The broker of this test binary.
pub fn broker() -> &'static Broker {
    static BROKER: OnceLock<Broker> = OnceLock::new();
    BROKER.get_or_init(Broker::start)
}

/// A name unique to this test run, for topics and application ids.
pub fn unique(name: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// A fresh state directory for one application instance.
pub fn state_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// This test binary run as an application instance (`child` mode, see [`child_or_probe`]):
/// its stdout lines are collected, and `close` on stdin asks it to stop (see
/// [`serve_until_close`]).
pub struct ChildInstance {
    process: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    wait: Duration,
}

impl ChildInstance {
    /// Starts `<this binary> child <args...>` and waits (up to `wait`) until it prints
    /// `RUNNING`.
    pub fn start(args: &[&std::ffi::OsStr], wait: Duration) -> ChildInstance {
        use std::io::BufRead;
        let mut process = std::process::Command::new(std::env::current_exe().unwrap())
            .arg("child")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = process.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let child = ChildInstance {
            stdin: process.stdin.take(),
            process,
            lines,
            wait,
        };
        child.expect_line("RUNNING");
        child
    }

    /// The next line starting with `prefix` (panics after the instance's wait).
    pub fn expect_line(&self, prefix: &str) -> String {
        let deadline = Instant::now() + self.wait;
        while Instant::now() < deadline {
            if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
                if l.starts_with(prefix) {
                    return l;
                }
            }
        }
        panic!("instance never printed {prefix}");
    }

    /// Asks the instance to close, waits for its line starting with `done` and for a clean
    /// exit; returns that line.
    pub fn close(mut self, done: &str) -> String {
        use std::io::Write;
        writeln!(self.stdin.take().unwrap(), "close").unwrap();
        let line = self.expect_line(done);
        assert!(self.process.wait().unwrap().success());
        line
    }

    /// Kills the instance (SIGKILL) and reaps it.
    pub fn kill(mut self) {
        self.process.kill().unwrap();
        self.process.wait().unwrap();
    }
}
