//! Snapshots on Apache Kafka, to S3 (a local `moto_server`): an instance counting 20,000
//! records is killed with SIGKILL (snapshots are published every 300 ms, so the kill often
//! lands in an upload); a new instance on an empty disk takes over, restores its tasks from
//! the newest snapshots and replays only the changelogs' tails; its counts go on exactly from
//! the killed one's. Then S3 goes down while processing goes on, comes back, and snapshots
//! resume; a third instance on an empty disk restores from the second one's snapshots.
//!
//! Instances run as child processes of this binary (`child` mode), so that kill -9 is real.

#[path = "../state/tests/support/moto.rs"]
mod moto;
mod support;

use moto::Moto;
use sluice::engine::{Streams, StreamsConfig, StreamsState};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{broker, count_topology, state_dir, unique};

const WAIT: Duration = Duration::from_secs(90);
const KEYS: usize = 200;
const PARTITIONS: i32 = 4;

/// `child <bootstrap> <app> <state-dir> <input> <output> key=value...`; stdin "close" closes.
fn child(args: &[String]) {
    let [bootstrap, app, dir, input, output, settings @ ..] = args else {
        panic!("child needs: bootstrap app state-dir input output key=value...")
    };
    support::log_to_stderr();
    let mut config = StreamsConfig::new(app, bootstrap);
    config.state_dir = dir.into();
    for kv in settings {
        let (k, v) = kv.split_once('=').expect("key=value");
        config.set(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    let streams = Streams::new(count_topology(input, output), config).unwrap();
    streams.start().unwrap();
    support::serve_until_close(&streams, WAIT);
    streams.close().unwrap();
}

fn settings(moto: &Moto) -> Vec<(String, String)> {
    let mut s: Vec<(String, String)> = [
        ("processing.guarantee", "exactly_once_v2"),
        ("statestore.cache.max.bytes", "0"),
        ("consumer.session.timeout.ms", "6000"),
        ("consumer.heartbeat.interval.ms", "500"),
        ("restore.consumer.fetch.wait.max.ms", "10"),
        ("state.snapshot.store", "s3://snapshots/app"),
        ("state.snapshot.interval.ms", "300"),
        ("state.snapshot.gc.grace.ms", "0"),
        ("state.snapshot.s3.region", "us-east-1"),
        ("state.snapshot.s3.access.key.id", "test"),
        ("state.snapshot.s3.secret.access.key", "test"),
        ("state.snapshot.s3.allow.http", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    s.push(("state.snapshot.s3.endpoint".into(), moto.endpoint()));
    s
}

fn spawn_child(
    app: &str,
    dir: &std::path::Path,
    input: &str,
    output: &str,
    settings: &[(String, String)],
) -> Child {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["child", &broker().bootstrap, app])
        .arg(dir)
        .args([input, output])
        .args(settings.iter().map(|(k, v)| format!("{k}={v}")))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let running = lines.any(|l| l.is_ok_and(|l| l == "RUNNING"));
    assert!(running, "the child instance never ran");
    child
}

fn in_process(
    app: &str,
    dir: &std::path::Path,
    input: &str,
    output: &str,
    settings: &[(String, String)],
) -> Streams {
    let mut config = broker().config(app);
    config.state_dir = dir.to_path_buf();
    for (k, v) in settings {
        config.set(k, v).unwrap();
    }
    let streams = Streams::new(count_topology(input, output), config).unwrap();
    streams.start().unwrap();
    assert!(
        streams.wait_for_state(StreamsState::Running, WAIT),
        "{:?}",
        streams.errors()
    );
    streams
}

/// `n` records from `from`, cycling over the keys.
fn batch(from: usize, n: usize) -> Vec<(String, String, i64)> {
    (from..from + n)
        .map(|i| (format!("key-{:03}", i % KEYS), format!("v{i}"), 1_000 + i as i64))
        .collect()
}

/// The committed outputs, read as they come: one count per input record, each key's counts
/// going up one at a time across instances.
struct Output {
    consumer: rdkafka::consumer::BaseConsumer,
    read: usize,
    last: BTreeMap<String, u64>,
}

impl Output {
    fn new(topic: &str) -> Output {
        Output {
            consumer: broker().reader(topic),
            read: 0,
            last: BTreeMap::new(),
        }
    }

    /// The next output within 100 ms, if any, as (key, count).
    fn poll(&self) -> Option<(String, u64)> {
        use rdkafka::Message;
        let m = self.consumer.poll(Duration::from_millis(100))?.unwrap();
        let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
        let n = String::from_utf8_lossy(m.payload().unwrap_or_default())
            .parse()
            .unwrap();
        Some((key, n))
    }

    fn take(&mut self, (key, n): (String, u64)) {
        let previous = self.last.insert(key.clone(), n).unwrap_or(0);
        assert_eq!(n, previous + 1, "{key}: counts go up one at a time");
        self.read += 1;
    }

    /// Reads until `total` counts arrived, then checks that no more follow (within a second);
    /// returns the last count of each key.
    fn expect(&mut self, total: usize) -> BTreeMap<String, u64> {
        let deadline = Instant::now() + WAIT;
        while self.read < total {
            assert!(
                Instant::now() < deadline,
                "{} of {total} counts within {WAIT:?}",
                self.read
            );
            if let Some(record) = self.poll() {
                self.take(record);
            }
        }
        let quiet = Instant::now() + Duration::from_secs(1);
        while Instant::now() < quiet {
            if let Some(record) = self.poll() {
                self.take(record);
            }
        }
        assert_eq!(self.read, total, "one committed count per input record, no more");
        self.last.clone()
    }
}

fn reference(records: usize) -> BTreeMap<String, u64> {
    let mut r = BTreeMap::new();
    for (k, _, _) in batch(0, records) {
        *r.entry(k).or_default() += 1;
    }
    r
}

/// Waits until every task has a snapshot published after `since_ms` (epoch ms) and none for
/// two seconds: the instance snapshots a task whose state moved at most 300 ms after its
/// commit, so the newest snapshots then hold everything processed.
fn wait_for_snapshots(
    rt: &tokio::runtime::Runtime,
    store: &sluice::state::snapshot::SnapshotStore,
    since_ms: i64,
) {
    let deadline = Instant::now() + WAIT;
    let (mut seen, mut stable_since) = (Vec::new(), Instant::now());
    loop {
        let latest: Vec<Option<(u64, i64)>> = (0..PARTITIONS)
            .map(|p| {
                rt.block_on(store.latest(&format!("0_{p}")))
                    .ok()
                    .flatten()
                    .map(|m| (m.sequence, m.created_ms))
            })
            .collect();
        if latest != seen {
            seen = latest;
            stable_since = Instant::now();
        }
        let fresh = seen
            .iter()
            .all(|m| m.is_some_and(|(_, created)| created > since_ms));
        if fresh && stable_since.elapsed() > Duration::from_secs(2) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no fresh snapshot of every task within {WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn takeover_on_empty_disks() {
    let b = broker();
    let mut moto = Moto::start();
    moto.create_bucket("snapshots");
    let settings = settings(&moto);
    let store =
        sluice::state::snapshot::SnapshotStore::from_url("s3://snapshots/app", &moto.options()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = unique("snapshots");
    let (input, output) = b.topic_pair("snapshots", PARTITIONS);

    // A counts 20,000 records; its snapshots cover them; a 1% tail follows; kill -9.
    let first_dir = state_dir();
    let mut first = spawn_child(&app, first_dir.path(), &input, &output, &settings);
    b.produce(&input, &batch(0, 20_000));
    let mut out = Output::new(&output);
    let since = now_ms() - 60_000;
    assert_eq!(out.expect(20_000), reference(20_000));
    wait_for_snapshots(&rt, &store, since);
    b.produce(&input, &batch(20_000, 200));
    assert_eq!(out.expect(20_200), reference(20_200));
    first.kill().unwrap();
    first.wait().unwrap();

    // B, on an empty disk: every task restored from a snapshot plus the changelog's tail.
    let second_dir = state_dir();
    let started = Instant::now();
    let second = in_process(&app, second_dir.path(), &input, &output, &settings);
    let to_running = started.elapsed();
    let m = second.metrics();
    let restores = m.total("sluice_snapshot_restores_total", &[]);
    let replayed = m.total("sluice_restored_records_total", &[]);
    println!(
        "takeover on an empty disk: running after {to_running:.1?}, {restores} tasks restored from snapshots \
         ({} bytes), {replayed} changelog records replayed of 20,200",
        m.total("sluice_snapshot_restored_bytes_total", &[])
    );
    assert_eq!(restores, PARTITIONS as u64, "every task restored from a snapshot");
    assert!(
        replayed <= 2_000,
        "only the changelog's tail is replayed, not {replayed} records"
    );
    // Its counts go on exactly: one more record per key.
    b.produce(&input, &batch(20_200, KEYS));
    assert_eq!(out.expect(20_400), reference(20_400));

    // S3 down: processing goes on, snapshots fail and are counted; S3 back: they resume.
    let port = moto.port;
    moto.stop();
    b.produce(&input, &batch(20_400, KEYS));
    assert_eq!(out.expect(20_600), reference(20_600));
    let deadline = Instant::now() + WAIT;
    while second.metrics().total("sluice_snapshots_failed_total", &[]) == 0 {
        assert!(
            Instant::now() < deadline,
            "no snapshot failure counted with S3 down"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let moto = Moto::start_on(port);
    moto.create_bucket("snapshots");
    let back = now_ms();
    let failed = second.metrics().total("sluice_snapshots_failed_total", &[]);
    println!("S3 down: processing went on; {failed} snapshot attempts failed and were retried");
    b.produce(&input, &batch(20_600, KEYS));
    assert_eq!(out.expect(20_800), reference(20_800));
    wait_for_snapshots(&rt, &store, back);
    second.close().unwrap();

    // C, on an empty disk again, restores from B's snapshots (S3 lost A's with the restart).
    let third_dir = state_dir();
    let third = in_process(&app, third_dir.path(), &input, &output, &settings);
    assert_eq!(
        third.metrics().total("sluice_snapshot_restores_total", &[]),
        PARTITIONS as u64
    );
    b.produce(&input, &batch(20_800, KEYS));
    assert_eq!(out.expect(21_000), reference(21_000));
    third.close().unwrap();
    drop(moto);
}

fn main() {
    if support::child_or_probe(child) {
        return;
    }
    let started = Instant::now();
    takeover_on_empty_disks();
    println!(
        "snapshots_kafka: passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let _ = std::io::stdout().flush();
}
