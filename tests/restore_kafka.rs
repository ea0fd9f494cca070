//! Restoration on a real broker (Apache Kafka) runs beside polling and processing: a task that
//! replays a changelog several times longer than `max.poll.interval.ms` keeps its thread in the
//! group (no second rebalance), and the thread's other task, whose changelog is short, processes
//! meanwhile; the restored state is then the changelog's.

mod support;

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use sluice::engine::client::rdkafka::RdKafkaClient;
use sluice::engine::client::{KafkaClient, NewTopic};
use sluice::engine::{metrics::names, Streams, StreamsState};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{broker, count_topology, send_retrying, state_dir, unique};

/// Records in task 0_0's changelog: restoring them takes many times `MAX_POLL_INTERVAL_MS`.
const CHANGELOG_RECORDS: usize = 1_500_000;
const MAX_POLL_INTERVAL_MS: &str = "2000";
const WAIT: Duration = Duration::from_secs(120);

fn producer(bootstrap: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("compression.type", "lz4")
        .create()
        .unwrap()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn a_long_restore_neither_leaves_the_group_nor_holds_up_ready_tasks() {
    let b = broker();
    let (input, output) = b.topic_pair("bg-restore", 2);
    let app = unique("bg-restore");
    // The changelog exists before the application starts (as after an earlier owner): its
    // partition 0 holds a count of 1 for each of many keys, partition 1 nothing.
    let changelog = format!("{app}-counts-changelog");
    RdKafkaClient::new(Arc::new(b.config("admin")))
        .admin()
        .unwrap()
        .create_topics(&[NewTopic {
            name: changelog.clone(),
            partitions: 2,
            replication_factor: -1,
            configs: vec![("cleanup.policy".into(), "compact".into())],
        }])
        .unwrap();
    let ts = now_ms() - 60_000;
    let p = producer(&b.bootstrap);
    for i in 0..CHANGELOG_RECORDS {
        let key = format!("old-{i}");
        send_retrying(
            &p,
            BaseRecord::<str, [u8]>::to(&changelog)
                .partition(0)
                .key(key.as_str())
                .payload(&1i64.to_be_bytes()[..])
                .timestamp(ts),
        );
    }
    // Input for task 0_1 only: 10 keys, 10 records each.
    for i in 0..100 {
        let key = format!("new-{}", i % 10);
        send_retrying(
            &p,
            BaseRecord::<str, str>::to(&input)
                .partition(1)
                .key(key.as_str())
                .payload("v")
                .timestamp(ts + i),
        );
    }
    p.flush(Duration::from_secs(60)).unwrap();

    let dir = state_dir();
    let mut config = b.config(&app);
    config.state_dir = dir.path().to_path_buf();
    config.set("commit.interval.ms", "200").unwrap();
    config
        .set("consumer.session.timeout.ms", MAX_POLL_INTERVAL_MS)
        .unwrap();
    config.set("consumer.heartbeat.interval.ms", "300").unwrap();
    config
        .set("consumer.max.poll.interval.ms", MAX_POLL_INTERVAL_MS)
        .unwrap();
    config.set("http.server.listen", "127.0.0.1:0").unwrap();
    let streams = Streams::new(count_topology(&input, &output), config).unwrap();
    let metrics = streams.metrics();
    let restoring = |task: &str| metrics.total(names::RESTORING, &[("task", task)]);
    let started = Instant::now();
    streams.start().unwrap();

    // Task 0_1's counts come out while task 0_0 still restores.
    let reader = b.reader(&output);
    let mut counts: BTreeMap<String, String> = BTreeMap::new();
    let deadline = Instant::now() + WAIT;
    while counts.values().filter(|c| *c == "10").count() < 10 {
        assert!(Instant::now() < deadline, "task 0_1 never processed: {counts:?}");
        if let Some(Ok(m)) = rdkafka::consumer::BaseConsumer::poll(&reader, Duration::from_millis(100)) {
            use rdkafka::Message;
            counts.insert(
                String::from_utf8_lossy(m.key().unwrap()).into_owned(),
                String::from_utf8_lossy(m.payload().unwrap()).into_owned(),
            );
        }
    }
    let remaining = metrics.total(names::RESTORE_REMAINING_RECORDS, &[("task", "0_0")]);
    assert_eq!(
        restoring("0_0"),
        1,
        "task 0_0 should still be restoring when 0_1's output is complete"
    );
    assert!(remaining > 0, "task 0_0 has records left to replay");
    assert_eq!(restoring("0_1"), 0);
    assert_ne!(
        streams.state(),
        StreamsState::Running,
        "running only once every task is restored"
    );
    let ready = format!("http://{}/health/ready", streams.http_address().unwrap());
    match ureq::get(&ready).call() {
        Err(ureq::Error::Status(503, r)) => {
            let reason = r.into_string().unwrap();
            assert!(reason.contains("not ready"), "{reason}");
        }
        other => panic!("/health/ready while a task restores: {other:?}"),
    }
    // Interactive queries say "unavailable" rather than answer from a half-restored store.
    let query = streams
        .key_value_store::<String, i64>("counts")
        .unwrap()
        .get(&"old-7".to_string());
    assert!(
        matches!(query, Err(sluice::engine::StreamsError::StoreUnavailable { .. })),
        "{query:?}"
    );

    // Task 0_0 finishes; the thread was never removed from the group on the way.
    assert!(
        streams.wait_for_state(StreamsState::Running, WAIT),
        "{:?}",
        streams.errors()
    );
    let restore_ms = started.elapsed().as_millis();
    let deadline = Instant::now() + WAIT;
    while ureq::get(&ready).call().is_err() {
        assert!(
            Instant::now() < deadline,
            "/health/ready never answered 200 once restored"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Once restored, the store answers with what the changelog held.
    let counts = streams.key_value_store::<String, i64>("counts").unwrap();
    assert_eq!(counts.get(&"old-7".to_string()).unwrap(), Some(1));
    eprintln!(
        "restored {CHANGELOG_RECORDS} records in {restore_ms} ms with max.poll.interval.ms = {MAX_POLL_INTERVAL_MS}"
    );
    assert_eq!(restoring("0_0"), 0);
    assert_eq!(
        metrics.total(names::RESTORED_RECORDS, &[("task", "0_0")]),
        CHANGELOG_RECORDS as u64
    );
    assert_eq!(
        metrics.total(names::RESTORE_REMAINING_RECORDS, &[("task", "0_0")]),
        0
    );
    assert!(metrics.total(names::RESTORED_BYTES, &[("task", "0_0")]) > 0);
    assert_eq!(
        metrics.total(names::ASSIGNMENTS, &[]),
        1,
        "a rebalance happened: the thread stopped polling for longer than max.poll.interval.ms"
    );

    // The restored counts are the changelog's: one more record of an old key counts 2.
    send_retrying(
        &p,
        BaseRecord::<str, str>::to(&input)
            .partition(0)
            .key("old-7")
            .payload("v")
            .timestamp(now_ms() - 1000),
    );
    p.flush(Duration::from_secs(60)).unwrap();
    let deadline = Instant::now() + WAIT;
    let mut old7 = None;
    while old7.as_deref() != Some("2") {
        assert!(Instant::now() < deadline, "old-7 never counted: {old7:?}");
        if let Some(Ok(m)) = rdkafka::consumer::BaseConsumer::poll(&reader, Duration::from_millis(100)) {
            use rdkafka::Message;
            if m.key() == Some(b"old-7") {
                old7 = Some(String::from_utf8_lossy(m.payload().unwrap()).into_owned());
            }
        }
    }
    streams.close().unwrap();
}
