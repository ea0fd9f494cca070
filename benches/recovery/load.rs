//! The bench's traffic and plumbing: topics, produced keys and values, changelog ends, the
//! snapshot store (a directory, or a local moto_server) and its copies.

use crate::SnapshotTarget;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use sluice::state::snapshot::SnapshotStore;
use std::path::Path;
use std::time::{Duration, Instant};

#[path = "../../state/tests/support/moto.rs"]
mod server;

/// A local S3 with one bucket.
pub struct Moto {
    server: server::Moto,
    pub bucket: String,
}

impl Moto {
    pub fn start() -> Moto {
        let server = server::Moto::start();
        server.create_bucket("recovery");
        Moto {
            server,
            bucket: "recovery".into(),
        }
    }

    /// Sluice's settings for it.
    pub fn options(&self) -> Vec<(&'static str, String)> {
        vec![
            ("state.snapshot.s3.endpoint", self.server.endpoint()),
            ("state.snapshot.s3.region", "us-east-1".into()),
            ("state.snapshot.s3.access.key.id", "test".into()),
            ("state.snapshot.s3.secret.access.key", "test".into()),
            ("state.snapshot.s3.allow.http", "true".into()),
        ]
    }
}

/// The key of index `k`.
pub fn key(k: u64) -> String {
    format!("key-{k:010}")
}

/// Version `version` of key `k`'s value: `VALUE_BYTES` bytes that differ per key and version.
pub fn value(k: u64, version: u32, bytes: usize) -> Vec<u8> {
    let mut x =
        k.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(version).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (0..bytes)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The `i`-th updated key among `keys`: spread over the whole key space, each at most once.
pub fn spread_key(i: u64, keys: u64) -> u64 {
    (i * 7919 + 13) % keys
}

pub fn create_topic(bootstrap: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("an admin client");
    let topics = [NewTopic::new(topic, 1, TopicReplication::Fixed(1))];
    let results = futures_executor::block_on(admin.create_topics(&topics, &AdminOptions::new()))
        .expect("create topics");
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("creating {t}: {e}"));
    }
}

/// Produces `(key, version)` records with their values.
pub fn produce(bootstrap: &str, topic: &str, records: impl Iterator<Item = (u64, u32)>, bytes: usize) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        // In order and once, as the restored store's reference assumes.
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("a producer");
    // Timestamps from three hours ago, 1 ms apart: records from 1970 would be older than the
    // topic's retention (the broker deletes them unread), and records more than an hour in the
    // future are refused (`log.message.timestamp.after.max.ms`).
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
        - 3 * 3_600_000;
    let before = end_offset(bootstrap, topic);
    let mut sent = 0i64;
    for (i, (k, version)) in records.enumerate() {
        sent += 1;
        let key = key(k);
        let payload = value(k, version, bytes);
        let mut r = BaseRecord::to(topic)
            .key(&key)
            .payload(&payload)
            .timestamp(start + i as i64);
        loop {
            match p.send(r) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    p.poll(Duration::from_millis(5));
                    r = back;
                }
                Err((e, _)) => panic!("producing to {topic}: {e}"),
            }
        }
        if i % 10_000 == 0 {
            p.poll(Duration::ZERO);
        }
    }
    p.flush(Duration::from_secs(600)).expect("produced");
    // Every record was accepted (a refused one would stall the bench, not fail it).
    let written = end_offset(bootstrap, topic) - before;
    assert_eq!(
        written, sent,
        "the broker accepted {written} of {sent} records of {topic}"
    );
}

/// The end offset of partition 0 of `topic`.
pub fn end_offset(bootstrap: &str, topic: &str) -> i64 {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "recovery-bench-watermarks")
        .create()
        .expect("a consumer");
    c.fetch_watermarks(topic, 0, Duration::from_secs(30))
        .expect("watermarks")
        .1
}

/// The end offset of partition 0 of `topic` once it has not moved for `quiet`.
pub fn stable_end_offset(bootstrap: &str, topic: &str, quiet: Duration) -> i64 {
    let mut end = end_offset(bootstrap, topic);
    let mut since = Instant::now();
    while since.elapsed() < quiet {
        std::thread::sleep(Duration::from_millis(200));
        let now = end_offset(bootstrap, topic);
        if now != end {
            (end, since) = (now, Instant::now());
        }
    }
    end
}

fn store_of(target: &SnapshotTarget, moto: Option<&Moto>) -> SnapshotStore {
    match target {
        SnapshotTarget::File(dir) => SnapshotStore::from_url(&format!("file://{}", dir.display()), &[]),
        SnapshotTarget::S3 { url, .. } => {
            let server = &moto.expect("an S3 target has its server").server;
            SnapshotStore::from_url(url, &server.options())
        }
    }
    .expect("a snapshot store")
}

/// Waits until task 0_0's newest snapshot holds the changelog up to `end`.
pub fn wait_for_snapshot(target: &SnapshotTarget, moto: Option<&Moto>, end: i64, wait: Duration) {
    let store = store_of(target, moto);
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let deadline = Instant::now() + wait;
    loop {
        let latest = rt.block_on(store.latest("0_0")).ok().flatten();
        if latest.is_some_and(|m| m.stores.iter().all(|s| s.offset.is_some_and(|o| o + 1 >= end))) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no snapshot of the loaded state within {wait:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A copy of the snapshot store `master` for run `run`.
pub fn copy_store(master: &SnapshotTarget, work: &Path, run: usize, moto: Option<&Moto>) -> SnapshotTarget {
    match master {
        SnapshotTarget::File(dir) => {
            let copy = work.join(format!("snapshots-{run}"));
            copy_dir(dir, &copy);
            SnapshotTarget::File(copy)
        }
        SnapshotTarget::S3 { options, url } => {
            let server = &moto.expect("an S3 target has its server").server;
            let (store, from) =
                object_store::parse_url_opts(&url::Url::parse(url).unwrap(), server.options())
                    .expect("the S3 store");
            let to_prefix = format!("run-{run}");
            let rt = tokio::runtime::Runtime::new().expect("a runtime");
            rt.block_on(async {
                let objects: Vec<_> = store.list(Some(&from)).try_collect().await.expect("list");
                for o in objects {
                    let relative = o
                        .location
                        .as_ref()
                        .strip_prefix(from.as_ref())
                        .unwrap_or_default();
                    let to = object_store::path::Path::from(format!("{to_prefix}{relative}"));
                    store.copy(&o.location, &to).await.expect("copy");
                }
            });
            let bucket = url::Url::parse(url).unwrap().host_str().unwrap().to_string();
            SnapshotTarget::S3 {
                options: options.clone(),
                url: format!("s3://{bucket}/{to_prefix}"),
            }
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
