//! Versioned tables (Kafka Streams' KIP-889 stores, KIP-914 joins) through the public API and
//! the test driver: a stream-table join reads the table as of each stream record's time, late
//! stream records and out-of-order table updates included; the history retention bounds what
//! is kept and what can be read; versions survive restarts and crashes. Kafka Streams' own
//! output for the same joins is checked by the conformance suite (`versioned_join`,
//! `versioned_left_join`).

use sluice::prelude::*;
use std::time::Duration;

/// Payments (cents) converted with the exchange rate of their own time.
fn topology() -> Topology {
    let b = StreamsBuilder::new();
    let rates = b.table_with(
        "rates",
        Consumed::with(Serde::string(), Serde::<i64>::i64()),
        Materialized::as_versioned("rate-history", Duration::from_secs(60)),
    );
    b.stream("payments", Consumed::with(Serde::string(), Serde::<i64>::i64()))
        .left_join_table(&rates, |amount, rate: Option<&i64>| {
            rate.map_or(-1, |r| amount * r)
        })
        .to("converted", Produced::with(Serde::string(), Serde::<i64>::i64()));
    b.build().unwrap()
}

struct Pipes {
    driver: TopologyTestDriver,
    rates: TestInputTopic<String, i64>,
    payments: TestInputTopic<String, i64>,
    converted: TestOutputTopic<String, i64>,
}

fn pipes(driver: TopologyTestDriver) -> Pipes {
    Pipes {
        rates: driver.create_input_topic("rates", Serde::string(), Serde::<i64>::i64()),
        payments: driver.create_input_topic("payments", Serde::string(), Serde::<i64>::i64()),
        converted: driver.create_output_topic("converted", Serde::string(), Serde::<i64>::i64()),
        driver,
    }
}

#[test]
fn a_stream_record_meets_the_table_value_of_its_own_time() {
    let p = pipes(TopologyTestDriver::new(topology()));
    p.rates.pipe_input_at("usd".into(), 2, 1_000);
    p.rates.pipe_input_at("usd".into(), 3, 5_000);
    p.payments.pipe_input_at("usd".into(), 10, 6_000); // now: rate 3
    p.payments.pipe_input_at("usd".into(), 10, 2_000); // late: the rate of 2,000 was 2
    p.payments.pipe_input_at("usd".into(), 10, 500); // before any rate
                                                     // An out-of-order table update fills in history: a later late payment sees it.
    p.rates.pipe_input_at("usd".into(), 7, 3_000);
    p.payments.pipe_input_at("usd".into(), 10, 3_500);
    p.payments.pipe_input_at("usd".into(), 10, 5_500); // 5,000 still wins after 3,000
                                                       // A deleted rate: payments after it find none.
    p.rates.pipe_tombstone_at("usd".into(), 8_000);
    p.payments.pipe_input_at("usd".into(), 10, 9_000);
    p.payments.pipe_input_at("usd".into(), 10, 7_000);
    assert_eq!(
        p.converted.read_values_to_list(),
        vec![30, 20, -1, 70, 30, -1, 30]
    );
    let history = p.driver.versioned_store::<String, i64>("rate-history").unwrap();
    assert_eq!(history.get(&"usd".to_string()), None, "deleted");
    assert_eq!(history.get_as_of(&"usd".to_string(), 4_000), Some((7, 3_000)));
}

#[test]
fn the_history_retention_bounds_what_is_kept_and_read() {
    let p = pipes(TopologyTestDriver::new(topology()));
    p.rates.pipe_input_at("usd".into(), 2, 0);
    p.rates.pipe_input_at("eur".into(), 5, 10_000);
    p.rates.pipe_input_at("usd".into(), 3, 100_000); // stream time 100 s: history back to 40 s
                                                     // Older than the retention: not stored, counted.
    p.rates.pipe_input_at("usd".into(), 9, 39_999);
    assert_eq!(
        p.driver
            .metrics()
            .total("sluice_dropped_records_total", &[("reason", "expired_version")]),
        1
    );
    // As of a time beyond the retention: only a latest value that is at least that old.
    p.payments.pipe_input_at("usd".into(), 10, 20_000); // usd's latest (100 s) is newer: none
    p.payments.pipe_input_at("eur".into(), 10, 20_000); // eur's latest (10 s) is older: 5
    p.payments.pipe_input_at("usd".into(), 10, 50_000); // within: the version valid then, 2
    assert_eq!(p.converted.read_values_to_list(), vec![-1, 50, 20]);
}

#[test]
fn versions_survive_a_restart_and_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StreamsConfig::new("versioned", "dummy:9092");
    config.state_dir = dir.path().to_path_buf();
    let p = pipes(
        TopologyTestDriver::with_config(topology(), config)
            .unwrap()
            .with_commit_every(1_000),
    );
    p.rates.pipe_input_at("usd".into(), 2, 1_000);
    p.rates.pipe_input_at("usd".into(), 3, 5_000);
    p.driver.restart().unwrap();
    p.rates.pipe_input_at("usd".into(), 4, 9_000);
    p.driver.crash_and_restart().unwrap();
    p.payments.pipe_input_at("usd".into(), 10, 2_000);
    p.payments.pipe_input_at("usd".into(), 10, 9_500);
    p.driver.commit().unwrap();
    assert_eq!(p.converted.read_values_to_list(), vec![20, 40]);
}

#[test]
fn versioned_stores_are_refused_where_they_are_not_supported() {
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serde::string(), Serde::<i64>::i64()))
        .group_by_key()
        .count(Materialized::as_versioned("counts", Duration::from_secs(60)));
    let e = b.build().unwrap_err();
    assert!(matches!(e, TopologyError::VersionedStoreUse { .. }), "{e}");

    let b = StreamsBuilder::new();
    let a = b.table_with(
        "a",
        Consumed::with(Serde::string(), Serde::string()),
        Materialized::as_versioned("a-versions", Duration::from_secs(60)),
    );
    let c = b.table("c", Consumed::with(Serde::string(), Serde::string()));
    c.join(&a, |x, y| format!("{x}{y}"));
    assert!(matches!(
        b.build().unwrap_err(),
        TopologyError::VersionedStoreUse { .. }
    ));

    let driver = TopologyTestDriver::new(topology());
    assert!(
        driver.key_value_store::<String, i64>("rate-history").is_err(),
        "read it as versioned"
    );
}
