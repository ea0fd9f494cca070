//! A stream-table join started on a backlog (both topics preloaded, as after downtime) joins
//! every stream record: each task reads its table partition's rows before the stream records
//! that meet them, even with `max.task.idle.ms` = 0 (Kafka Streams' KIP-695: an empty input
//! partition with unfetched records on the broker holds its task back). Before this, a task
//! raced through stream records whose table rows were still on the broker once the table
//! partition's first fetch was consumed (here 19,902 of 20,000 joined; the end-to-end bench's
//! output check caught 960 of 60,000 missing).
//!
//! Under exactly-once the wait must not count records of a transaction still open (an instance
//! killed mid-transaction leaves one until it is fenced or times out): a `read_committed`
//! consumer cannot read them, so a wait for them would hold every join task back for the wait's
//! whole cap (30 s) after each rebalance. The end read at assignment is the last stable offset
//! (librdkafka asks for it at the consumer's isolation level); the second test keeps it so.

mod support;

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use sluice::engine::Streams;
use sluice::prelude::*;
use std::time::Duration;
use support::{broker, send_retrying, state_dir, unique, Broker};

const ROWS: usize = 8_000;
const RECORDS: usize = 20_000;

/// Preloads `ROWS` table rows of 1 KB (2 MB per partition: more than one fetch returns),
/// stamped before `RECORDS` stream records; returns (table, input, output).
fn preload(b: &Broker, name: &str) -> (String, String, String) {
    let profiles = unique(&format!("{name}-profiles"));
    let (input, output) = b.topic_pair(name, 4);
    b.create_topic(&profiles, 4);
    let filler = "x".repeat(1_000);
    let rows: Vec<(String, String, i64)> = (0..ROWS)
        .map(|k| (format!("k{k}"), format!("profile-{k}:{filler}"), 1_000))
        .collect();
    b.produce(&profiles, &rows);
    let records: Vec<(String, String, i64)> = (0..RECORDS)
        .map(|i| {
            (
                format!("k{}", i % ROWS),
                format!("{i}:{filler}"),
                2_000 + i as i64,
            )
        })
        .collect();
    b.produce(&input, &records);
    (profiles, input, output)
}

/// Starts the join with `settings`, waits for `RECORDS` outputs (at most `timeout`), closes it
/// and checks that every stream record met its own table row; returns how many waits for a
/// lagging partition ran out (`sluice_lagging_wait_timeouts_total`).
fn run_join(
    b: &Broker,
    (profiles, input, output): &(String, String, String),
    settings: &[(&str, &str)],
    timeout: Duration,
) -> u64 {
    let builder = StreamsBuilder::new();
    let table = builder.table(profiles, Consumed::with(Serde::string(), Serde::string()));
    builder
        .stream(input, Consumed::with(Serde::string(), Serde::string()))
        .join_table(&table, |v, p| {
            format!("{}+{p}", v.split(':').next().unwrap_or_default())
        })
        .to(output, Produced::with(Serde::string(), Serde::string()));
    let dir = state_dir();
    let mut config = b.config(&unique("backlog-join"));
    config.state_dir = dir.path().to_path_buf();
    config.set("commit.interval.ms", "100").unwrap();
    for (k, v) in settings {
        config.set(k, v).unwrap();
    }
    let streams = Streams::new(builder.build().unwrap(), config).unwrap();
    streams.start().unwrap();
    let joined = b.consume(output, RECORDS, timeout);
    streams.close().unwrap();
    let timeouts = streams.metrics().total("sluice_lagging_wait_timeouts_total", &[]);
    assert_eq!(joined.len(), RECORDS, "every stream record met its table row");
    for (k, v, _) in &joined {
        let head = v.split(':').next().unwrap_or_default();
        assert!(head.ends_with(&format!("+profile-{}", &k[1..])), "{k}: {head}");
    }
    timeouts
}

#[test]
fn a_join_on_a_backlog_misses_no_table_row() {
    let b = broker();
    let topics = preload(b, "backlog-join");
    let timeouts = run_join(b, &topics, &[], Duration::from_secs(120));
    assert_eq!(timeouts, 0, "every lagging partition delivered its backlog");
}

#[test]
fn an_open_transaction_on_the_table_does_not_hold_the_join_back() {
    let b = broker();
    let topics = preload(b, "backlog-open-txn");
    // A transaction left open on every table partition, as by an instance killed mid-commit:
    // the broker's end (high watermark) is past the last stable offset until it ends, here
    // only after the join's output is complete.
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &b.bootstrap)
        .set("transactional.id", unique("backlog-open-txn-producer"))
        .set("transaction.timeout.ms", "120000")
        .create()
        .unwrap();
    producer.init_transactions(Duration::from_secs(30)).unwrap();
    producer.begin_transaction().unwrap();
    for p in 0..4 {
        let r = BaseRecord::<str, str>::to(&topics.0)
            .partition(p)
            .key("open")
            .payload("uncommitted row")
            .timestamp(1_000);
        send_retrying(&producer, r);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    // A wait for the high watermark would never see the open transaction's records and would
    // run out (30 s); the wait that ends at the last stable offset does not.
    let timeouts = run_join(
        b,
        &topics,
        &[("processing.guarantee", "exactly_once_v2")],
        Duration::from_secs(120),
    );
    assert_eq!(timeouts, 0, "no wait ran out on the open transaction's records");
    producer.abort_transaction(Duration::from_secs(30)).unwrap();
}
