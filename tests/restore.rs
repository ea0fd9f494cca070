//! Restoring stores from their changelogs after restarts, crashes, and lost or corrupt local
//! state, through the test driver with RocksDB and in-memory stores.

use sluice::prelude::*;
use std::collections::HashMap;

fn counting_topology() -> Topology {
    let b = StreamsBuilder::new();
    b.stream("tx", Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .count(Materialized::as_("counts"))
        .to_stream()
        .to("counts-out", Produced::default());
    b.build().unwrap()
}

fn driver(store: &str) -> TopologyTestDriver {
    let config = StreamsConfig::new("restore-test", "unused:9092")
        .with("default.dsl.store", store)
        .unwrap();
    TopologyTestDriver::with_config(counting_topology(), config).unwrap()
}

/// Pipes `n` records over 7 keys and returns the expected counts.
fn pipe(d: &TopologyTestDriver, n: usize, expected: &mut HashMap<String, i64>) {
    let tx = d.create_input_topic("tx", Serde::string(), Serde::string());
    for i in 0..n {
        let k = format!("k{}", i % 7);
        tx.pipe_input(k.clone(), "v".into());
        *expected.entry(k).or_default() += 1;
    }
}

fn counts(d: &TopologyTestDriver) -> HashMap<String, i64> {
    d.key_value_store::<String, i64>("counts")
        .unwrap()
        .all()
        .into_iter()
        .collect()
}

#[test]
fn in_memory_stores_restore_fully_from_the_changelog() {
    let d = driver("in_memory");
    let mut expected = HashMap::new();
    pipe(&d, 50, &mut expected);
    let restored = d.restart().unwrap();
    assert_eq!(restored.len(), 1);
    assert_eq!((restored[0].from_offset, restored[0].records), (0, 50));
    assert_eq!(counts(&d), expected);
    // Processing continues from the restored counts.
    pipe(&d, 10, &mut expected);
    assert_eq!(counts(&d), expected);
}

#[test]
fn rocksdb_clean_restart_replays_nothing() {
    let d = driver("rocksDB");
    let mut expected = HashMap::new();
    pipe(&d, 50, &mut expected);
    assert!(
        d.state_dir().join("0_0").join("CURRENT").exists(),
        "one RocksDB per task"
    );
    let restored = d.restart().unwrap();
    assert_eq!((restored[0].from_offset, restored[0].records), (50, 0));
    assert_eq!(counts(&d), expected);
}

#[test]
fn rocksdb_crash_replays_the_unflushed_tail() {
    let d = driver("rocksDB");
    let mut expected = HashMap::new();
    pipe(&d, 30, &mut expected);
    d.restart().unwrap(); // flushed: offsets 0..29 are durable
    pipe(&d, 20, &mut expected);
    // Unflushed memtables die with the crash; the changelog has everything committed.
    let restored = d.crash_and_restart().unwrap();
    assert_eq!((restored[0].from_offset, restored[0].records), (30, 20));
    assert_eq!(counts(&d), expected);
    pipe(&d, 5, &mut expected);
    assert_eq!(counts(&d), expected);
}

#[test]
fn missing_local_state_is_replayed_in_full() {
    let d = driver("rocksDB");
    let mut expected = HashMap::new();
    pipe(&d, 40, &mut expected);
    d.restart().unwrap();
    std::fs::remove_dir_all(d.state_dir()).unwrap();
    let restored = d.crash_and_restart().unwrap();
    assert_eq!((restored[0].from_offset, restored[0].records), (0, 40));
    assert_eq!(counts(&d), expected);
}

#[test]
fn corrupt_local_state_is_deleted_and_replayed_in_full() {
    let d = driver("rocksDB");
    let mut expected = HashMap::new();
    pipe(&d, 40, &mut expected);
    d.restart().unwrap();
    std::fs::write(d.state_dir().join("0_0").join("CURRENT"), b"not a manifest name").unwrap();
    let restored = d.crash_and_restart().unwrap();
    assert_eq!((restored[0].from_offset, restored[0].records), (0, 40));
    assert_eq!(counts(&d), expected);
}

#[test]
fn the_output_after_a_crash_continues_the_counts() {
    let d = driver("rocksDB");
    let tx = d.create_input_topic("tx", Serde::string(), Serde::string());
    let out = d.create_output_topic("counts-out", Serde::string(), Serde::<i64>::i64());
    tx.pipe_input("a".into(), "1".into());
    tx.pipe_input("a".into(), "2".into());
    d.crash_and_restart().unwrap();
    tx.pipe_input("a".into(), "3".into());
    assert_eq!(out.read_values_to_list(), vec![1, 2, 3]);
}
