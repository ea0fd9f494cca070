//! Exactly-once on Apache Kafka: the transactional commit path while instances of one process
//! join and leave the group gracefully and records flow; a `read_committed` consumer must see
//! every count of every key exactly once — no gap, no duplicate.
//!
//! Crashes (kill -9 of instances and of the broker) are in `tests/eos_kafka.rs`; interleavings a
//! broker rarely shows are explored by the simulation (`tests/eos_simulation.rs`).

mod support;

use sluice::engine::{Streams, StreamsState};
use std::collections::BTreeMap;
use std::time::Duration;
use support::{broker, state_dir, unique};

const WAIT: Duration = Duration::from_secs(60);

fn start(app: &str, input: &str, output: &str, dir: &std::path::Path) -> Streams {
    let mut config = broker().config(app);
    config.state_dir = dir.to_path_buf();
    config.set("processing.guarantee", "exactly_once_v2").unwrap();
    config.set("statestore.cache.max.bytes", "0").unwrap();
    let streams = Streams::new(support::count_topology(input, output), config).unwrap();
    streams.start().unwrap();
    streams
}

fn batch(from: usize, n: usize) -> Vec<(String, String, i64)> {
    (from..from + n)
        .map(|i| (format!("key-{}", i % 10), format!("v{i}"), 1_000 + i as i64))
        .collect()
}

#[test]
fn exactly_once_counts_survive_instances_joining_and_leaving() {
    let b = broker();
    let app = unique("eos-counts");
    let (input, output) = b.topic_pair("eos-counts", 4);
    let dirs: Vec<_> = (0..3).map(|_| state_dir()).collect();
    let mut produced = 0;
    let mut send = |n: usize| {
        b.produce(&input, &batch(produced, n));
        produced += n;
    };

    let a = start(&app, &input, &output, dirs[0].path());
    assert!(a.wait_for_state(StreamsState::Running, WAIT), "{:?}", a.errors());
    send(200);
    let second = start(&app, &input, &output, dirs[1].path());
    send(200);
    assert!(
        second.wait_for_state(StreamsState::Running, WAIT),
        "{:?}",
        second.errors()
    );
    send(200);
    a.close().unwrap();
    send(200);
    let third = start(&app, &input, &output, dirs[2].path());
    send(200);
    assert!(
        third.wait_for_state(StreamsState::Running, WAIT),
        "{:?}",
        third.errors()
    );
    send(200);

    let got = b.consume(&output, produced, WAIT);
    second.close().unwrap();
    third.close().unwrap();
    let mut counts: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (k, v, _) in got {
        counts.entry(k).or_default().push(v.parse().unwrap());
    }
    // A key lives in one partition: its counts arrive in order, each exactly once.
    for (key, seen) in &counts {
        let expected: Vec<i64> = (1..=(produced / 10) as i64).collect();
        assert_eq!(seen, &expected, "counts of {key}: every value once, in order");
    }
    assert_eq!(counts.len(), 10);
    for s in [&a, &second, &third] {
        assert!(s.errors().is_empty(), "{:?}", s.errors());
        assert!(
            s.metrics().total("sluice_commits_total", &[]) > 0,
            "every instance committed transactions"
        );
    }
}
