//! `KTable::group_by` and `KGroupedTable` through the public API and the test driver: rows
//! moving between groups retract their old values, deletes leave their group, an update inside
//! one group changes its aggregate once, and the aggregates survive a restart. Kafka Streams'
//! own output for the same topologies is checked by the conformance suite
//! (`table_group_by_count`, `table_group_by_reduce`, `table_group_by_aggregate`).

use sluice::prelude::*;

fn regions_topology() -> Topology {
    let b = StreamsBuilder::new();
    let regions = b.table("user-regions", Consumed::with(Serde::string(), Serde::string()));
    regions
        .group_by_with(
            |_user, region| (region.clone(), 1_i64),
            Grouped::with(Serde::string(), Serde::<i64>::i64()),
        )
        .count(Materialized::as_("users-per-region"))
        .to_stream()
        .to(
            "region-counts",
            Produced::with(Serde::string(), Serde::<i64>::i64()),
        );
    b.build().unwrap()
}

#[test]
fn a_row_that_moves_leaves_its_old_group_and_joins_the_new_one() {
    let driver = TopologyTestDriver::new(regions_topology());
    let users = driver.create_input_topic("user-regions", Serde::string(), Serde::string());
    let counts = driver.create_output_topic("region-counts", Serde::string(), Serde::<i64>::i64());
    users.pipe_input_at("ann".into(), "eu".into(), 1);
    users.pipe_input_at("bob".into(), "eu".into(), 2);
    users.pipe_input_at("ann".into(), "us".into(), 3);
    // Same group again: one update of the aggregate, not a retraction and an addition.
    users.pipe_input_at("ann".into(), "us".into(), 4);
    users.pipe_tombstone_at("bob".into(), 5);
    let expected = [
        ("eu", 1),
        ("eu", 2),
        ("eu", 1), // ann left eu (the retraction goes first)...
        ("us", 1), // ...and joined us
        ("us", 1), // ann updated within us
        ("eu", 0), // bob deleted
    ];
    assert_eq!(
        counts.read_key_values_to_list(),
        expected.map(|(k, n)| (k.to_string(), n)).to_vec()
    );
    let store = driver.key_value_store::<String, i64>("users-per-region").unwrap();
    assert_eq!(store.get(&"us".to_string()), Some(1));
    assert_eq!(
        store.get(&"eu".to_string()),
        Some(0),
        "a group whose rows all left counts 0"
    );
}

#[test]
fn reduce_and_aggregate_retract_with_the_subtractor() {
    let b = StreamsBuilder::new();
    let balances = b.table("balances", Consumed::with(Serde::string(), Serde::<i64>::i64()));
    // Account "<branch>/<n>" -> branch totals.
    let by_branch = balances.group_by_with(
        |account: &String, balance: &i64| (account.split('/').next().unwrap().to_string(), *balance),
        Grouped::with(Serde::string(), Serde::<i64>::i64()),
    );
    by_branch
        .reduce(|a, b| a + b, |a, b| a - b, Materialized::as_("branch-totals"))
        .to_stream()
        .to("totals", Produced::with(Serde::string(), Serde::<i64>::i64()));
    by_branch
        .aggregate(
            || (0_i64, 0_i64),
            |_, balance, (n, sum)| (n + 1, sum + balance),
            |_, balance, (n, sum)| (n - 1, sum - balance),
            Materialized::as_("branch-stats"),
        )
        .to_stream()
        .map_values(|(n, sum)| format!("{n} accounts, {sum}"))
        .to("stats", Produced::with(Serde::string(), Serde::string()));
    let driver = TopologyTestDriver::new(b.build().unwrap());
    let input = driver.create_input_topic("balances", Serde::string(), Serde::<i64>::i64());
    let totals = driver.create_output_topic("totals", Serde::string(), Serde::<i64>::i64());
    let stats = driver.create_output_topic("stats", Serde::string(), Serde::string());
    input.pipe_input_at("north/1".into(), 100, 1);
    input.pipe_input_at("north/2".into(), 50, 2);
    input.pipe_input_at("north/1".into(), 70, 3);
    input.pipe_tombstone_at("north/2".into(), 4);
    let pairs = |v: &[(&str, i64)]| v.iter().map(|(k, n)| (k.to_string(), *n)).collect::<Vec<_>>();
    assert_eq!(
        totals.read_key_values_to_list(),
        pairs(&[("north", 100), ("north", 150), ("north", 120), ("north", 70)])
    );
    assert_eq!(
        stats.read_values_to_list(),
        vec![
            "1 accounts, 100",
            "2 accounts, 150",
            "2 accounts, 120",
            "1 accounts, 70"
        ]
    );
}

#[test]
fn the_aggregates_survive_a_restart_and_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StreamsConfig::new("table-group-by", "dummy:9092");
    config.state_dir = dir.path().to_path_buf();
    let driver = TopologyTestDriver::with_config(regions_topology(), config)
        .unwrap()
        .with_commit_every(1_000);
    let users = driver.create_input_topic("user-regions", Serde::string(), Serde::string());
    for (i, user) in ["a", "b", "c"].iter().enumerate() {
        users.pipe_input_at(user.to_string(), "eu".into(), i as i64);
    }
    driver.restart().unwrap();
    users.pipe_input_at("a".into(), "us".into(), 10);
    // Uncommitted when the crash comes: processed again after it, counted once.
    driver.crash_and_restart().unwrap();
    driver.commit().unwrap();
    let store = driver.key_value_store::<String, i64>("users-per-region").unwrap();
    assert_eq!(store.get(&"eu".to_string()), Some(2));
    assert_eq!(store.get(&"us".to_string()), Some(1));
}

#[test]
fn the_topology_names_follow_kafka_streams() {
    let described = regions_topology().describe().to_string();
    for part in [
        "Processor: KTABLE-SELECT-0000000003",
        "Sink: KSTREAM-SINK-0000000004 (topic: users-per-region-repartition)",
        "Source: KSTREAM-SOURCE-0000000005 (topics: [users-per-region-repartition])",
        "Processor: KTABLE-AGGREGATE-0000000006 (stores: [users-per-region])",
    ] {
        assert!(described.contains(part), "{part} in:\n{described}");
    }
}
