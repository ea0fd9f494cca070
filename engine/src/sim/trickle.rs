//! A steady trickle of input on the simulated cluster: every poll of the stream thread finds a
//! record or two, so the thread never runs dry, yet it keeps up. At-least-once with
//! `statestore.cache.flush.when.idle` (the default), its record caches must not hold results
//! until the commit: a step that processed everything it fetched flushes them. Before this
//! rule, only a step that found nothing flushed, and a sliding-window aggregation under a
//! steady load held its results for the whole commit interval (the e2e bench's (e) latency).

use super::instance::{App, SimInstance};
use crate::client::sim::{Faults, SimCluster};
use crate::config::StreamsConfig;
use crate::metrics::names;
use sluice_dsl::prelude::*;
use std::sync::Arc;
use std::time::Duration;

const INPUT: &str = "trickle-input";
const OUTPUT: &str = "trickle-output";

fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(INPUT, Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(60)))
        .count(Materialized::as_("trickle-counts").with_value_serde(Serde::i64()))
        .to_stream()
        .map(|w, n| (format!("{}@{}", w.key, w.window.start), n.to_string()))
        .to(OUTPUT, Produced::with(Serde::string(), Serde::string()));
    builder.build().expect("a valid topology")
}

/// Runs `steps` thread steps, producing a record before each, and returns the output records
/// seen before any commit and the commits made.
fn trickle(flush_when_idle: bool, steps: usize) -> (usize, u64) {
    let cluster = SimCluster::new(7, Faults::none());
    cluster.create_topic(INPUT, 1);
    cluster.create_topic(OUTPUT, 1);
    let config = StreamsConfig::new("trickle", "simulated")
        .with("processing.guarantee", "at_least_once")
        .and_then(|c| c.with("commit.interval.ms", "3600000"))
        .and_then(|c| c.with("default.dsl.store", "in_memory"))
        .and_then(|c| c.with("statestore.cache.flush.when.idle", &flush_when_idle.to_string()))
        .expect("a valid config");
    let app = App {
        cluster: cluster.clone(),
        topology: Arc::new(topology()),
        config: Arc::new(config),
        threads: 1,
        broken: None,
    };
    let dir = tempfile::tempdir().expect("a temporary state directory");
    let mut instance = SimInstance::start(&app, 1, "i0", dir.path()).expect("the instance starts");
    let start = 1_700_000_000_000;
    for i in 0..steps {
        // Ten keys, one record per step: a key repeats every ten steps, so the cache has
        // something to coalesce if it holds on.
        let key = format!("card-{}", i % 10);
        cluster.produce(INPUT, key.as_bytes(), b"tx", start + i as i64 * 10);
        instance.threads[0].step().expect("a step");
        cluster.advance(5);
    }
    let commits = instance.metrics.total(names::COMMITS, &[]);
    let outputs = cluster.read_committed(OUTPUT).len();
    instance.close().expect("a clean close");
    (outputs, commits)
}

#[test]
fn a_thread_that_keeps_up_flushes_its_caches_without_running_dry() {
    let (outputs, commits) = trickle(true, 400);
    assert_eq!(commits, 0, "no commit in the run: the interval is an hour");
    // Every step processed the record produced before it, so every update was flushed at
    // its step (the first steps only join the group).
    assert!(
        outputs >= 300,
        "{outputs} counts reached the output of 400 updates before any commit"
    );
}

#[test]
fn without_the_idle_flush_results_wait_for_the_commit() {
    let (outputs, commits) = trickle(false, 400);
    assert_eq!(commits, 0);
    assert_eq!(outputs, 0, "the record cache holds every update until the commit");
}
