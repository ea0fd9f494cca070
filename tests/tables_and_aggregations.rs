//! KTables from topics and streams, and count / reduce / aggregate on grouped streams.

use sluice::prelude::*;
use std::collections::HashMap;

fn driver(builder: StreamsBuilder) -> TopologyTestDriver {
    TopologyTestDriver::new(builder.build().expect("valid topology"))
}

#[test]
fn table_keeps_latest_value_and_tombstones_delete() {
    let b = StreamsBuilder::new();
    let profiles = b.table_with(
        "profiles",
        Consumed::with(Serde::string(), Serde::string()),
        Materialized::as_("profiles-store"),
    );
    profiles.to_stream().to("changes", Produced::default());
    let d = driver(b);
    let input = d.create_input_topic("profiles", Serde::string(), Serde::string());
    input.pipe_input_at("acct-1".into(), "NL".into(), 1);
    input.pipe_input_at("acct-2".into(), "DE".into(), 2);
    input.pipe_input_at("acct-1".into(), "FR".into(), 3);
    input.pipe_tombstone_at("acct-2".into(), 4);
    input.pipe_tombstone_at("never-seen".into(), 5);

    let store = d.key_value_store::<String, String>("profiles-store").unwrap();
    assert_eq!(store.all(), vec![("acct-1".to_string(), "FR".to_string())]);
    assert_eq!(store.get(&"acct-2".to_string()), None);

    let out = d.create_output_topic("changes", Serde::string(), Serde::string());
    let changes: Vec<(String, Option<String>, i64)> = out
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect();
    // Deleting a key that was never there changes nothing and forwards nothing.
    assert_eq!(
        changes,
        vec![
            ("acct-1".into(), Some("NL".into()), 1),
            ("acct-2".into(), Some("DE".into()), 2),
            ("acct-1".into(), Some("FR".into()), 3),
            ("acct-2".into(), None, 4),
        ]
    );
}

/// Found by the conformance suite: the deletion of a key a table never held is forwarded when
/// the table's store does not cache (Kafka Streams' caching store drops it, as above). An inner
/// table-table join forwards a change only while the other side has a value: then a deletion
/// goes on even for a result never produced, as in Kafka Streams.
#[test]
fn uncached_tables_forward_deletes_of_absent_keys() {
    let b = StreamsBuilder::new();
    let left = b.table("left", Consumed::with(Serde::string(), Serde::string()));
    let right = b.table("right", Consumed::with(Serde::string(), Serde::string()));
    left.to_stream().to("left-changes", Produced::default());
    left.join(&right, |l, r| format!("{l}{r}"))
        .to_stream()
        .to("joined", Produced::with(Serde::string(), Serde::string()));
    let config = StreamsConfig::new("test-driver", "dummy:9092")
        .with("default.dsl.store", "in_memory")
        .and_then(|c| c.with("statestore.cache.max.bytes", "0"))
        .unwrap();
    let d = TopologyTestDriver::with_config(b.build().unwrap(), config).unwrap();
    let left_in = d.create_input_topic("left", Serde::string(), Serde::string());
    let right_in = d.create_input_topic("right", Serde::string(), Serde::string());
    left_in.pipe_tombstone_at("k".into(), 1);
    right_in.pipe_input_at("j".into(), "r".into(), 2); // no left value: no join result
    assert!(d.topic_log("joined").is_empty(), "{:?}", d.topic_log("joined"));
    left_in.pipe_tombstone_at("j".into(), 3); // the right side has a value: a deletion
    assert_eq!(
        d.topic_log("joined")
            .into_iter()
            .map(|r| (r.key, r.value, r.timestamp))
            .collect::<Vec<_>>(),
        vec![(Some(b"j".to_vec()), None, 3)]
    );
    assert_eq!(
        d.topic_log("left-changes")
            .into_iter()
            .map(|r| (r.key, r.value))
            .collect::<Vec<_>>(),
        vec![(Some(b"k".to_vec()), None), (Some(b"j".to_vec()), None)],
        "the tombstone of an absent key goes downstream"
    );
}

#[test]
fn table_store_names_are_generated_when_not_given() {
    let b = StreamsBuilder::new();
    let t = b.table("profiles", Consumed::with(Serde::string(), Serde::string()));
    // As Kafka Streams: the store takes index 0, before the source node, and a store the user
    // did not name is not queryable.
    assert_eq!(t.queryable_store_name(), None);
    b.stream("tx", Consumed::with(Serde::string(), Serde::string()))
        .join_table(&t, |tx, profile| format!("{tx}@{profile}"))
        .to("enriched", Produced::with(Serde::string(), Serde::string()));
    let topology = b.build().unwrap();
    assert_eq!(
        topology
            .store("profiles-STATE-STORE-0000000000")
            .unwrap()
            .changelog_topic()
            .unwrap()
            .resolve("app"),
        "app-profiles-STATE-STORE-0000000000-changelog"
    );
}

/// Found by the conformance suite: as Kafka Streams, a table that nothing joins is not
/// materialized, and its filter forwards every filtered-out update as a deletion (it has no old
/// value to tell that the key was never forwarded).
#[test]
fn unread_source_tables_keep_no_store() {
    let b = StreamsBuilder::new();
    b.table("limits", Consumed::with(Serde::string(), Serde::<i64>::i64()))
        .to_stream()
        .to("changes", Produced::default());
    let topology = b.build().unwrap();
    assert!(topology.stores().is_empty(), "{:?}", topology.stores());
    let d = TopologyTestDriver::new(topology);
    let input = d.create_input_topic("limits", Serde::string(), Serde::<i64>::i64());
    input.pipe_input_at("a".into(), 1, 1);
    input.pipe_tombstone_at("never-seen".into(), 2);
    let out = d.create_output_topic("changes", Serde::string(), Serde::<i64>::i64());
    let got: Vec<(String, Option<i64>)> = out
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value))
        .collect();
    assert_eq!(got, vec![("a".into(), Some(1)), ("never-seen".into(), None)]);
}

#[test]
fn ktable_filter_turns_filtered_updates_into_deletes() {
    let b = StreamsBuilder::new();
    b.table("limits", Consumed::with(Serde::string(), Serde::<i64>::i64()))
        .filter(|_, limit| *limit >= 100)
        .map_values(|limit| limit * 2)
        .to_stream()
        .to("high", Produced::with(Serde::string(), Serde::i64()));
    let d = driver(b);
    let input = d.create_input_topic("limits", Serde::string(), Serde::<i64>::i64());
    // Without old values (nothing downstream asks for them), every filtered-out update is
    // forwarded as a deletion, as Kafka Streams does.
    input.pipe_input("a".into(), 50); // never passed: a deletion all the same
    input.pipe_input("b".into(), 150);
    input.pipe_input("b".into(), 10); // stops passing: delete
    input.pipe_input("b".into(), 5); // still filtered: deleted again
    let out = d.create_output_topic("high", Serde::string(), Serde::<i64>::i64());
    let got: Vec<(String, Option<i64>)> = out
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a".into(), None),
            ("b".into(), Some(300)),
            ("b".into(), None),
            ("b".into(), None)
        ]
    );
}

#[test]
fn stream_to_table_materializes_latest_value() {
    let b = StreamsBuilder::new();
    let t = b
        .stream("events", Consumed::with(Serde::string(), Serde::string()))
        .to_table(Materialized::as_("latest"));
    t.to_stream().to("out", Produced::default());
    let d = driver(b);
    let input = d.create_input_topic("events", Serde::string(), Serde::string());
    input.pipe_input("k".into(), "1".into());
    input.pipe_input("k".into(), "2".into());
    input.pipe_tombstone_at("k".into(), 10);
    assert!(d
        .key_value_store::<String, String>("latest")
        .unwrap()
        .all()
        .is_empty());
    assert_eq!(
        d.create_output_topic("out", Serde::string(), Serde::string())
            .queue_size(),
        3
    );
}

#[test]
fn count_emits_every_update_and_matches_store() {
    let b = StreamsBuilder::new();
    b.stream("tx", Consumed::with(Serde::string(), Serde::<i64>::i64()))
        .group_by_key()
        .count(Materialized::as_("tx-count"))
        .to_stream()
        .to("counts", Produced::default());
    let d = driver(b);
    let tx = d.create_input_topic("tx", Serde::string(), Serde::<i64>::i64());
    for k in ["a", "b", "a", "a", "c", "b"] {
        tx.pipe_input(k.to_string(), 1);
    }
    let out = d.create_output_topic("counts", Serde::string(), Serde::<i64>::i64());
    let counts: Vec<(String, i64)> = out.read_key_values_to_list();
    let expected: Vec<(String, i64)> = [("a", 1), ("b", 1), ("a", 2), ("a", 3), ("c", 1), ("b", 2)]
        .into_iter()
        .map(|(k, n)| (k.to_string(), n))
        .collect();
    assert_eq!(counts, expected);
    let store = d.key_value_store::<String, i64>("tx-count").unwrap();
    assert_eq!(store.get(&"a".to_string()), Some(3));
    assert_eq!(store.approximate_num_entries(), 3);
}

#[test]
fn count_uses_kafka_long_encoding_in_store_and_changelog() {
    let b = StreamsBuilder::new();
    b.stream("tx", Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .count(Materialized::as_("c"));
    let d = driver(b);
    d.create_input_topic("tx", Serde::string(), Serde::string())
        .pipe_input("k".into(), "v".into());
    let changelog = d.topic_log("test-driver-c-changelog");
    assert_eq!(changelog.len(), 1);
    assert_eq!(changelog[0].key.as_deref(), Some(&b"k"[..]));
    assert_eq!(changelog[0].value.as_deref(), Some(&1i64.to_be_bytes()[..]));
    assert_eq!(changelog[0].partition, Some(0));
}

#[test]
fn reduce_folds_values_with_first_as_seed() {
    let b = StreamsBuilder::new();
    b.stream("amounts", Consumed::with(Serde::string(), Serde::<i64>::i64()))
        .group_by_key()
        .reduce(|total, v| total + v, Materialized::as_("totals"))
        .to_stream()
        .to("totals-out", Produced::default());
    let d = driver(b);
    let input = d.create_input_topic("amounts", Serde::string(), Serde::<i64>::i64());
    input.pipe_key_value_list([
        ("x".into(), 5),
        ("x".into(), 7),
        ("y".into(), 1),
        ("x".into(), -2),
    ]);
    let out = d.create_output_topic("totals-out", Serde::string(), Serde::<i64>::i64());
    assert_eq!(out.read_values_to_list(), vec![5, 12, 1, 10]);
}

#[test]
fn aggregate_with_custom_type_and_bincode_store() {
    #[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Default)]
    struct Stats {
        n: u64,
        sum: i64,
        max: i64,
    }
    let b = StreamsBuilder::new();
    b.stream("readings", Consumed::with(Serde::string(), Serde::<i64>::i64()))
        .group_by_key()
        .aggregate(
            Stats::default,
            |_, v, s| Stats {
                n: s.n + 1,
                sum: s.sum + v,
                max: s.max.max(*v),
            },
            Materialized::as_("stats"),
        )
        .to_stream()
        .map_values(|s| format!("{}/{}/{}", s.n, s.sum, s.max))
        .to("stats-out", Produced::with(Serde::string(), Serde::string()));
    let d = driver(b);
    let input = d.create_input_topic("readings", Serde::string(), Serde::<i64>::i64());
    input.pipe_key_value_list([("dev".into(), 3), ("dev".into(), 9), ("dev".into(), 4)]);
    let out = d.create_output_topic("stats-out", Serde::string(), Serde::string());
    assert_eq!(out.read_values_to_list(), vec!["1/3/3", "2/12/9", "3/16/9"]);
    let store = d.key_value_store::<String, Stats>("stats").unwrap();
    assert_eq!(
        store.get(&"dev".into()),
        Some(Stats {
            n: 3,
            sum: 16,
            max: 9
        })
    );
}

#[test]
fn aggregations_skip_null_values_and_count_them() {
    let b = StreamsBuilder::new();
    b.stream("tx", Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .count(Materialized::as_("c"));
    let d = driver(b);
    let tx = d.create_input_topic("tx", Serde::string(), Serde::string());
    tx.pipe_input("a".into(), "x".into());
    tx.pipe_tombstone_at("a".into(), 1);
    assert_eq!(
        d.key_value_store::<String, i64>("c").unwrap().get(&"a".into()),
        Some(1)
    );
    assert_eq!(
        d.metrics()
            .total("sluice_dropped_records_total", &[("reason", "null_value")]),
        1
    );
}

#[test]
fn group_by_repartitions_through_an_internal_topic() {
    let b = StreamsBuilder::new();
    b.stream("orders", Consumed::with(Serde::string(), Serde::string()))
        .group_by_with(
            |_order_id, customer| customer.clone(),
            Grouped::as_("by-customer").with_key_serde(Serde::string()),
        )
        .count(Materialized::as_("orders-per-customer"))
        .to_stream()
        .to("per-customer", Produced::default());
    let topology = b.build().unwrap();
    assert_eq!(topology.sub_topologies().len(), 2);
    let description = topology.describe().to_string();
    assert!(
        description.contains("Sink: by-customer-repartition-sink (topic: by-customer-repartition)"),
        "{description}"
    );
    assert!(
        description.contains("Source: by-customer-repartition-source (topics: [by-customer-repartition])")
    );

    let d = TopologyTestDriver::new(topology);
    let orders = d.create_input_topic("orders", Serde::string(), Serde::string());
    for (order, customer) in [("o1", "alice"), ("o2", "bob"), ("o3", "alice")] {
        orders.pipe_input(order.into(), customer.into());
    }
    let out = d.create_output_topic("per-customer", Serde::string(), Serde::<i64>::i64());
    assert_eq!(
        out.read_key_values_to_map(),
        HashMap::from([("alice".to_string(), 2), ("bob".to_string(), 1)])
    );
    // The re-keyed records went through the repartition topic.
    assert_eq!(d.topic_log("test-driver-by-customer-repartition").len(), 3);
}

#[test]
fn map_then_count_repartitions_with_bincode_fallback_serdes() {
    let b = StreamsBuilder::new();
    b.stream("words", Consumed::with(Serde::string(), Serde::string()))
        .map(|_, w| (w.to_lowercase(), w.len() as u32))
        .group_by_key()
        .count(Materialized::as_("word-count"));
    let d = driver(b);
    let words = d.create_input_topic("words", Serde::string(), Serde::string());
    for w in ["Kafka", "kafka", "rust"] {
        words.pipe_input("".into(), w.into());
    }
    let mut all = d.key_value_store::<String, i64>("word-count").unwrap().all();
    all.sort();
    assert_eq!(all, vec![("kafka".to_string(), 2), ("rust".to_string(), 1)]);
}

#[test]
fn caching_disabled_and_enabled_agree_in_the_driver() {
    // The driver commits after every record, so the record cache flushes every update either way.
    fn run(materialized: Materialized<String, i64>) -> Vec<i64> {
        let b = StreamsBuilder::new();
        b.stream("tx", Consumed::with(Serde::string(), Serde::string()))
            .group_by_key()
            .count(materialized)
            .to_stream()
            .to("out", Produced::default());
        let d = TopologyTestDriver::new(b.build().unwrap());
        let tx = d.create_input_topic("tx", Serde::string(), Serde::string());
        for _ in 0..3 {
            tx.pipe_input("k".into(), "v".into());
        }
        d.create_output_topic("out", Serde::string(), Serde::<i64>::i64())
            .read_values_to_list()
    }
    assert_eq!(run(Materialized::as_("c")), vec![1, 2, 3]);
    assert_eq!(run(Materialized::as_("c").with_caching_disabled()), vec![1, 2, 3]);
}

#[test]
fn store_views_check_types() {
    let b = StreamsBuilder::new();
    b.stream("tx", Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .count(Materialized::as_("c"));
    let d = driver(b);
    let err = d
        .key_value_store::<String, String>("c")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("holds alloc::string::String -> i64"), "{err}");
    assert!(d.key_value_store::<String, i64>("nope").is_err());
}
