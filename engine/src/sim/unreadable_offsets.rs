//! Committed offsets that cannot be read at assignment. Right after a broker restarts, its
//! group coordinator may still be loading the group's offsets, and librdkafka's read of them
//! times out (`Meta data fetch error: OperationTimedOut`) while a member is being assigned
//! partitions. The exactly-once chaos test on a real broker caught it: the stream thread
//! treated the failed read as an error of the assignment, its partitions got no tasks, their
//! records were fetched and dropped, and the instance never left `REBALANCING`. The tasks
//! must instead be created once the offsets can be read, from those offsets: nothing
//! processed twice, nothing skipped.

use super::instance::{App, SimInstance};
use crate::client::sim::{Faults, SimCluster};
use crate::config::StreamsConfig;
use crate::metrics::names;
use sluice_dsl::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;

const INPUT: &str = "payments";
const OUTPUT: &str = "payment-counts";
const KEYS: usize = 7;

/// A running count per card, written on every update (no record cache).
fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(INPUT, Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .count(Materialized::as_("payment-counts").with_value_serde(Serde::i64()))
        .to_stream()
        .map_values(|n| n.to_string())
        .to(OUTPUT, Produced::with(Serde::string(), Serde::string()));
    builder.build().expect("a valid topology")
}

fn app(cluster: &SimCluster) -> App {
    app_with(cluster, "earliest")
}

/// With `consumer.auto.offset.reset` = `reset`.
fn app_with(cluster: &SimCluster, reset: &str) -> App {
    let config = StreamsConfig::new("offsets", "simulated")
        .with("processing.guarantee", "exactly_once_v2")
        .and_then(|c| c.with("commit.interval.ms", "100"))
        .and_then(|c| c.with("statestore.cache.max.bytes", "0"))
        .and_then(|c| c.with("consumer.auto.offset.reset", reset))
        .expect("a valid config");
    App {
        cluster: cluster.clone(),
        topology: Arc::new(topology()),
        config: Arc::new(config),
        threads: 1,
        broken: None,
    }
}

/// Produces records `from..to`, key `card-<i % KEYS>`.
fn produce(cluster: &SimCluster, from: usize, to: usize) {
    for i in from..to {
        let key = format!("card-{}", i % KEYS);
        cluster.produce(INPUT, key.as_bytes(), b"tx", 1_700_000_000_000 + i as i64 * 10);
    }
}

/// Steps the instance's thread `steps` times, 10 ms apart.
fn run(cluster: &SimCluster, instance: &mut SimInstance, steps: usize) {
    for _ in 0..steps {
        instance.threads[0].step().expect("a step");
        cluster.advance(10);
    }
}

/// Every card's committed counts must be exactly 1..=n, in order, for `n` inputs.
fn assert_counted_once(cluster: &SimCluster, inputs: usize) {
    let mut seen: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in cluster.read_committed(OUTPUT) {
        let key = String::from_utf8(r.key.expect("a key")).expect("a string key");
        let value = String::from_utf8(r.value.expect("a value")).expect("a string value");
        seen.entry(key).or_default().push(value.parse().expect("a count"));
    }
    for k in 0..KEYS {
        let n = (0..inputs).filter(|i| i % KEYS == k).count() as i64;
        let key = format!("card-{k}");
        let counts = seen.remove(&key).unwrap_or_default();
        assert!(
            counts.iter().copied().eq(1..=n),
            "{key}: counts {counts:?}, expected 1..={n} once each"
        );
    }
}

/// A cluster with the topics and `records` inputs.
fn cluster_with(seed: u64, records: usize) -> SimCluster {
    let cluster = SimCluster::new(seed, Faults::none());
    cluster.create_topic(INPUT, 2);
    cluster.create_topic(OUTPUT, 2);
    produce(&cluster, 0, records);
    cluster
}

/// Starts an instance (process `process`) on `dir` and steps it `steps` times; checks it
/// processed `processed` records.
fn start_and_run(
    cluster: &SimCluster,
    process: u64,
    dir: &std::path::Path,
    steps: usize,
    processed: u64,
) -> SimInstance {
    let mut instance = SimInstance::start(&app(cluster), process, "i0", dir).expect("the instance starts");
    run(cluster, &mut instance, steps);
    assert_eq!(instance.metrics.total(names::PROCESSED, &[]), processed);
    instance
}

#[test]
fn a_first_assignment_whose_offsets_cannot_be_read_is_processed_once_they_can() {
    let cluster = cluster_with(11, 300);
    // The first reads fail: the assignment's, then a few retries.
    cluster.fail_offset_reads(4);
    let dir = tempfile::tempdir().expect("a temporary state directory");
    let instance = start_and_run(&cluster, 1, dir.path(), 300, 300);
    instance.close().expect("a clean close");
    assert_counted_once(&cluster, 300);
}

#[test]
fn a_restart_whose_offsets_cannot_be_read_resumes_from_them_once_they_can() {
    let cluster = cluster_with(12, 200);
    let dir = tempfile::tempdir().expect("a temporary state directory");
    let first = start_and_run(&cluster, 1, dir.path(), 200, 200);
    first.close().expect("a clean close");

    // Restarted on the same state directory while the offsets cannot be read, with 200 more
    // records on the broker: the records fetched before the tasks exist are dropped, and the
    // tasks start from the committed offsets (not from where the consumer got to, nor from
    // the start).
    produce(&cluster, 200, 400);
    cluster.fail_offset_reads(4);
    let second = start_and_run(&cluster, 2, dir.path(), 300, 200);
    second.close().expect("a clean close");
    assert_counted_once(&cluster, 400);
}

#[test]
fn an_abort_whose_offsets_cannot_be_read_recreates_the_tasks_once_they_can() {
    let cluster = cluster_with(13, 100);
    let dir = tempfile::tempdir().expect("a temporary state directory");
    let mut instance = start_and_run(&cluster, 1, dir.path(), 100, 100);

    // Every transactional call fails with an abortable error while the offsets to rewind to
    // cannot be read: the thread aborts, closes its tasks and creates them again later.
    produce(&cluster, 100, 200);
    cluster.set_faults(Faults {
        abortable: 1.0,
        ..Faults::none()
    });
    cluster.fail_offset_reads(3);
    run(&cluster, &mut instance, 3);
    assert!(
        instance.metrics.total(names::ABORTS, &[]) >= 1,
        "the faults aborted a transaction"
    );
    cluster.set_faults(Faults::none());
    run(&cluster, &mut instance, 300);
    instance.close().expect("a clean close");
    assert_counted_once(&cluster, 200);
}

#[test]
fn a_latest_source_whose_offsets_cannot_be_read_still_starts_at_its_end() {
    // 100 records before the application first starts: with `latest` and no committed
    // offset, it must skip them, also when its assignment was deferred.
    let cluster = cluster_with(14, 100);
    cluster.fail_offset_reads(3);
    let dir = tempfile::tempdir().expect("a temporary state directory");
    let mut instance =
        SimInstance::start(&app_with(&cluster, "latest"), 1, "i0", dir.path()).expect("the instance starts");
    run(&cluster, &mut instance, 30);
    assert_eq!(instance.metrics.total(names::PROCESSED, &[]), 0);
    produce(&cluster, 100, 150);
    run(&cluster, &mut instance, 200);
    assert_eq!(instance.metrics.total(names::PROCESSED, &[]), 50);
    instance.close().expect("a clean close");
    let counts = cluster.read_committed(OUTPUT).len();
    assert_eq!(counts, 50, "one count per record produced after the start");
}
