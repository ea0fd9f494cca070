//! Foreign-key table joins through the public API and the test driver: orders enriched with
//! their customer, as either row changes, an order moves to another customer, rows are
//! deleted, and responses to older values are dropped when commits are far apart. Kafka
//! Streams' own output for the same joins is checked by the conformance suite (`fk_join`,
//! `fk_left_join`, `fk_join_materialized`); `tests/fk_join_kafka.rs` runs one on the broker
//! over several partitions.

use sluice::prelude::*;

/// Orders "<customer>:<item>" joined with customers' names: "<item> for <name>".
fn topology(left: bool) -> Topology {
    let b = StreamsBuilder::new();
    let orders = b.table("orders", Consumed::with(Serde::string(), Serde::string()));
    let customers = b.table("customers", Consumed::with(Serde::string(), Serde::string()));
    let customer_of = |order: &String| order.split(':').next().unwrap().to_string();
    let item = |order: &String| order.split(':').nth(1).unwrap().to_string();
    let joined = if left {
        orders.left_join_on_foreign_key_with(
            &customers,
            customer_of,
            move |order, name: Option<&String>| {
                format!("{} for {}", item(order), name.map_or("?", String::as_str))
            },
            Materialized::as_("enriched").with_value_serde(Serde::string()),
        )
    } else {
        orders.join_on_foreign_key_with(
            &customers,
            customer_of,
            move |order, name| format!("{} for {name}", item(order)),
            Materialized::as_("enriched").with_value_serde(Serde::string()),
        )
    };
    joined.to_stream().to(
        "enriched-orders",
        Produced::with(Serde::string(), Serde::string()),
    );
    b.build().unwrap()
}

fn updates(out: &TestOutputTopic<String, String>) -> Vec<(String, Option<String>)> {
    out.read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value))
        .collect()
}

fn kv(k: &str, v: Option<&str>) -> (String, Option<String>) {
    (k.to_string(), v.map(str::to_string))
}

#[test]
fn an_order_follows_its_customer_and_moves_with_its_foreign_key() {
    let driver = TopologyTestDriver::new(topology(false));
    let orders = driver.create_input_topic("orders", Serde::string(), Serde::string());
    let customers = driver.create_input_topic("customers", Serde::string(), Serde::string());
    let out = driver.create_output_topic("enriched-orders", Serde::string(), Serde::string());
    orders.pipe_input_at("o1".into(), "c1:book".into(), 1);
    assert!(out.is_empty(), "inner join: no customer yet");
    customers.pipe_input_at("c1".into(), "Ann".into(), 2);
    customers.pipe_input_at("c2".into(), "Bob".into(), 3);
    customers.pipe_input_at("c1".into(), "Ann B.".into(), 4);
    orders.pipe_input_at("o1".into(), "c2:book".into(), 5);
    customers.pipe_input_at("c1".into(), "Ann C.".into(), 6); // o1 no longer points at c1
    customers.pipe_tombstone_at("c2".into(), 7);
    orders.pipe_input_at("o2".into(), "c1:pen".into(), 8);
    orders.pipe_tombstone_at("o2".into(), 9);
    assert_eq!(
        updates(&out),
        vec![
            kv("o1", Some("book for Ann")),
            kv("o1", Some("book for Ann B.")),
            kv("o1", Some("book for Bob")),
            kv("o1", None), // Bob deleted
            kv("o2", Some("pen for Ann C.")),
            kv("o2", None),
        ]
    );
    let store = driver.key_value_store::<String, String>("enriched").unwrap();
    assert_eq!(store.get(&"o1".to_string()), None);
    assert_eq!(store.all(), vec![]);
}

#[test]
fn a_left_join_keeps_orders_without_a_customer() {
    let driver = TopologyTestDriver::new(topology(true));
    let orders = driver.create_input_topic("orders", Serde::string(), Serde::string());
    let customers = driver.create_input_topic("customers", Serde::string(), Serde::string());
    let out = driver.create_output_topic("enriched-orders", Serde::string(), Serde::string());
    orders.pipe_input_at("o1".into(), "c1:book".into(), 1);
    customers.pipe_input_at("c1".into(), "Ann".into(), 2);
    customers.pipe_tombstone_at("c1".into(), 3);
    orders.pipe_tombstone_at("o1".into(), 4);
    assert_eq!(
        updates(&out),
        vec![
            kv("o1", Some("book for ?")),
            kv("o1", Some("book for Ann")),
            kv("o1", Some("book for ?")),
            kv("o1", None),
        ]
    );
}

#[test]
fn responses_to_older_values_are_dropped_when_commits_are_far_apart() {
    // The driver commits once per 1,000 records: subscriptions and responses cross their
    // topics only at commits, so by then o1 has changed twice; only its latest value's
    // response may produce a result. The record cache is off, or it would have merged o1's
    // three updates into one before they subscribed.
    let config = StreamsConfig::new("fk-join", "dummy:9092")
        .with("default.dsl.store", "in_memory")
        .unwrap()
        .with("statestore.cache.max.bytes", "0")
        .unwrap();
    let driver = TopologyTestDriver::with_config(topology(false), config)
        .unwrap()
        .with_commit_every(1_000);
    let orders = driver.create_input_topic("orders", Serde::string(), Serde::string());
    let customers = driver.create_input_topic("customers", Serde::string(), Serde::string());
    let out = driver.create_output_topic("enriched-orders", Serde::string(), Serde::string());
    customers.pipe_input_at("c1".into(), "Ann".into(), 1);
    customers.pipe_input_at("c2".into(), "Bob".into(), 2);
    orders.pipe_input_at("o1".into(), "c1:book".into(), 3);
    orders.pipe_input_at("o1".into(), "c2:book".into(), 4);
    orders.pipe_input_at("o1".into(), "c2:lamp".into(), 5);
    driver.commit().unwrap();
    assert_eq!(updates(&out), vec![kv("o1", Some("lamp for Bob"))]);
    let stale = driver
        .metrics()
        .total("sluice_dropped_records_total", &[("reason", "stale_response")]);
    assert_eq!(
        stale, 2,
        "the responses to c1:book and c2:book were dropped and counted"
    );
    let store = driver.key_value_store::<String, String>("enriched").unwrap();
    assert_eq!(store.get(&"o1".to_string()), Some("lamp for Bob".to_string()));
}

#[test]
fn the_topology_is_named_as_kafka_streams_names_it_and_is_co_partitioned() {
    let t = topology(false);
    let described = t.describe().to_string();
    for part in [
        "KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000007",
        "(topic: KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000006-topic)",
        "KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000011 (stores: [KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-0000000010])",
        "(topic: KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000014-topic)",
        "KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-PROCESSOR-0000000017",
        "Processor: KTABLE-FK-JOIN-OUTPUT-0000000018 (stores: [enriched])",
    ] {
        assert!(described.contains(part), "{part} in:\n{described}");
    }
    let groups: Vec<Vec<&str>> = t
        .copartition_groups()
        .iter()
        .map(|g| g.iter().map(|t| t.name()).collect())
        .collect();
    assert!(
        groups.contains(&vec![
            "orders",
            "KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000014-topic"
        ]),
        "{groups:?}"
    );
    assert!(
        groups.contains(&vec![
            "customers",
            "KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000006-topic"
        ]),
        "{groups:?}"
    );
}
