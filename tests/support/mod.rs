//! Test harness for tests against a real Kafka-protocol broker: nisshi 0.7.0, started on a free
//! loopback port once per test binary, plus helpers to create topics, produce and consume.
//!
//! The broker binary is found in `$SLUICE_NISSHI`, on `PATH`, or in `~/.cargo/bin`; the
//! README's test command installs it (`cargo install nisshi --version 0.7.0 ...`).

#![allow(dead_code)]

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use sluice::engine::client::rdkafka::RdKafkaClient;
use sluice::engine::client::{KafkaClient, NewTopic};
use sluice::engine::StreamsConfig;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub struct Broker {
    pub bootstrap: String,
    pub port: u16,
    child: std::sync::Mutex<Option<Child>>,
    log: PathBuf,
    /// Port of the S3 server holding the broker's data, for a broker that survives restarts.
    s3_port: Option<u16>,
}

fn nisshi_binary() -> PathBuf {
    if let Ok(p) = std::env::var("SLUICE_NISSHI") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("nisshi"))
            .find(|p| p.is_file())
    }) {
        return p;
    }
    let home = PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo/bin/nisshi");
    if home.is_file() {
        return home;
    }
    panic!(
        "the nisshi broker is not installed: run the README's test command, or \
         `cargo install nisshi --version 0.7.0 --ignore-rust-version --no-default-features --features dynostore`"
    );
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Broker {
    /// Starts a broker on a free port (it dies with the test process).
    pub fn start() -> Broker {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("sluice-nisshi-{}-{port}.log", std::process::id()));
        let broker = Broker {
            bootstrap: format!("127.0.0.1:{port}"),
            port,
            child: std::sync::Mutex::new(None),
            log,
            s3_port: None,
        };
        broker.launch();
        broker
    }

    /// A broker whose data lives in a local S3 server (moto), so that it survives a restart of
    /// the broker process. Needs `moto_server` (PyPI `moto[server]`), which the README's test
    /// command installs.
    pub fn start_durable() -> Broker {
        let s3_port = free_port();
        // `moto_server` where pip put it on PATH, else the module of the same name.
        let moto = match which("moto_server") {
            Some(p) => format!("'{}'", p.display()),
            None if Command::new("python3")
                .args(["-c", "import moto.server"])
                .status()
                .is_ok_and(|s| s.success()) =>
            {
                "python3 -m moto.server".to_string()
            }
            None => panic!(
                "moto is not installed: run the README's test command, or `pip install 'moto[server]'`"
            ),
        };
        let script = format!(
            "{moto} -p {s3_port} >/dev/null 2>&1 & m=$!; \
             while kill -0 {parent} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 0.2; done; kill $m 2>/dev/null",
            parent = std::process::id(),
        );
        // The watchdog outlives this call and ends with the test process; nothing waits for it.
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawning moto_server");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // The broker's bucket; moto accepts unsigned requests.
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", s3_port)) {
                use std::io::{Read, Write};
                let req = format!("PUT /nisshi HTTP/1.1\r\nHost: 127.0.0.1:{s3_port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                if s.write_all(req.as_bytes()).is_ok() {
                    let mut resp = String::new();
                    let _ = s.read_to_string(&mut resp);
                    if resp.starts_with("HTTP/1.1 200") {
                        break;
                    }
                }
            }
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let port = free_port();
        let broker = Broker {
            bootstrap: format!("127.0.0.1:{port}"),
            port,
            child: std::sync::Mutex::new(None),
            log: std::env::temp_dir().join(format!("sluice-nisshi-{}-{port}.log", std::process::id())),
            s3_port: Some(s3_port),
        };
        broker.launch();
        broker
    }

    /// Starts (or restarts) the broker process on this broker's port.
    pub fn launch(&self) {
        let bin = nisshi_binary();
        let url = format!("tcp://127.0.0.1:{}", self.port);
        // A watchdog shell kills the broker when the test process exits (statics are never
        // dropped, so Drop cannot).
        let (storage, env) = match self.s3_port {
            None => ("memory://".to_string(), String::new()),
            Some(p) => (
                "s3://nisshi/".to_string(),
                format!(
                    "AWS_ENDPOINT=http://127.0.0.1:{p} AWS_ALLOW_HTTP=true AWS_ACCESS_KEY_ID=test \
                     AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 "
                ),
            ),
        };
        let script = format!(
            "{env}'{bin}' broker --storage-engine {storage} --listener-url {url} --advertised-listener-url {url} \
             --group-initial-rebalance-delay 0s >>'{log}' 2>&1 & b=$!; \
             while kill -0 {parent} 2>/dev/null && kill -0 $b 2>/dev/null; do sleep 0.2; done; kill $b 2>/dev/null",
            bin = bin.display(),
            log = self.log.display(),
            parent = std::process::id(),
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawning the broker");
        *self.child.lock().unwrap() = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the broker did not start; see {}",
                self.log.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the broker process (its memory storage is lost with it).
    pub fn kill(&self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let _ = Command::new("pkill").arg("-P").arg(c.id().to_string()).status();
            let _ = c.kill();
            let _ = c.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
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
            .set("linger.ms", "5")
            .create()
            .unwrap();
        for (k, v, ts) in records {
            let mut r = BaseRecord::<str, str>::to(topic)
                .key(k.as_ref())
                .payload(v.as_ref())
                .timestamp(*ts);
            loop {
                match producer.send(r) {
                    Ok(()) => break,
                    Err((_, back)) => {
                        producer.poll(Duration::from_millis(10));
                        r = back;
                    }
                }
            }
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    }

    /// Reads every partition of `topic` from the start until `expected` records arrived or
    /// `timeout` passed; returns (key, value, timestamp) with null values as "null".
    pub fn consume(&self, topic: &str, expected: usize, timeout: Duration) -> Vec<(String, String, i64)> {
        let consumer: BaseConsumer = self
            .client_config()
            .set("group.id", "sluice-test-reader")
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
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
