//! A steady trickle of input on the simulated cluster: every poll of the stream thread finds a
//! record or two, so the thread never runs dry, yet it keeps up. At-least-once with
//! `statestore.cache.flush.when.idle` (the default), its record caches must not hold results
//! until the commit: a step that processed everything it fetched flushes them. Before this
//! rule, only a step that found nothing flushed, and a sliding-window aggregation under a
//! steady load held its results for the whole commit interval (the e2e bench's (e) latency).
//! A backlog must still coalesce, whether it comes in full polls or, as from librdkafka when
//! its prefetching runs behind the thread, in polls smaller than the thread asks for: the
//! thread has caught up only when its consumer knows of nothing more on the broker.

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

/// What a run saw before any commit.
struct Seen {
    /// Output records.
    outputs: usize,
    /// Records processed.
    processed: u64,
    /// Commits made.
    commits: u64,
}

/// How a run's input comes.
struct Load {
    /// Thread steps.
    steps: usize,
    /// Records produced before each step.
    per_step: usize,
    /// Records produced before the first step.
    backlog: usize,
    /// The most records a poll returns (see `SimCluster::set_fetch_limit`).
    fetch_limit: Option<usize>,
}

/// A steady trickle: a record before each of `steps` steps.
fn trickle(steps: usize) -> Load {
    Load {
        steps,
        per_step: 1,
        backlog: 0,
        fetch_limit: None,
    }
}

/// A backlog of `records` produced before the first of `steps` steps.
fn backlog(records: usize, steps: usize, fetch_limit: Option<usize>) -> Load {
    Load {
        steps,
        per_step: 0,
        backlog: records,
        fetch_limit,
    }
}

fn run(flush_when_idle: bool, load: Load) -> Seen {
    let cluster = SimCluster::new(7, Faults::none());
    cluster.set_fetch_limit(load.fetch_limit);
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
    // Ten keys: a key repeats every ten records, so the cache has something to coalesce if
    // it holds on.
    let mut produced = 0;
    let mut produce = |n: usize| {
        for _ in 0..n {
            let key = format!("card-{}", produced % 10);
            cluster.produce(
                INPUT,
                key.as_bytes(),
                b"tx",
                1_700_000_000_000 + produced as i64 * 10,
            );
            produced += 1;
        }
    };
    produce(load.backlog);
    for _ in 0..load.steps {
        produce(load.per_step);
        instance.threads[0].step().expect("a step");
        cluster.advance(5);
    }
    let seen = Seen {
        outputs: cluster.read_committed(OUTPUT).len(),
        processed: instance.metrics.total(names::PROCESSED, &[]),
        commits: instance.metrics.total(names::COMMITS, &[]),
    };
    instance.close().expect("a clean close");
    seen
}

#[test]
fn a_thread_that_keeps_up_flushes_its_caches_without_running_dry() {
    let seen = run(true, trickle(400));
    assert_eq!(seen.commits, 0, "no commit in the run: the interval is an hour");
    // Every step processed the record produced before it, so every update was flushed at
    // its step (the first steps only join the group).
    assert!(
        seen.processed >= 390,
        "{} of 400 records processed",
        seen.processed
    );
    assert!(
        seen.outputs >= 300,
        "{} counts reached the output of 400 updates before any commit",
        seen.outputs
    );
}

#[test]
fn without_the_idle_flush_results_wait_for_the_commit() {
    let seen = run(false, trickle(400));
    assert_eq!(seen.commits, 0);
    assert!(
        seen.processed >= 390,
        "{} of 400 records processed",
        seen.processed
    );
    assert_eq!(
        seen.outputs, 0,
        "the record cache holds every update until the commit"
    );
}

/// A backlog of 5,000 records coalesced: the caches flushed only once the thread had caught
/// up, so the 5,000 updates of 10 keys' windows (two windows per key at most: the records span
/// 50 s) reached the output as a few flushes of at most 20 counts.
fn assert_backlog_coalesced(seen: Seen) {
    assert_eq!(seen.commits, 0);
    assert_eq!(seen.processed, 5_000, "the backlog is processed");
    assert!(
        (1..=60).contains(&seen.outputs),
        "{} counts output for 5,000 updates of at most 20 windows",
        seen.outputs
    );
}

/// A backlog (more than a poll takes at once) still coalesces.
#[test]
fn a_backlog_still_coalesces_before_the_flush() {
    assert_backlog_coalesced(run(true, backlog(5_000, 100, None)));
}

/// A backlog whose polls bring 50 records, fewer than the thread asks for: every step
/// processes all it fetched, yet the partition's end lies ahead, so the caches hold on until
/// the thread reaches it. (Flushing at every such step sent 980 counts.)
#[test]
fn a_backlog_in_small_polls_still_coalesces_before_the_flush() {
    assert_backlog_coalesced(run(true, backlog(5_000, 200, Some(50))));
}

/// The same trickle with polls limited as in the backlog above still flushes at every step:
/// the limit alone does not make a thread look behind.
#[test]
fn a_thread_that_keeps_up_with_small_polls_flushes_its_caches() {
    let mut load = trickle(400);
    load.fetch_limit = Some(50);
    let seen = run(true, load);
    assert_eq!(seen.commits, 0);
    assert!(
        seen.outputs >= 300,
        "{} counts output of 400 updates",
        seen.outputs
    );
}

/// A task that restores does not hold back the idle flush of the thread's running tasks,
/// though its partition, paused with a full buffer while the store restores, lies behind its
/// end: the thread holds it back on purpose. (Counted, the paused partition kept every running
/// task's results to the commit for the whole restoration.)
#[test]
fn a_restoring_task_does_not_hold_back_the_running_ones() {
    let cluster = SimCluster::new(7, Faults::none());
    cluster.create_topic(INPUT, 2);
    cluster.create_topic(OUTPUT, 1);
    let config = |commit_ms: &str| {
        let c = StreamsConfig::new("trickle", "simulated")
            .with("processing.guarantee", "at_least_once")
            .and_then(|c| c.with("commit.interval.ms", commit_ms))
            .and_then(|c| c.with("default.dsl.store", "in_memory"))
            .and_then(|c| c.with("buffered.records.per.partition", "10"))
            .expect("a valid config");
        Arc::new(c)
    };
    let app = |commit_ms: &str| App {
        cluster: cluster.clone(),
        topology: Arc::new(topology()),
        config: config(commit_ms),
        threads: 1,
        broken: None,
    };
    // Keys of each partition, in the order the runs produce them.
    let keys_of = |partition: i32, n: usize| -> Vec<String> {
        (0..)
            .map(|i| format!("card-{i}"))
            .filter(|k| crate::client::partitioner::partition_for(Some(k.as_bytes()), 2) == partition)
            .take(n)
            .collect()
    };
    let produce = |key: &str, i: usize| {
        cluster.produce(INPUT, key.as_bytes(), b"tx", 1_700_000_000_000 + i as i64 * 10);
    };
    // A first instance counts 3,000 keys of partition 1: its store's changelog holds 3,000
    // records when it closes.
    let first_dir = tempfile::tempdir().expect("a temporary state directory");
    let mut first = SimInstance::start(&app("100"), 1, "i0", first_dir.path()).expect("the instance starts");
    for (i, key) in keys_of(1, 3_000).iter().enumerate() {
        produce(key, i);
    }
    for _ in 0..400 {
        first.threads[0].step().expect("a step");
        cluster.advance(5);
    }
    assert_eq!(first.metrics.total(names::PROCESSED, &[]), 3_000);
    first.close().expect("a clean close");
    let written = cluster.read_committed(OUTPUT).len();

    // Partition 1 has a backlog of 200 more records. A second instance on an empty state
    // directory restores partition 1's store 50 records a poll (60 steps at least), and
    // partition 0 gets a record before each step.
    for (i, key) in keys_of(1, 200).iter().enumerate() {
        produce(key, 3_000 + i);
    }
    cluster.set_fetch_limit(Some(50));
    let second_dir = tempfile::tempdir().expect("a temporary state directory");
    let mut second =
        SimInstance::start(&app("3600000"), 2, "i1", second_dir.path()).expect("the instance starts");
    let steady = keys_of(0, 30);
    for (i, key) in steady.iter().enumerate() {
        produce(key, 4_000 + i);
        second.threads[0].step().expect("a step");
        cluster.advance(5);
    }
    let processed = second.metrics.total(names::PROCESSED, &[]);
    assert!(
        processed <= steady.len() as u64,
        "{processed} records processed: partition 1's task is still restoring, so none of its backlog is"
    );
    assert_eq!(second.metrics.total(names::COMMITS, &[]), 0);
    let flushed = cluster.read_committed(OUTPUT).len() - written;
    assert!(
        flushed >= 20,
        "{flushed} of partition 0's 30 counts reached the output while partition 1 restored"
    );
    second.close().expect("a clean close");
}
