//! Joins beyond the documented tables: out-of-order inputs, output timestamps, repartitioning
//! before joins, co-partition groups, lookups through table operators, global tables, restarts
//! of the waiting records of left and outer joins, and invalid joins.

use sluice::dsl::topology::{InternalTopicKind, TopicRef};
use sluice::prelude::*;
use std::time::Duration;

fn strings(b: &StreamsBuilder, topic: &str) -> KStream<String, String> {
    b.stream(topic, Consumed::with(Serde::string(), Serde::string()))
}

fn out_records(d: &TopologyTestDriver, topic: &str) -> Vec<(String, String, i64)> {
    d.create_output_topic(topic, Serde::string(), Serde::string())
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value.unwrap_or_else(|| "null".into()), r.timestamp))
        .collect()
}

fn rec(k: &str, v: &str, t: i64) -> (String, String, i64) {
    (k.to_string(), v.to_string(), t)
}

#[test]
fn stream_table_join_uses_the_table_value_at_processing_time() {
    // Not a temporal join: a profile update that arrives later, even with an earlier
    // timestamp, applies to stream records processed after it.
    let b = StreamsBuilder::new();
    let profiles = b.table("profiles", Consumed::with(Serde::string(), Serde::string()));
    strings(&b, "tx")
        .join_table(&profiles, |amount, country| format!("{amount}@{country}"))
        .to("enriched", Produced::with(Serde::string(), Serde::string()));
    let d = TopologyTestDriver::new(b.build().unwrap());
    let tx = d.create_input_topic("tx", Serde::string(), Serde::string());
    let profiles = d.create_input_topic("profiles", Serde::string(), Serde::string());
    tx.pipe_input_at("acct".into(), "10".into(), 100); // no profile yet: no output
    profiles.pipe_input_at("acct".into(), "NL".into(), 500);
    tx.pipe_input_at("acct".into(), "20".into(), 200); // earlier than the profile, joined anyway
    profiles.pipe_input_at("acct".into(), "DE".into(), 50);
    tx.pipe_input_at("acct".into(), "30".into(), 300);
    assert_eq!(
        out_records(&d, "enriched"),
        vec![rec("acct", "20@NL", 200), rec("acct", "30@DE", 300)],
        "output at the stream record's time"
    );
}

#[test]
fn stream_table_join_reads_through_table_operators() {
    let b = StreamsBuilder::new();
    let limits = b
        .table("limits", Consumed::with(Serde::string(), Serde::<i64>::i64()))
        .filter(|_, limit| *limit > 0)
        .map_values(|limit| limit * 100);
    strings(&b, "tx")
        .left_join_table(&limits, |tx, limit| format!("{tx}:{limit:?}"))
        .to("out", Produced::with(Serde::string(), Serde::string()));
    let d = TopologyTestDriver::new(b.build().unwrap());
    let limits = d.create_input_topic("limits", Serde::string(), Serde::<i64>::i64());
    let tx = d.create_input_topic("tx", Serde::string(), Serde::string());
    limits.pipe_input("a".into(), 5);
    limits.pipe_input("b".into(), -1);
    tx.pipe_input("a".into(), "x".into());
    tx.pipe_input("b".into(), "y".into());
    let got: Vec<String> = out_records(&d, "out").into_iter().map(|r| r.1).collect();
    assert_eq!(got, vec!["x:Some(500)", "y:None"]);
}

#[test]
fn table_table_join_output_time_is_the_later_side() {
    let b = StreamsBuilder::new();
    let l = b.table("left", Consumed::with(Serde::string(), Serde::string()));
    let r = b.table("right", Consumed::with(Serde::string(), Serde::string()));
    l.join(&r, |a, b| format!("{a}{b}"))
        .to_stream()
        .to("out", Produced::with(Serde::string(), Serde::string()));
    let d = TopologyTestDriver::new(b.build().unwrap());
    let left = d.create_input_topic("left", Serde::string(), Serde::string());
    let right = d.create_input_topic("right", Serde::string(), Serde::string());
    left.pipe_input_at("k".into(), "A".into(), 30);
    right.pipe_input_at("k".into(), "a".into(), 10);
    left.pipe_input_at("k".into(), "B".into(), 5);
    assert_eq!(
        out_records(&d, "out"),
        vec![rec("k", "Aa", 30), rec("k", "Ba", 10)]
    );
}

fn left_join_topology() -> Topology {
    let b = StreamsBuilder::new();
    let payments = strings(&b, "payments");
    let logins = strings(&b, "logins");
    payments
        .left_join(
            &logins,
            |p, l| format!("{p}+{}", l.map_or("none", String::as_str)),
            JoinWindows::of_time_difference_and_grace(Duration::from_millis(10), Duration::from_millis(5)),
            StreamJoined::as_("pay-login"),
        )
        .to("out", Produced::with(Serde::string(), Serde::string()));
    b.build().unwrap()
}

#[test]
fn stream_stream_join_handles_out_of_order_and_late_records() {
    let d = TopologyTestDriver::new(left_join_topology());
    let payments = d.create_input_topic("payments", Serde::string(), Serde::string());
    let logins = d.create_input_topic("logins", Serde::string(), Serde::string());
    payments.pipe_input_at("u".into(), "p1".into(), 100);
    logins.pipe_input_at("u".into(), "l1".into(), 112); // stream time 112; 12 after p1: no join
    logins.pipe_input_at("u".into(), "l0".into(), 95); // out of order: joins p1
    payments.pipe_input_at("u".into(), "p2".into(), 104); // out of order: joins l1 (8 apart) and l0 (9)
                                                          // Past the join stores' retention (10 + 10 + 5 before stream time): dropped and counted.
    logins.pipe_input_at("u".into(), "ancient".into(), 87);
    logins.pipe_input_at("x".into(), "tick".into(), 300); // every window closed
    assert_eq!(
        out_records(&d, "out"),
        vec![
            rec("u", "p1+l0", 100),
            rec("u", "p2+l0", 104),
            rec("u", "p2+l1", 112)
        ],
        "each pair once, at the later of its two times; matched records never alone"
    );
    assert_eq!(
        d.metrics()
            .total("sluice_dropped_records_total", &[("reason", "expired_window")]),
        1
    );
}

#[test]
fn stream_stream_join_keeps_duplicates() {
    let d = TopologyTestDriver::new(left_join_topology());
    let payments = d.create_input_topic("payments", Serde::string(), Serde::string());
    let logins = d.create_input_topic("logins", Serde::string(), Serde::string());
    payments.pipe_input_at("u".into(), "p1".into(), 100);
    payments.pipe_input_at("u".into(), "p2".into(), 100);
    logins.pipe_input_at("u".into(), "l".into(), 100);
    let got: Vec<String> = out_records(&d, "out").into_iter().map(|r| r.1).collect();
    assert_eq!(got, vec!["p1+l", "p2+l"]);
}

#[test]
fn asymmetric_join_windows() {
    // A right record may be up to 5 ms before or 20 ms after a left record.
    let b = StreamsBuilder::new();
    strings(&b, "l")
        .join(
            &strings(&b, "r"),
            |a, b| format!("{a}{b}"),
            JoinWindows::of_time_difference_with_no_grace(Duration::from_millis(20))
                .before(Duration::from_millis(5)),
            StreamJoined::default(),
        )
        .to("out", Produced::with(Serde::string(), Serde::string()));
    let d = TopologyTestDriver::new(b.build().unwrap());
    let l = d.create_input_topic("l", Serde::string(), Serde::string());
    let r = d.create_input_topic("r", Serde::string(), Serde::string());
    r.pipe_input_at("k".into(), "early".into(), 90); // 10 before the left record
    r.pipe_input_at("k".into(), "near".into(), 96); // 4 before
    l.pipe_input_at("k".into(), "L".into(), 100);
    r.pipe_input_at("k".into(), "late".into(), 119); // 19 after
    r.pipe_input_at("k".into(), "too-late".into(), 121); // 21 after
    let got: Vec<String> = out_records(&d, "out").into_iter().map(|r| r.1).collect();
    assert_eq!(got, vec!["Lnear", "Llate"]);
}

#[test]
fn unmatched_left_records_survive_a_crash() {
    let config = StreamsConfig::new("joins", "unused:9092");
    let d = TopologyTestDriver::with_config(left_join_topology(), config).unwrap();
    let payments = d.create_input_topic("payments", Serde::string(), Serde::string());
    let logins = d.create_input_topic("logins", Serde::string(), Serde::string());
    payments.pipe_input_at("u".into(), "waiting".into(), 100);
    payments.pipe_input_at("v".into(), "matched".into(), 101);
    d.crash_and_restart().unwrap();
    logins.pipe_input_at("v".into(), "l".into(), 105);
    // "waiting" is emitted once stream time passes 100 + 10 + 5, "matched" never alone. As in
    // Kafka Streams, the check before scanning the waiting records uses the earliest time the
    // last scan saw (101: "matched", which found its partner at 105 since), so the
    // emission comes once stream time passes 101 + 10 + 5.
    logins.pipe_input_at("x".into(), "tick".into(), 116);
    assert_eq!(out_records(&d, "out"), vec![rec("v", "matched+l", 105)]);
    logins.pipe_input_at("x".into(), "tick".into(), 117);
    assert_eq!(out_records(&d, "out"), vec![rec("u", "waiting+none", 100)]);
    d.crash_and_restart().unwrap();
    logins.pipe_input_at("x".into(), "tick".into(), 200);
    assert!(out_records(&d, "out").is_empty(), "nothing is emitted twice");
}

#[test]
fn key_changes_repartition_before_joins_and_join_sides_are_copartitioned() {
    let b = StreamsBuilder::new();
    let profiles = b.table("profiles", Consumed::with(Serde::string(), Serde::string()));
    strings(&b, "tx")
        .select_key(|_, v| v.clone())
        .join_table(&profiles, |v, p| format!("{v}{p}"))
        .to("out", Produced::with(Serde::string(), Serde::string()));
    let topology = b.build().unwrap();
    let description = topology.describe().to_string();
    assert!(
        // Kafka Streams' names: the topic after the re-keying node, generated node names.
        description
            .contains("Sink: KSTREAM-SINK-0000000005 (topic: KSTREAM-KEY-SELECT-0000000004-repartition)"),
        "{description}"
    );
    assert_eq!(topology.sub_topologies().len(), 2);
    assert_eq!(
        topology.copartition_groups(),
        &[vec![
            TopicRef::User("profiles".into()),
            TopicRef::Internal("KSTREAM-KEY-SELECT-0000000004-repartition".into())
        ]]
    );

    let d = TopologyTestDriver::new(topology);
    d.create_input_topic("profiles", Serde::string(), Serde::string())
        .pipe_input("alice".into(), "NL".into());
    d.create_input_topic("tx", Serde::string(), Serde::string())
        .pipe_input("ignored".into(), "alice".into());
    assert_eq!(out_records(&d, "out")[0].1, "aliceNL");
}

#[test]
fn stream_stream_copartition_group_and_explicit_repartition() {
    let b = StreamsBuilder::new();
    let left =
        strings(&b, "left").repartition_with(Repartitioned::as_("left-by-key").with_number_of_partitions(6));
    left.join(
        &strings(&b, "right"),
        |a, b| format!("{a}{b}"),
        JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(1)),
        StreamJoined::default(),
    )
    .to("out", Produced::with(Serde::string(), Serde::string()));
    let topology = b.build().unwrap();
    assert_eq!(
        topology.copartition_groups(),
        &[vec![
            TopicRef::User("right".into()),
            TopicRef::Internal("left-by-key-repartition".into())
        ]]
    );
    let repartition = topology
        .internal_topics()
        .iter()
        .find(|t| matches!(t.kind, InternalTopicKind::Repartition { .. }))
        .unwrap();
    assert!(matches!(
        repartition.kind,
        InternalTopicKind::Repartition {
            partitions: Some(6),
            ..
        }
    ));
}

#[test]
fn global_table_join_needs_no_copartitioning() {
    let b = StreamsBuilder::new();
    let merchants = b.global_table("merchants", Consumed::with(Serde::string(), Serde::string()));
    strings(&b, "payments")
        .left_join_global(
            &merchants,
            |_card, merchant| merchant.clone(),
            |merchant, category| format!("{merchant}:{}", category.map_or("?", String::as_str)),
        )
        .to("out", Produced::with(Serde::string(), Serde::string()));
    let topology = b.build().unwrap();
    assert!(topology.copartition_groups().is_empty());
    assert!(topology
        .describe()
        .to_string()
        .contains("for global store (will not generate tasks)"));

    let config = StreamsConfig::new("global", "unused:9092");
    let d = TopologyTestDriver::with_config(topology, config).unwrap();
    let merchants = d.create_input_topic("merchants", Serde::string(), Serde::string());
    let payments = d.create_input_topic("payments", Serde::string(), Serde::string());
    merchants.pipe_input("m1".into(), "fuel".into());
    payments.pipe_input("card".into(), "m1".into());
    payments.pipe_input("card".into(), "m2".into());
    d.crash_and_restart().unwrap(); // the global store is rebuilt from its topic
    merchants.pipe_tombstone_at("m1".into(), 5);
    payments.pipe_input("card".into(), "m1".into());
    let got: Vec<String> = out_records(&d, "out").into_iter().map(|r| r.1).collect();
    assert_eq!(got, vec!["m1:fuel", "m2:?", "m1:?"]);
}

#[test]
fn joining_a_suppressed_table_is_an_error() {
    let b = StreamsBuilder::new();
    let suppressed = strings(&b, "a")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(1)))
        .count(Materialized::as_("c"))
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()));
    let other = b.table(
        "b",
        Consumed::with(Serde::time_windowed(Serde::string(), 1000), Serde::<i64>::i64()),
    );
    suppressed.join(&other, |x, y| x + y);
    assert!(matches!(
        b.build().unwrap_err(),
        TopologyError::NotMaterialized { .. }
    ));
}
