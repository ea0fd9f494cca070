//! `KGroupedStream::cogroup` through the public API and the test driver: several streams fold
//! into one aggregate per key, each with its own aggregator, with one record cache for all of
//! them; the streams must be co-partitioned. Kafka Streams' own output for the same topologies
//! is checked by the conformance suite (`cogroup_aggregate`, `cogroup_rekeyed`).

use sluice::prelude::*;

/// (logins, purchases, total spent) per customer.
type Activity = (u64, u64, i64);

fn activity_topology(caching: bool) -> Topology {
    let b = StreamsBuilder::new();
    let logins = b
        .stream("logins", Consumed::with(Serde::string(), Serde::string()))
        .group_by_key();
    let purchases = b
        .stream("purchases", Consumed::with(Serde::string(), Serde::<i64>::i64()))
        .group_by_key();
    let materialized = Materialized::as_("activity");
    let materialized = if caching {
        materialized
    } else {
        materialized.with_caching_disabled()
    };
    logins
        .cogroup(|_, _ip: &String, (l, p, s): Activity| (l + 1, p, s))
        .cogroup(&purchases, |_, amount: &i64, (l, p, s): Activity| {
            (l, p + 1, s + amount)
        })
        .aggregate(|| (0, 0, 0), materialized)
        .to_stream()
        .map_values(|(l, p, s)| format!("{l} logins, {p} purchases, {s} spent"))
        .to("activity-out", Produced::with(Serde::string(), Serde::string()));
    b.build().unwrap()
}

#[test]
fn two_streams_fold_into_one_aggregate_per_key() {
    let driver = TopologyTestDriver::new(activity_topology(false));
    let logins = driver.create_input_topic("logins", Serde::string(), Serde::string());
    let purchases = driver.create_input_topic("purchases", Serde::string(), Serde::<i64>::i64());
    let out = driver.create_output_topic("activity-out", Serde::string(), Serde::string());
    logins.pipe_input_at("ann".into(), "10.0.0.1".into(), 1);
    purchases.pipe_input_at("ann".into(), 30, 2);
    purchases.pipe_input_at("bob".into(), 5, 3);
    purchases.pipe_input_at("ann".into(), 12, 4);
    let got: Vec<(String, String)> = out.read_key_values_to_list();
    let expected = [
        ("ann", "1 logins, 0 purchases, 0 spent"),
        ("ann", "1 logins, 1 purchases, 30 spent"),
        ("bob", "0 logins, 1 purchases, 5 spent"),
        ("ann", "1 logins, 2 purchases, 42 spent"),
    ];
    assert_eq!(
        got,
        expected.map(|(k, v)| (k.to_string(), v.to_string())).to_vec()
    );
    let store = driver.key_value_store::<String, Activity>("activity").unwrap();
    assert_eq!(store.get(&"ann".to_string()), Some((1, 2, 42)));
}

#[test]
fn one_record_cache_coalesces_the_updates_of_every_stream() {
    let driver = TopologyTestDriver::new(activity_topology(true)).with_commit_every(1_000);
    let logins = driver.create_input_topic("logins", Serde::string(), Serde::string());
    let purchases = driver.create_input_topic("purchases", Serde::string(), Serde::<i64>::i64());
    let out = driver.create_output_topic("activity-out", Serde::string(), Serde::string());
    logins.pipe_input_at("ann".into(), "ip".into(), 1);
    purchases.pipe_input_at("ann".into(), 30, 2);
    logins.pipe_input_at("ann".into(), "ip".into(), 3);
    driver.commit().unwrap();
    assert_eq!(
        out.read_key_values_to_list(),
        vec![("ann".to_string(), "2 logins, 1 purchases, 30 spent".to_string())],
        "three updates from two streams, one output at the commit"
    );
}

#[test]
fn the_aggregate_survives_a_restart_and_the_streams_are_co_partitioned() {
    let topology = activity_topology(true);
    let groups = topology.copartition_groups();
    assert!(
        groups.iter().any(|g| {
            let names: Vec<&str> = g.iter().map(|t| t.name()).collect();
            names.contains(&"logins") && names.contains(&"purchases")
        }),
        "{groups:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut config = StreamsConfig::new("cogroup", "dummy:9092");
    config.state_dir = dir.path().to_path_buf();
    let driver = TopologyTestDriver::with_config(topology, config).unwrap();
    let logins = driver.create_input_topic("logins", Serde::string(), Serde::string());
    let purchases = driver.create_input_topic("purchases", Serde::string(), Serde::<i64>::i64());
    logins.pipe_input_at("ann".into(), "ip".into(), 1);
    purchases.pipe_input_at("ann".into(), 7, 2);
    driver.restart().unwrap();
    purchases.pipe_input_at("ann".into(), 3, 3);
    let store = driver.key_value_store::<String, Activity>("activity").unwrap();
    assert_eq!(store.get(&"ann".to_string()), Some((1, 2, 10)));
}

#[test]
fn two_re_keyed_streams_need_their_own_repartition_names() {
    let b = StreamsBuilder::new();
    let by_letter = |_: &String, v: &String| v[..1].to_string();
    let a = b
        .stream("a", Consumed::with(Serde::string(), Serde::string()))
        .group_by_with(by_letter, Grouped::with(Serde::string(), Serde::string()));
    let c = b
        .stream("c", Consumed::with(Serde::string(), Serde::string()))
        .group_by_with(by_letter, Grouped::with(Serde::string(), Serde::string()));
    a.cogroup(|_, _: &String, n: i64| n + 1)
        .cogroup(&c, |_, _: &String, n: i64| n + 10)
        .aggregate(|| 0, Materialized::as_("both"));
    let e = b.build().unwrap_err();
    assert!(e.to_string().contains("both-repartition"), "{e}");
}

#[test]
fn a_windowed_cogroup_folds_every_stream_per_window() {
    use std::time::Duration;
    let b = StreamsBuilder::new();
    let logins = b
        .stream("logins", Consumed::with(Serde::string(), Serde::string()))
        .group_by_key();
    let purchases = b
        .stream("purchases", Consumed::with(Serde::string(), Serde::<i64>::i64()))
        .group_by_key();
    logins
        .cogroup(|_, _ip: &String, (l, p): (u64, u64)| (l + 1, p))
        .cogroup(&purchases, |_, _amount: &i64, (l, p): (u64, u64)| (l, p + 1))
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(60)))
        .aggregate(|| (0, 0), Materialized::as_("activity-per-minute"))
        .to_stream()
        .map(|w, (l, p)| (format!("{}@{}", w.key, w.window.start), format!("{l}/{p}")))
        .to("per-minute", Produced::with(Serde::string(), Serde::string()));
    let driver = TopologyTestDriver::new(b.build().unwrap());
    let logins = driver.create_input_topic("logins", Serde::string(), Serde::string());
    let purchases = driver.create_input_topic("purchases", Serde::string(), Serde::<i64>::i64());
    let out = driver.create_output_topic("per-minute", Serde::string(), Serde::string());
    logins.pipe_input_at("ann".into(), "ip".into(), 1_000);
    purchases.pipe_input_at("ann".into(), 5, 30_000);
    purchases.pipe_input_at("ann".into(), 5, 61_000); // the next minute
    let got: Vec<(String, String)> = out.read_key_values_to_list();
    let expected = [("ann@0", "1/0"), ("ann@0", "1/1"), ("ann@60000", "0/1")];
    assert_eq!(
        got,
        expected.map(|(k, v)| (k.to_string(), v.to_string())).to_vec()
    );
    let windows = driver
        .window_store::<String, (u64, u64)>("activity-per-minute")
        .unwrap();
    let fetched: Vec<(i64, (u64, u64))> = windows
        .fetch(&"ann".to_string(), 0, 60_000)
        .into_iter()
        .map(|(w, v)| (w.start, v))
        .collect();
    assert_eq!(fetched, vec![(0, (1, 1)), (60_000, (0, 1))]);
}
