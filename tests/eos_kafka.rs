//! Exactly-once under crashes on a real broker (Apache Kafka, single-node KRaft): application
//! instances are separate processes (this binary in `child` mode) that are killed with SIGKILL
//! and restarted on their own state directories, and the broker itself is killed once. A
//! `read_committed` verifier then reads every output topic and every changelog and finds every
//! effect of every input exactly once: zero lost, zero duplicated.
//!
//! 1. **Chaos** (`main`): three instances of two stream threads each run one application with
//!    three sub-applications on one keyed input: (a) a running count per key, (b) a 5-minute
//!    tumbling windowed count per key, (c) a stream-table join after a re-keying repartition. A
//!    producer feeds the input at 300 records/s while a chaos loop kills a random instance every
//!    few seconds, mostly while the group processes (so that the victim has a transaction open,
//!    or is committing), restarting it on the same state directory; once it kills and restarts
//!    the broker. The verifier also prints how many aborted records each topic holds (visible to
//!    `read_uncommitted` readers only).
//! 2. **Recovery figure** (`recovery`): after a kill -9 and restart of a (single) instance, the
//!    time until a `read_committed` reader sees new output (printed, not asserted), and until
//!    the killed instance's open transactions are aborted: the restarted instance keeps its
//!    transactional ids (the process id lives in the state directory), so its producers fence
//!    their predecessors' at once instead of after `transaction.timeout.ms`.
//! 3. **Aborted work is invisible** (`abort`): an instance killed with an open transaction (5 s
//!    commit interval, no cache) has written output and repartition records that a
//!    `read_uncommitted` reader sees and `read_committed` readers never do; restarted on the same
//!    state directory it produces the exact outputs. (Sluice writes changelog records at commit
//!    time, one per changed key, so an open transaction holds none; aborted changelog records
//!    come from kills in the middle of a commit, which the chaos scenario shows.)
//!
//! Kafka itself can leave a transaction hanging when it restarts (see
//! `chaos_once_more_if_the_broker_skipped_markers`): a chaos run that stalls on that, and only
//! on that, runs once more and says so.
//!
//! Run: `cargo test --test eos_kafka` runs all three (CI does; about 3 minutes on two cores).
//! The chaos scenario found two stalls in the runtime (a join task stopped processing after a
//! kill), both about paused partitions: librdkafka keeps a partition paused across a rebalance
//! that gives it back to the same consumer, and a failed processing step forgot partitions it
//! had meant to resume (DESIGN.md, backpressure; simulation seeds 2957 and 1364). A longer run:
//! `SLUICE_CHAOS_ROUNDS=60 SLUICE_EOS_SCENARIOS=main cargo test --test eos_kafka` (each round
//! takes about 10 s; up to ~150 rounds, beyond which the event-time clock outruns the window
//! changelog's retention). `SLUICE_EOS_SCENARIOS` picks scenarios (`abort,recovery,main`);
//! `SLUICE_CHAOS_SEED=<n>` replays the chaos loop's choices (victims, pauses; not the timing of
//! the processes). `RUST_LOG=info` shows the instances' logs (assignments, restores, commits) on
//! stderr, or one file per instance in `SLUICE_EOS_LOG_DIR=<dir>` (with the broker's own log,
//! `broker.log`).

mod support;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use sluice::engine::{Streams, UncaughtAction};
use sluice::prelude::*;
use sluice_testkit::log_segments::{self, Batch, Outcome};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use support::{unique, Broker};

/// Bound of every wait for an instance or the broker.
const WAIT: Duration = Duration::from_secs(120);
/// Kill rounds of the chaos scenario unless `SLUICE_CHAOS_ROUNDS` says otherwise.
const DEFAULT_ROUNDS: u32 = 6;
/// Partitions of every topic (the repartition topic gets as many).
const PARTITIONS: i32 = 6;
/// Distinct input keys and join keys.
const USERS: u64 = 40;
const CUSTOMERS: u64 = 12;
/// Each input advances the event-time clock by `STEP_MS`. The clock starts `LOOKBACK_MS` before
/// the wall clock (plus 400 s per chaos round: 10 s at 300 records/s), so that neither the
/// topics' retention (7 days; the window changelog's 1 day) deletes records nor the broker
/// refuses timestamps more than an hour ahead (`log.message.timestamp.after.max.ms`).
const STEP_MS: i64 = 100;
const LOOKBACK_MS: i64 = 3 * 3600 * 1000;
/// Tumbling window size of sub-application (b).
const WINDOW_MS: i64 = 5 * 60 * 1000;
/// Stores whose changelogs (`<application.id>-<store>-changelog`) the verifier reads.
const COUNT_STORE: &str = "counts";
const WINDOW_STORE: &str = "window-counts";

// ---------------------------------------------------------------------------------------------
// The application

/// The topics of one application run.
#[derive(Clone, Debug)]
struct Topics {
    /// Event time of input 0 (not passed to instances, which do not need it).
    base: i64,
    input: String,
    profiles: String,
    counts: String,
    windows: String,
    joins: String,
}

impl Topics {
    /// Creates the topics and loads one profile per customer into the profiles table's topic
    /// (before the application starts, at a timestamp below every input's).
    fn create(broker: &Broker, name: &str, lookback_ms: i64) -> Topics {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let t = Topics {
            base: now - lookback_ms,
            input: unique(&format!("{name}-input")),
            profiles: unique(&format!("{name}-profiles")),
            counts: unique(&format!("{name}-counts")),
            windows: unique(&format!("{name}-windows")),
            joins: unique(&format!("{name}-joins")),
        };
        for topic in t.all() {
            broker.create_topic(topic, PARTITIONS);
        }
        let profiles: Vec<_> = (0..CUSTOMERS)
            .map(|c| (format!("cust-{c}"), profile_of(&format!("cust-{c}")), t.base - 1))
            .collect();
        broker.produce(&t.profiles, &profiles);
        t
    }

    fn all(&self) -> [&String; 5] {
        [
            &self.input,
            &self.profiles,
            &self.counts,
            &self.windows,
            &self.joins,
        ]
    }

    fn outputs(&self) -> [&String; 3] {
        [&self.counts, &self.windows, &self.joins]
    }

    fn from_args(a: &[String]) -> Topics {
        let [input, profiles, counts, windows, joins] = a else {
            panic!("five topics expected, got {a:?}")
        };
        Topics {
            base: 0,
            input: input.clone(),
            profiles: profiles.clone(),
            counts: counts.clone(),
            windows: windows.clone(),
            joins: joins.clone(),
        }
    }
}

fn profile_of(customer: &str) -> String {
    format!("profile-of-{customer}")
}

/// The customer (join key) of an input value `p<i>:cust-<c>`.
fn customer_of(value: &str) -> &str {
    value.split(':').nth(1).unwrap_or("none")
}

/// One topology with three branches on the same input stream, rather than three applications:
/// it is ONE application, as the issue asks, and a stream thread's transaction then spans all
/// three sub-applications at once (two outputs, two changelogs and the repartition topic of
/// sub-topology 0, the join output of sub-topology 1), which is the harder case for the commit
/// protocol. Every effect is still checkable per branch.
fn topology(t: &Topics) -> Topology {
    let builder = StreamsBuilder::new();
    let input = builder.stream(&t.input, Consumed::with(Serde::string(), Serde::string()));
    // (a) Running count per key.
    input
        .group_by_key()
        .count(Materialized::as_(COUNT_STORE).with_value_serde(Serde::i64()))
        .to_stream()
        .map_values(|n| n.to_string())
        .to(&t.counts, Produced::with(Serde::string(), Serde::string()));
    // (b) 5-minute tumbling windowed count per key.
    input
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_millis(
            WINDOW_MS as u64,
        )))
        .count(Materialized::as_(WINDOW_STORE).with_value_serde(Serde::i64()))
        .to_stream()
        .map(|w, n| (format!("{}@{}", w.key, w.window.start), n.to_string()))
        .to(&t.windows, Produced::with(Serde::string(), Serde::string()));
    // (c) Re-keyed by customer, repartitioned, joined with the profiles table. The repartition
    // topic gets string serdes so that it is partitioned like the profiles topic (bincode, the
    // default for repartition topics, would put a customer's records elsewhere).
    let profiles = builder.table_with(
        &t.profiles,
        Consumed::with(Serde::string(), Serde::string()),
        Materialized::as_("profile-store"),
    );
    input
        .select_key(|_, v: &String| customer_of(v).to_string())
        .repartition_with(Repartitioned::with(Serde::string(), Serde::string()))
        .join_table(&profiles, |payment: &String, profile: &String| {
            format!("{payment}|{profile}")
        })
        .to(&t.joins, Produced::with(Serde::string(), Serde::string()));
    builder.build().expect("a valid topology")
}

/// Input record `i`: key `user-<u>`, value `p<i>:cust-<c>`, at `base + i * STEP_MS`.
fn record(base: i64, i: u64) -> (String, String, i64) {
    let h = splitmix(i ^ 0x5eed);
    (
        format!("user-{}", h % USERS),
        format!("p{i}:cust-{}", (h >> 32) % CUSTOMERS),
        base + i as i64 * STEP_MS,
    )
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A small seeded generator for the chaos loop's choices.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = splitmix(self.0);
        self.0 % n
    }
}

// ---------------------------------------------------------------------------------------------
// Child mode: one application instance

/// `child <bootstrap> <app> <state-dir> <5 topics> [key=value...]`; stdin "close" closes it.
fn child(args: &[String]) {
    let [bootstrap, app, state_dir, rest @ ..] = args else {
        panic!("child needs: bootstrap app state-dir topics... key=value...")
    };
    let topics = Topics::from_args(&rest[..5]);
    support::log_to_stderr();
    let mut config = StreamsConfig::new(app, bootstrap);
    config.state_dir = state_dir.into();
    for kv in &rest[5..] {
        let (k, v) = kv.split_once('=').expect("key=value");
        config.set(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    let streams = Streams::new(topology(&topics), config).unwrap();
    streams.set_uncaught_exception_handler(|_| UncaughtAction::ReplaceThread);
    streams.start().unwrap();
    support::serve_until_close(&streams, WAIT);
    streams.close().unwrap();
    let m = streams.metrics();
    println!(
        "CLOSED processed={} commits={} aborts={} errors={}",
        m.total("sluice_records_processed_total", &[]),
        m.total("sluice_commits_total", &[]),
        m.total("sluice_transaction_aborts_total", &[]),
        streams.errors().len()
    );
    std::io::stdout().flush().unwrap();
}

/// How to start one instance (again): same application, same state directory.
struct Spec {
    bootstrap: String,
    app: String,
    topics: Topics,
    dir: PathBuf,
    config: Vec<(&'static str, &'static str)>,
}

/// With the restore consumer's default fetch long-poll (librdkafka's `fetch.wait.max.ms`, 500
/// ms) restoring a store takes 0.5-1 s even when its changelog is empty, one store after the
/// other: a restarted instance of this application (12 tasks, 18 stores) restores for ~8 s
/// instead of ~1 s. The chaos and abort scenarios shorten the wait, to keep the binary's run time
/// down and let the group process between kills; the recovery scenario keeps the default, so its
/// figure is the default's.
const FAST_RESTORE: (&str, &str) = ("restore.consumer.fetch.wait.max.ms", "10");

/// Settings every instance gets.
/// - `max.task.idle.ms`: a join task created after a kill may fetch its repartitioned stream
///   before its profiles partition. Lag-aware idling (KIP-695) waits only for partitions known
///   to have records; a profile written just before the payment may not be known yet, and the
///   inner join would drop the payment. Waiting up to a second for an empty input keeps the
///   join deterministic, as Kafka Streams' docs advise for joins.
/// - `consumer.max.poll.interval.ms` is the group's rebalance timeout. Restarted after kill -9,
///   the test broker has been seen to keep the members of the group's last generation without
///   expiring their sessions (no "has failed" line in its log for two minutes): a rebalance then
///   waits for members that are dead until the rebalance timeout, by default five minutes,
///   longer than a child waits to run. 45 s bounds that wait. The broker is down for seconds
///   here, so no stream thread should block that long between polls; one that did would leave
///   the group and rejoin, a path the engine handles (tasks lost, closed dirty).
const BASE_CONFIG: [(&str, &str); 6] = [
    ("processing.guarantee", "exactly_once_v2"),
    ("statestore.cache.max.bytes", "0"),
    ("consumer.session.timeout.ms", "6000"),
    ("consumer.heartbeat.interval.ms", "500"),
    ("consumer.max.poll.interval.ms", "45000"),
    ("max.task.idle.ms", "1000"),
];

impl Spec {
    fn new(
        broker: &Broker,
        app: &str,
        topics: &Topics,
        dir: &Path,
        extra: &[(&'static str, &'static str)],
    ) -> Spec {
        Spec {
            bootstrap: broker.bootstrap.clone(),
            app: app.to_string(),
            topics: topics.clone(),
            dir: dir.to_path_buf(),
            config: BASE_CONFIG.iter().chain(extra).copied().collect(),
        }
    }
}

/// A running child process.
struct Instance {
    process: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    running: bool,
}

impl Instance {
    /// Starts the process; does not wait for it to run (see [`Instance::wait_running`]).
    fn spawn(spec: &Spec) -> Instance {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["child", &spec.bootstrap, &spec.app])
            .arg(&spec.dir)
            .args(spec.topics.all())
            .args(spec.config.iter().map(|(k, v)| format!("{k}={v}")));
        // With `SLUICE_EOS_LOG_DIR`, each instance's log (stderr; `RUST_LOG` sets its level)
        // goes to `<dir>/instance<state dir name>.log`, appended across restarts, instead of the test's
        // stderr where the instances' lines interleave.
        if let Some(logs) = std::env::var_os("SLUICE_EOS_LOG_DIR") {
            let name = spec.dir.file_name().expect("a state directory name");
            let path = Path::new(&logs).join(format!("instance{}.log", name.to_string_lossy()));
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            cmd.stderr(file);
        }
        let mut process = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let stdout = process.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Instance {
            stdin: process.stdin.take(),
            process,
            lines,
            running: false,
        }
    }

    fn start(spec: &Spec) -> Instance {
        let mut i = Instance::spawn(spec);
        i.wait_running(WAIT);
        i
    }

    /// The next line starting with `prefix` within `timeout`, if any; panics if the process
    /// exited.
    fn line(&mut self, prefix: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.lines.recv_timeout(Duration::from_millis(20)) {
                Ok(l) if l.starts_with(prefix) => return Some(l),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.process.wait().unwrap();
                    panic!("instance exited ({status}) before printing {prefix}")
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if Instant::now() >= deadline {
                return None;
            }
        }
    }

    /// True once the instance printed RUNNING (waiting up to `timeout`).
    fn poll_running(&mut self, timeout: Duration) -> bool {
        if !self.running && self.line("RUNNING", timeout).is_some() {
            self.running = true;
        }
        self.running
    }

    fn wait_running(&mut self, timeout: Duration) {
        assert!(
            self.poll_running(timeout),
            "instance not running after {timeout:?}"
        );
    }

    /// Closes gracefully; returns its CLOSED line.
    fn close(mut self) -> String {
        self.wait_running(WAIT);
        writeln!(self.stdin.take().unwrap(), "close").unwrap();
        let line = self
            .line("CLOSED", WAIT)
            .unwrap_or_else(|| panic!("instance did not close within {WAIT:?}"));
        assert!(self.process.wait().unwrap().success());
        line
    }

    /// kill -9, and waits for the process to be gone (its state directory lock released).
    fn kill(mut self) {
        self.process.kill().unwrap();
        self.process.wait().unwrap();
    }
}

/// A panicking test leaves no instance behind.
impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// The input feed

/// Counts failed deliveries of the feed's producer.
struct FeedContext {
    failed: AtomicU64,
}

impl ClientContext for FeedContext {}

impl ProducerContext for FeedContext {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            eprintln!("feed: delivery failed: {e}");
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A producer thread writing `record(i)` for i = 0, 1, ... at a steady rate (idempotent, so the
/// broker's restart neither loses nor duplicates input).
struct Feed {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    handle: Option<JoinHandle<u64>>,
}

impl Drop for Feed {
    /// A scenario that failed stops its feed too (the thread ends on its own).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Feed {
    fn start(broker: &Broker, topics: &Topics, per_second: u64) -> Feed {
        let producer: BaseProducer<FeedContext> = ClientConfig::new()
            .set("bootstrap.servers", &broker.bootstrap)
            .set("partitioner", "murmur2_random")
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create_with_context(FeedContext {
                failed: AtomicU64::new(0),
            })
            .unwrap();
        let (stop, sent) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let (stop2, sent2) = (stop.clone(), sent.clone());
        let (topic, base) = (topics.input.clone(), topics.base);
        let handle = std::thread::spawn(move || {
            let started = Instant::now();
            let mut i = 0u64;
            while !stop2.load(Ordering::Relaxed) {
                let due = started.elapsed().as_millis() as u64 * per_second / 1000;
                while i < due {
                    let (k, v, ts) = record(base, i);
                    let r = BaseRecord::to(&topic).key(&k).payload(&v).timestamp(ts);
                    support::send_retrying(&producer, r);
                    i += 1;
                    sent2.store(i, Ordering::Relaxed);
                }
                producer.poll(Duration::from_millis(10));
            }
            producer
                .flush(Duration::from_secs(120))
                .expect("the feed's records were not all delivered within 120 s");
            let failed = producer.context().failed.load(Ordering::Relaxed);
            assert_eq!(failed, 0, "the feed failed to deliver {failed} records");
            i
        });
        Feed {
            stop,
            sent,
            handle: Some(handle),
        }
    }

    /// Stops producing; returns the number of records written (all delivered).
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let handle = self.handle.take().expect("a running feed");
        handle.join().expect("the feed thread panicked")
    }
}

// ---------------------------------------------------------------------------------------------
// Reading topics

/// A record as read: partition, offset, key and value bytes.
#[derive(Clone, Debug)]
struct Rec {
    partition: i32,
    offset: i64,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
}

impl Rec {
    fn key_str(&self) -> String {
        String::from_utf8_lossy(&self.key).into_owned()
    }
    fn value_str(&self) -> String {
        self.value
            .as_deref()
            .map_or("null".into(), |v| String::from_utf8_lossy(v).into_owned())
    }
}

/// A topic's log as the broker's files hold it: which transaction wrote a record, and how it
/// ended (see `sluice_testkit::log_segments`). It tells a record Sluice committed twice from
/// an aborted one a `read_committed` reader was shown anyway.
struct TopicLog {
    topic: String,
    partitions: BTreeMap<i32, Vec<Batch>>,
}

impl TopicLog {
    fn read(broker: &Broker, topic: &str, records: &[Rec]) -> TopicLog {
        let parts: BTreeSet<i32> = records.iter().map(|r| r.partition).collect();
        let partitions = parts
            .into_iter()
            .map(|p| {
                let batches = log_segments::batches(&broker.data_dir(), topic, p)
                    .unwrap_or_else(|e| panic!("reading the log of {topic}-{p}: {e}"));
                (p, batches)
            })
            .collect();
        TopicLog {
            topic: topic.to_string(),
            partitions,
        }
    }

    fn outcome(&self, r: &Rec) -> Option<(&Batch, Outcome)> {
        log_segments::outcome(self.partitions.get(&r.partition)?, r.offset)
    }

    /// `p<partition>@<offset> (producer <id> epoch <e>, <outcome>)`.
    fn describe(&self, r: &Rec) -> String {
        match self.outcome(r) {
            Some((b, o)) => format!(
                "p{}@{} (producer {} epoch {}, {o:?})",
                r.partition, r.offset, b.producer_id, b.producer_epoch
            ),
            None => format!("p{}@{} (not in the log files)", r.partition, r.offset),
        }
    }

    /// Every record a `read_committed` reader was shown must come from a committed
    /// transaction (or none), as the markers in the log say.
    fn check_committed(&self, records: &[Rec], problems: &mut Vec<String>) {
        for r in records {
            match self.outcome(r) {
                Some((_, Outcome::Committed | Outcome::NotTransactional)) => {}
                _ => problems.push(format!(
                    "{}: a read_committed reader was shown {}",
                    self.topic,
                    self.describe(r)
                )),
            }
        }
    }
}

fn reader(broker: &Broker, committed: bool) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap)
        .set("group.id", "sluice-eos-verifier")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "10")
        .set(
            "isolation.level",
            if committed {
                "read_committed"
            } else {
                "read_uncommitted"
            },
        )
        .create()
        .unwrap()
}

fn partitions(consumer: &BaseConsumer, topic: &str) -> Vec<i32> {
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("metadata of {topic}: {e}"));
    md.topics()[0].partitions().iter().map(|p| p.id()).collect()
}

/// Every record of `topic` from the beginning up to the end of every partition (for a
/// `read_committed` reader: the last stable offset), in partition order.
fn read_all(broker: &Broker, topic: &str, committed: bool) -> Vec<Rec> {
    let consumer = reader(broker, committed);
    let parts = partitions(&consumer, topic);
    let mut tpl = TopicPartitionList::new();
    for &p in &parts {
        tpl.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut at_end = BTreeSet::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while at_end.len() < parts.len() {
        assert!(
            Instant::now() < deadline,
            "reading {topic}: partitions {:?} never reached their end",
            parts.iter().filter(|p| !at_end.contains(*p)).collect::<Vec<_>>()
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push(Rec {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().unwrap_or_default().to_vec(),
                value: m.payload().map(<[u8]>::to_vec),
            }),
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => eprintln!("reading {topic}: {e}"),
            None => {}
        }
    }
    out
}

/// A reader that stays assigned to every partition of some topics (from the beginning) and
/// counts what it receives: reacts within milliseconds, unlike a fresh [`read_all`].
struct Tail {
    consumer: BaseConsumer,
    received: BTreeMap<String, usize>,
}

impl Tail {
    fn new(broker: &Broker, committed: bool, topics: &[&str]) -> Tail {
        let consumer = reader(broker, committed);
        let mut tpl = TopicPartitionList::new();
        for &t in topics {
            for p in partitions(&consumer, t) {
                tpl.add_partition_offset(t, p, Offset::Beginning).unwrap();
            }
        }
        consumer.assign(&tpl).unwrap();
        Tail {
            consumer,
            received: topics.iter().map(|t| (t.to_string(), 0)).collect(),
        }
    }

    /// Polls for `d`; returns the number of records received meanwhile.
    fn poll(&mut self, d: Duration) -> usize {
        let deadline = Instant::now() + d;
        let mut n = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Some(Ok(m)) = self.consumer.poll(left.min(Duration::from_millis(10))) {
                *self.received.entry(m.topic().to_string()).or_default() += 1;
                n += 1;
            }
            if left.is_zero() {
                return n;
            }
        }
    }

    fn count(&self, topic: &str) -> usize {
        self.received.get(topic).copied().unwrap_or(0)
    }
}

fn changelog(app: &str, store: &str) -> String {
    format!("{app}-{store}-changelog")
}

/// The application's repartition topics (their names are generated).
fn repartition_topics(broker: &Broker, app: &str) -> Vec<String> {
    let consumer = reader(broker, true);
    let md = consumer.fetch_metadata(None, Duration::from_secs(30)).unwrap();
    md.topics()
        .iter()
        .map(|t| t.name().to_string())
        .filter(|n| n.starts_with(&format!("{app}-")) && n.ends_with("-repartition"))
        .collect()
}

/// Waits until the committed outputs hold at least `n` records each (every input processed,
/// if nothing is lost).
/// Per partition of the application's source topics: the group's committed offset against the
/// partition's last stable offset (`read_committed` end) and high watermark, to show which
/// task stopped; and every partition of the application held back by an open transaction.
fn lag_report(broker: &Broker, app: &str, topics: &Topics) -> String {
    let rc = reader(broker, true);
    let ru = reader(broker, false);
    let group: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap)
        .set("group.id", app)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut sources = vec![topics.input.clone(), topics.profiles.clone()];
    sources.extend(repartition_topics(broker, app));
    let mut lines = Vec::new();
    for topic in &sources {
        let parts = partitions(&rc, topic);
        let mut tpl = TopicPartitionList::new();
        for &p in &parts {
            tpl.add_partition(topic, p);
        }
        let committed = group
            .committed_offsets(tpl, Duration::from_secs(10))
            .map(|c| {
                c.elements()
                    .iter()
                    .map(|e| format!("{:?}", e.offset()))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_else(|e| vec![format!("error: {e}")]);
        let ends = ends(&rc, &ru, topic, &parts);
        lines.push(format!(
            "  {topic}: committed {committed:?}, (last stable, high watermark) {ends:?}"
        ));
    }
    // A last stable offset short of the high watermark is an open transaction: which producer
    // holds it (a restoring task waits for it to resolve), read from the broker's log files.
    let mut all = sources;
    all.extend(topics.outputs().iter().map(|t| t.to_string()));
    all.extend([changelog(app, COUNT_STORE), changelog(app, WINDOW_STORE)]);
    for topic in &all {
        let parts = partitions(&rc, topic);
        for (&p, (lso, hw)) in parts.iter().zip(ends(&rc, &ru, topic, &parts)) {
            if lso < 0 || lso >= hw {
                continue;
            }
            let held = match log_segments::batches(&broker.data_dir(), topic, p) {
                Ok(batches) => match log_segments::outcome(&batches, lso) {
                    Some((b, o)) => format!(
                        "by producer {} epoch {} (batch {}..={}, {o:?})",
                        b.producer_id, b.producer_epoch, b.base_offset, b.last_offset
                    ),
                    None => "by no batch in the log files".to_string(),
                },
                Err(e) => format!("(log files unreadable: {e})"),
            };
            lines.push(format!(
                "  {topic}-{p}: held at {lso} (high watermark {hw}) {held}"
            ));
        }
    }
    lines.join("\n")
}

/// Why an instance may not run: the group's offsets and the transactions holding partitions.
fn not_running(broker: &Broker, app: &str, topics: &Topics) -> String {
    format!(
        "an instance is not running after {WAIT:?}; the group's offsets:\n{}",
        lag_report(broker, app, topics)
    )
}

fn wait_caught_up(broker: &Broker, app: &str, topics: &Topics, n: usize, timeout: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let have: Vec<usize> = topics
            .outputs()
            .iter()
            .map(|t| read_all(broker, t, true).len())
            .collect();
        if have.iter().all(|&h| h >= n) {
            return started.elapsed();
        }
        if started.elapsed() >= timeout {
            panic!(
                "not caught up after {timeout:?}: committed counts/windows/joins outputs hold \
                 {have:?} records, {n} inputs (lost work, or a stuck instance); the group's \
                 offsets:\n{}",
                lag_report(broker, app, topics)
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

// ---------------------------------------------------------------------------------------------
// The verifier

#[derive(Debug, Default)]
struct Figures {
    keys: usize,
    counts: usize,
    windows: usize,
    window_counts: usize,
    joins: usize,
    changelog_records: usize,
}

/// Checks one key's committed counts: exactly 1..=n, in order.
fn check_sequence(what: &str, seen: &[i64], n: i64, problems: &mut Vec<String>) {
    if seen.iter().copied().eq(1..=n) {
        return;
    }
    let mut times: BTreeMap<i64, usize> = BTreeMap::new();
    for &c in seen {
        *times.entry(c).or_default() += 1;
    }
    let lost: Vec<i64> = (1..=n).filter(|c| !times.contains_key(c)).collect();
    let duplicated: Vec<i64> = times.iter().filter(|(_, &m)| m > 1).map(|(&c, _)| c).collect();
    let beyond: Vec<i64> = times.range(n + 1..).map(|(&c, _)| c).collect();
    problems.push(format!(
        "{what}: {} values for {n} inputs; lost {lost:?}, duplicated {duplicated:?}, beyond n \
         {beyond:?}{}",
        seen.len(),
        if lost.is_empty() && duplicated.is_empty() && beyond.is_empty() {
            format!(", out of order: {seen:?}")
        } else {
            String::new()
        }
    ));
}

/// Checks a changelog's committed values per key: strictly increasing (never back, never
/// repeated) and ending at the reference.
fn check_changelog(
    what: &str,
    records: &[Rec],
    decode_key: impl Fn(&[u8]) -> Option<String>,
    expected: &BTreeMap<String, i64>,
    problems: &mut Vec<String>,
) {
    let mut by_key: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in records {
        let Some(key) = decode_key(&r.key) else {
            problems.push(format!("{what}: undecodable key {:?}", r.key));
            continue;
        };
        match r.value.as_deref().map(<[u8; 8]>::try_from) {
            Some(Ok(b)) => by_key.entry(key).or_default().push(i64::from_be_bytes(b)),
            _ => problems.push(format!("{what}: {key}: value {:?} is not an i64", r.value)),
        }
    }
    for (key, &n) in expected {
        let values = by_key.remove(key).unwrap_or_default();
        if values.windows(2).any(|w| w[0] >= w[1]) {
            problems.push(format!("{what}: {key}: values go back or repeat: {values:?}"));
        }
        if values.last() != Some(&n) {
            problems.push(format!("{what}: {key}: ends at {:?}, {n} inputs", values.last()));
        }
    }
    for key in by_key.keys() {
        problems.push(format!("{what}: key {key} matches no input"));
    }
}

/// `key@start` of a window store changelog key: `u32 len | key | i64 start`, big-endian.
fn window_key(key: &[u8]) -> Option<String> {
    let len = u32::from_be_bytes(key.get(..4)?.try_into().ok()?) as usize;
    let k = std::str::from_utf8(key.get(4..4 + len)?).ok()?;
    let start = i64::from_be_bytes(key.get(4 + len..12 + len)?.try_into().ok()?);
    (key.len() == 12 + len).then(|| format!("{k}@{start}"))
}

/// Reads every output and changelog topic (`read_committed`) and compares them with the
/// reference computed from the `n` inputs `record(base, 0..n)`; panics listing every problem.
fn verify(broker: &Broker, app: &str, topics: &Topics, n: u64) -> Figures {
    let inputs: Vec<_> = (0..n).map(|i| record(topics.base, i)).collect();
    let mut per_key: BTreeMap<String, i64> = BTreeMap::new();
    let mut per_window: BTreeMap<String, i64> = BTreeMap::new();
    for (k, _, ts) in &inputs {
        *per_key.entry(k.clone()).or_default() += 1;
        let start = ts - ts.rem_euclid(WINDOW_MS);
        *per_window.entry(format!("{k}@{start}")).or_default() += 1;
    }
    let mut problems = Vec::new();
    let mut figures = Figures {
        keys: per_key.len(),
        windows: per_window.len(),
        ..Figures::default()
    };

    // (a) and (b): per key (window), every count 1..=n once, in order (a key lives in one
    // partition, so the reader sees its records in the order they were written).
    for (topic, expected, what) in [
        (&topics.counts, &per_key, "count"),
        (&topics.windows, &per_window, "window"),
    ] {
        let mut seen: BTreeMap<String, Vec<(i64, Rec)>> = BTreeMap::new();
        let mut partition_of: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
        let records = read_all(broker, topic, true);
        let log = TopicLog::read(broker, topic, &records);
        log.check_committed(&records, &mut problems);
        for r in records {
            let v = r.value_str().parse().unwrap_or(-1);
            partition_of.entry(r.key_str()).or_default().insert(r.partition);
            seen.entry(r.key_str()).or_default().push((v, r));
        }
        for (key, &n) in expected {
            let seen_here = seen.remove(key).unwrap_or_default();
            let values: Vec<i64> = seen_here.iter().map(|(v, _)| *v).collect();
            check_sequence(&format!("{what} {key}"), &values, n, &mut problems);
            // Where each copy of a repeated value lies, and which transaction wrote it.
            let mut copies: BTreeMap<i64, Vec<&Rec>> = BTreeMap::new();
            for (v, r) in &seen_here {
                copies.entry(*v).or_default().push(r);
            }
            for (v, rs) in copies.iter().filter(|(_, rs)| rs.len() > 1) {
                let at: Vec<String> = rs.iter().map(|r| log.describe(r)).collect();
                problems.push(format!("  {what} {key} = {v}: {}", at.join(", ")));
            }
            if what == "count" {
                figures.counts += values.len();
            } else {
                figures.window_counts += values.len();
            }
        }
        for (key, values) in seen {
            problems.push(format!("{what}: output key {key} matches no input: {values:?}"));
        }
        for (key, ps) in partition_of.iter().filter(|(_, ps)| ps.len() > 1) {
            problems.push(format!("{what}: {key} written to partitions {ps:?}"));
        }
    }

    // (c): every input joined exactly once, with its customer's profile.
    let mut joined: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let join_records = read_all(broker, &topics.joins, true);
    let join_log = TopicLog::read(broker, &topics.joins, &join_records);
    join_log.check_committed(&join_records, &mut problems);
    let mut join_copies: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &join_records {
        let value = r.value_str();
        let payment = value.split(':').next().unwrap_or_default().to_string();
        join_copies
            .entry(payment.clone())
            .or_default()
            .push(join_log.describe(r));
        joined.entry(payment).or_default().push((r.key_str(), value));
    }
    for (_, v, _) in &inputs {
        let payment = v.split(':').next().unwrap();
        let customer = customer_of(v);
        let want = (customer.to_string(), format!("{v}|{}", profile_of(customer)));
        match joined.remove(payment) {
            None => problems.push(format!("join: {payment} never joined")),
            Some(got) if got.len() > 1 => problems.push(format!(
                "join: {payment} joined {} times: {}",
                got.len(),
                join_copies[payment].join(", ")
            )),
            Some(got) if got[0] != want => {
                problems.push(format!("join: {payment}: {:?} != {want:?}", got[0]))
            }
            Some(_) => figures.joins += 1,
        }
    }
    for payment in joined.keys() {
        problems.push(format!("join: output {payment} matches no input"));
    }

    // Changelogs: the store's committed history per key ends at the reference, never going back.
    let counts_log = read_all(broker, &changelog(app, COUNT_STORE), true);
    let windows_log = read_all(broker, &changelog(app, WINDOW_STORE), true);
    figures.changelog_records = counts_log.len() + windows_log.len();
    for (store, records) in [(COUNT_STORE, &counts_log), (WINDOW_STORE, &windows_log)] {
        let topic = changelog(app, store);
        TopicLog::read(broker, &topic, records).check_committed(records, &mut problems);
    }
    check_changelog(
        "counts changelog",
        &counts_log,
        |k| std::str::from_utf8(k).ok().map(str::to_string),
        &per_key,
        &mut problems,
    );
    check_changelog(
        "window changelog",
        &windows_log,
        window_key,
        &per_window,
        &mut problems,
    );

    assert!(
        problems.is_empty(),
        "exactly-once violated: {} problems over {n} inputs; the first ones:\n{}",
        problems.len(),
        problems.iter().take(30).cloned().collect::<Vec<_>>().join("\n")
    );
    figures
}

// ---------------------------------------------------------------------------------------------
// 1. Chaos

/// With `SLUICE_EOS_LOG_DIR`, copies the broker's own log there when the chaos scenario ends,
/// passed or failed (the broker's directory goes with the test process).
struct BrokerLogCopy<'a>(&'a Broker);

impl Drop for BrokerLogCopy<'_> {
    fn drop(&mut self) {
        if let Some(logs) = std::env::var_os("SLUICE_EOS_LOG_DIR") {
            let to = Path::new(&logs).join("broker.log");
            if let Err(e) = std::fs::copy(self.0.log_path(), &to) {
                eprintln!("copying the broker's log to {}: {e}", to.display());
            }
        }
    }
}

fn chaos(broker: &Broker) {
    let _broker_log = BrokerLogCopy(broker);
    let started = Instant::now();
    let rounds: u32 = std::env::var("SLUICE_CHAOS_ROUNDS")
        .ok()
        .map(|r| r.parse().expect("SLUICE_CHAOS_ROUNDS: a number"))
        .unwrap_or(DEFAULT_ROUNDS);
    let seed: u64 = std::env::var("SLUICE_CHAOS_SEED")
        .ok()
        .map(|s| s.parse().expect("SLUICE_CHAOS_SEED: a number"))
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                % 1_000_000
        });
    let mut rng = Rng(seed);
    println!("chaos: {rounds} rounds, seed {seed} (SLUICE_CHAOS_SEED={seed} replays the choices)");

    let app = unique("eos-chaos");
    let topics = Topics::create(broker, "chaos", LOOKBACK_MS + i64::from(rounds) * 400_000);
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let config = [("num.stream.threads", "2"), FAST_RESTORE];
    let specs: Vec<Spec> = dirs
        .iter()
        .map(|d| Spec::new(broker, &app, &topics, d.path(), &config))
        .collect();
    for (i, spec) in specs.iter().enumerate() {
        println!("chaos: instance {i} has state directory {}", spec.dir.display());
    }
    let mut instances: Vec<Option<Instance>> = specs.iter().map(|s| Some(Instance::spawn(s))).collect();
    for i in instances.iter_mut().flatten() {
        i.wait_running(WAIT);
    }
    let feed = Feed::start(broker, &topics, 300);
    let broker_round = rounds / 2;
    let (mut kills, mut broker_kills) = (0, 0);
    for round in 0..rounds {
        // Kill while the group processes (so that the victim has a transaction open): mostly
        // once every instance runs and the committed output grew, sometimes at once (an
        // instance may still be starting or restoring).
        let mut waited = ", not waiting for progress";
        if rng.below(4) != 0 {
            waited = " while processing";
            let deadline = Instant::now() + WAIT;
            for i in instances.iter_mut().flatten() {
                let running = i.poll_running(deadline.saturating_duration_since(Instant::now()));
                assert!(running, "round {round}: {}", not_running(broker, &app, &topics));
            }
            let from = read_all(broker, &topics.counts, true).len();
            while read_all(broker, &topics.counts, true).len() < from + 100 {
                assert!(
                    Instant::now() < deadline,
                    "round {round}: no progress within {WAIT:?}"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        std::thread::sleep(Duration::from_millis(500 + rng.below(2_500)));
        if round == broker_round {
            let t = Instant::now();
            broker.kill();
            std::thread::sleep(Duration::from_millis(500 + rng.below(1_500)));
            broker.launch();
            broker_kills += 1;
            println!(
                "round {round}: broker killed (kill -9) and restarted, down {:.1} s",
                t.elapsed().as_secs_f64()
            );
        }
        let victim = rng.below(3) as usize;
        let was_running = instances[victim].as_mut().unwrap().poll_running(Duration::ZERO);
        instances[victim].take().unwrap().kill();
        instances[victim] = Some(Instance::spawn(&specs[victim]));
        kills += 1;
        println!(
            "round {round}: instance {victim} killed (kill -9{}) and restarted; {} records fed, {} \
             counts committed",
            if was_running {
                waited
            } else {
                " while it was starting"
            },
            feed.sent.load(Ordering::Relaxed),
            read_all(broker, &topics.counts, true).len()
        );
    }
    let records = feed.stop();
    let stopped = Instant::now();
    let mut instances: Vec<Instance> = instances.into_iter().flatten().collect();
    for i in &mut instances {
        assert!(i.poll_running(WAIT), "{}", not_running(broker, &app, &topics));
    }
    wait_caught_up(broker, &app, &topics, records as usize, WAIT);
    let catch_up = stopped.elapsed();
    let closed: Vec<String> = instances.into_iter().map(Instance::close).collect();
    let f = verify(broker, &app, &topics, records);
    println!(
        "chaos: {rounds} rounds, {kills} instance kills, {broker_kills} broker kill(s), {records} \
         records; caught up {:.1} s after the feed stopped; instances at close: {closed:?}",
        catch_up.as_secs_f64()
    );
    // Aborted transactions left records that only read_uncommitted readers see. The log's
    // own markers must say the same (which also shows that `TopicLog` reads them right), and
    // what a read_committed reader sees of the repartition topic, which the instances read
    // and the verifier does not, must be committed.
    let mut watched: Vec<String> = topics.outputs().iter().map(|t| t.to_string()).collect();
    watched.extend(repartition_topics(broker, &app));
    watched.extend([changelog(&app, COUNT_STORE), changelog(&app, WINDOW_STORE)]);
    let aborted: Vec<String> = watched
        .iter()
        .map(|t| {
            let all = read_all(broker, t, false);
            let committed = read_all(broker, t, true);
            let log = TopicLog::read(broker, t, &all);
            let in_log = all
                .iter()
                .filter(|r| matches!(log.outcome(r), Some((_, Outcome::Aborted))))
                .count();
            let extra = all.len() - committed.len();
            assert_eq!(
                in_log, extra,
                "{t}: the log's markers abort {in_log} records, yet read_committed readers see {extra} fewer than read_uncommitted ones"
            );
            let mut shown = Vec::new();
            log.check_committed(&committed, &mut shown);
            assert!(shown.is_empty(), "{}", shown.join("\n"));
            format!("{}: {extra}", t.strip_prefix(&format!("{app}-")).unwrap_or(t))
        })
        .collect();
    println!(
        "chaos: aborted records (read_uncommitted only) per topic: {}",
        aborted.join(", ")
    );
    println!(
        "chaos verified (read_committed): {} keys, {} counts, {} windows with {} window counts, {} \
         joins, {} changelog records: zero lost, zero duplicated ({:.0} s)",
        f.keys,
        f.counts,
        f.windows,
        f.window_counts,
        f.joins,
        f.changelog_records,
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Recovery figure

/// (read_committed end, read_uncommitted end) per partition of `topic`: a `read_committed`
/// consumer's high watermark is the last stable offset, so they differ where a transaction is
/// open.
fn ends(rc: &BaseConsumer, ru: &BaseConsumer, topic: &str, parts: &[i32]) -> Vec<(i64, i64)> {
    parts
        .iter()
        .map(|&p| {
            let t = Duration::from_secs(5);
            let c = rc.fetch_watermarks(topic, p, t).map_or(-1, |w| w.1);
            let u = ru.fetch_watermarks(topic, p, t).map_or(-1, |w| w.1);
            (c, u)
        })
        .collect()
}

fn recovery(broker: &Broker) {
    let started = Instant::now();
    let app = unique("eos-recovery");
    let topics = Topics::create(broker, "recovery", LOOKBACK_MS);
    let dir = tempfile::tempdir().unwrap();
    // One instance: every partition is its own, so any new output is the restarted instance's.
    let spec = Spec::new(broker, &app, &topics, dir.path(), &[("num.stream.threads", "2")]);
    let victim = Instance::start(&spec);
    let feed = Feed::start(broker, &topics, 200);
    let mut rc = Tail::new(broker, true, &[&topics.counts]);
    let ru = reader(broker, false);
    let parts = partitions(&ru, &topics.counts);
    let deadline = Instant::now() + WAIT;
    while rc.count(&topics.counts) < 300 {
        assert!(Instant::now() < deadline, "no output before the kill");
        rc.poll(Duration::from_millis(50));
    }
    victim.kill();
    // Drain what was committed before the kill.
    while rc.poll(Duration::from_secs(1)) > 0 {}
    let before = ends(&rc.consumer, &ru, &topics.counts, &parts);
    let open = before.iter().filter(|(c, u)| c < u).count();

    let restart = Instant::now();
    let mut restarted = Instance::spawn(&spec);
    let (mut resolved, mut running, mut output) = (None, None, None);
    let mut last_check = Instant::now();
    while output.is_none() || running.is_none() {
        assert!(
            restart.elapsed() < WAIT,
            "no new committed output {WAIT:?} after the restart"
        );
        if rc.poll(Duration::from_millis(10)) > 0 {
            output.get_or_insert(restart.elapsed());
        }
        if running.is_none() && restarted.poll_running(Duration::ZERO) {
            running = Some(restart.elapsed());
        }
        if resolved.is_none() && open > 0 && last_check.elapsed() >= Duration::from_millis(50) {
            last_check = Instant::now();
            // The transactions open at the kill are resolved once the stable end of every
            // partition reaches the end its log had then.
            let now = ends(&rc.consumer, &ru, &topics.counts, &parts);
            if now.iter().zip(&before).all(|((c, _), (_, u))| c >= u) {
                resolved = Some(restart.elapsed());
            }
        }
    }
    let records = feed.stop();
    wait_caught_up(broker, &app, &topics, records as usize, WAIT);
    restarted.close();
    verify(broker, &app, &topics, records);
    let ms = |d: Option<Duration>| d.map_or("n/a".into(), |d| format!("{} ms", d.as_millis()));
    println!(
        "recovery: kill -9, restart on the same state dir: {open} of {} output partitions had an \
         open transaction at the kill; after the restart, those transactions resolved in {}, the \
         instance ran in {}, new committed output came in {} (transaction.timeout.ms 10000, \
         consumer.session.timeout.ms 6000); outputs exact over {records} records ({:.0} s)",
        parts.len(),
        ms(resolved),
        ms(running),
        ms(output),
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Aborted work is invisible

fn aborted_invisible(broker: &Broker) {
    let started = Instant::now();
    const COMMIT_MS: u64 = 5_000;
    let app = unique("eos-abort");
    let topics = Topics::create(broker, "abort", LOOKBACK_MS);
    let dir = tempfile::tempdir().unwrap();
    // One thread: one transaction at a time, whose commits the test can time.
    let spec = Spec::new(
        broker,
        &app,
        &topics,
        dir.path(),
        &[
            ("num.stream.threads", "1"),
            ("commit.interval.ms", "5000"),
            FAST_RESTORE,
        ],
    );
    let victim = Instance::start(&spec);
    let batch = 150usize;
    let inputs = |from: usize| {
        (from..from + batch)
            .map(|i| record(topics.base, i as u64))
            .collect::<Vec<_>>()
    };
    let repartition = repartition_topics(broker, &app);
    assert_eq!(repartition.len(), 1, "one repartition topic: {repartition:?}");
    let repartition = &repartition[0];
    let (counts_log, windows_log) = (changelog(&app, COUNT_STORE), changelog(&app, WINDOW_STORE));

    // Batch A, committed.
    let mut rc = Tail::new(broker, true, &[&topics.counts]);
    broker.produce(&topics.input, &inputs(0));
    let deadline = Instant::now() + WAIT;
    while rc.count(&topics.counts) < batch {
        assert!(Instant::now() < deadline, "batch A never committed");
        rc.poll(Duration::from_millis(10));
    }
    // A commit just happened; the next one is COMMIT_MS away. Batch B goes into the open
    // transaction (counts, windows, repartition records), with the joins of A (whose
    // repartition records that commit made readable). Changelog records are written at commit
    // time (one per key changed), so this transaction holds none.
    let committed_at = Instant::now();
    broker.produce(&topics.input, &inputs(batch));
    let pending = [
        (topics.counts.as_str(), 2 * batch),
        (topics.windows.as_str(), 2 * batch),
        (topics.joins.as_str(), batch),
        (repartition.as_str(), 2 * batch),
    ];
    let mut ru = Tail::new(broker, false, &pending.map(|(t, _)| t));
    while !pending.iter().all(|&(t, n)| ru.count(t) >= n) {
        assert!(
            committed_at.elapsed() < Duration::from_millis(COMMIT_MS - 1_000),
            "the open transaction did not hold batch B in time: {:?}; rerun (a slow machine?)",
            ru.received
        );
        ru.poll(Duration::from_millis(10));
    }
    victim.kill();
    let killed_after = committed_at.elapsed();

    // Per topic: visible to read_committed, and written (read_uncommitted), after the kill.
    let topics_checked = [
        topics.counts.as_str(),
        topics.windows.as_str(),
        topics.joins.as_str(),
        repartition.as_str(),
        counts_log.as_str(),
        windows_log.as_str(),
    ];
    let at_kill: Vec<(&str, usize, usize)> = topics_checked
        .iter()
        .map(|&t| {
            (
                t,
                read_all(broker, t, true).len(),
                read_all(broker, t, false).len(),
            )
        })
        .collect();
    for &(topic, c, u) in &at_kill {
        if pending.iter().any(|&(t, _)| t == topic) {
            assert!(
                u > c,
                "{topic}: the open transaction wrote nothing ({c} committed, {u} written)"
            );
        }
        // Batch B's counts, windows and repartition records were all in the killed transaction.
        if [topics.counts.as_str(), topics.windows.as_str(), repartition].contains(&topic) {
            assert_eq!(
                c, batch,
                "{topic}: batch B's records visible to read_committed (killed {killed_after:?} after \
                 the last commit)"
            );
        }
    }

    // Restart on the same state dir: the open transaction is aborted and B is redone, exactly.
    let restarted = Instance::start(&spec);
    let n = 2 * batch;
    wait_caught_up(broker, &app, &topics, n, WAIT);
    restarted.close();
    let f = verify(broker, &app, &topics, n as u64);
    let mut report = Vec::new();
    for &(topic, c, u) in &at_kill {
        let aborted = u - c;
        let (final_c, final_u) = (
            read_all(broker, topic, true).len(),
            read_all(broker, topic, false).len(),
        );
        // The aborted records stay in the log, for read_uncommitted readers only.
        assert!(
            final_u >= final_c + aborted,
            "{topic}: read_uncommitted sees {final_u}, read_committed {final_c}, {aborted} aborted"
        );
        let name = topic.strip_prefix(&format!("{app}-")).unwrap_or(topic);
        report.push(format!(
            "{name}: {aborted} aborted (read_uncommitted {final_u}, read_committed {final_c})"
        ));
    }
    println!(
        "aborted work invisible: killed {} ms into a {COMMIT_MS} ms transaction; after the restart \
         read_committed readers see exact outputs ({} counts, {} window counts, {} joins) and none \
         of the aborted records: {} ({:.0} s)",
        killed_after.as_millis(),
        f.counts,
        f.window_counts,
        f.joins,
        report.join("; "),
        started.elapsed().as_secs_f64()
    );
}

/// Runs the chaos scenario; runs it once more, saying why, if it stalled because the broker
/// itself left a transaction hanging at its restart, and fails otherwise.
///
/// Apache Kafka (4.4, single node, KRaft) can do that: restarted after a kill -9, its
/// transaction coordinator loads `__transaction_state` before the broker is unfenced, finds a
/// transaction in `PREPARE_COMMIT`, cannot find the partitions' leader (itself, still fenced),
/// takes them for deleted topics and completes the commit without writing its markers
/// ("Couldn't find leader endpoint for partitions ... while trying to send transaction
/// markers"). The transaction's records then hold those partitions' last stable offset, and
/// its offsets in `__consumer_offsets` stay pending: `read_committed` readers stop there and
/// the group's committed offsets cannot be read (`UNSTABLE_OFFSET_COMMIT`), for good. Nothing
/// an application does resolves it (an administrator's `kafka-transactions.sh abort` would
/// drop committed data). A stall that comes with that line is the broker's; any other failure
/// (and any lost or duplicated effect) fails the test.
fn chaos_once_more_if_the_broker_skipped_markers(broker: &Broker) {
    let log_from = std::fs::metadata(broker.log_path()).map_or(0, |m| m.len());
    let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| chaos(broker))) else {
        return;
    };
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    let stalled = message.contains("not running") || message.contains("not caught up");
    let log = std::fs::read(broker.log_path()).unwrap_or_default();
    let since = String::from_utf8_lossy(log.get(log_from as usize..).unwrap_or_default()).into_owned();
    let skipped = since
        .lines()
        .find(|l| l.contains("Couldn't find leader endpoint") && l.contains("transaction markers"));
    match skipped {
        Some(line) if stalled => {
            println!(
                "chaos: stalled, and the broker skipped a transaction's markers at its restart (a \
                 hanging transaction, Kafka's own; see chaos_once_more_if_the_broker_skipped_markers):\n  \
                 {line}\nchaos: running the scenario once more"
            );
            chaos(broker);
        }
        _ => std::panic::resume_unwind(panic),
    }
}

fn main() {
    if support::child_or_probe(child) {
        return;
    }
    let started = Instant::now();
    let broker = support::broker();
    let only = std::env::var("SLUICE_EOS_SCENARIOS").unwrap_or_else(|_| "abort,recovery,main".into());
    let run = |name: &str| only.split(',').any(|s| s.trim() == name);
    if run("abort") {
        aborted_invisible(broker);
    }
    if run("recovery") {
        recovery(broker);
    }
    if run("main") {
        chaos_once_more_if_the_broker_skipped_markers(broker);
    }
    println!(
        "eos_kafka: all scenarios passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}
