//! Seeded property tests: random record streams through `count`, `reduce` and `aggregate`
//! (with and without a repartition) match a reference model — a fold into a `HashMap`.
//!
//! The seed is fixed so CI is reproducible; set `SLUICE_PROPTEST_SEED` to explore others.
//! A failure prints the shrunk input.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use sluice::prelude::*;
use std::collections::HashMap;

fn config() -> Config {
    let seed = std::env::var("SLUICE_PROPTEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5_1u64);
    Config {
        cases: 64,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

/// `(key, value, timestamp)` with few keys so that keys repeat.
fn records() -> impl Strategy<Value = Vec<(u8, i32, i64)>> {
    prop::collection::vec((0u8..6, -1000i32..1000, 0i64..10_000), 0..120)
}

fn key(k: u8) -> String {
    format!("key-{k}")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn count_and_sum_match_a_hashmap_fold(input in records()) {
        let b = StreamsBuilder::new();
        let grouped = b
            .stream("in", Consumed::with(Serde::string(), Serde::<i32>::i32()))
            .group_by_key();
        grouped.count(Materialized::as_("count")).to_stream().to("counts", Produced::default());
        grouped
            .aggregate(|| 0i64, |_, v, sum| sum + i64::from(*v), Materialized::as_("sum"))
            .to_stream()
            .to("sums", Produced::with(Serde::string(), Serde::i64()));
        let d = TopologyTestDriver::new(b.build().unwrap());
        let topic = d.create_input_topic("in", Serde::string(), Serde::<i32>::i32());

        let mut counts: HashMap<String, i64> = HashMap::new();
        let mut sums: HashMap<String, i64> = HashMap::new();
        let mut expected_updates = Vec::new();
        for (k, v, ts) in &input {
            topic.pipe_input_at(key(*k), *v, *ts);
            *counts.entry(key(*k)).or_default() += 1;
            *sums.entry(key(*k)).or_default() += i64::from(*v);
            expected_updates.push((key(*k), sums[&key(*k)]));
        }

        // Every update is forwarded, in order (the driver commits after each record).
        let sums_out = d.create_output_topic("sums", Serde::string(), Serde::<i64>::i64());
        prop_assert_eq!(sums_out.read_key_values_to_list(), expected_updates);
        let counts_out = d.create_output_topic("counts", Serde::string(), Serde::<i64>::i64());
        prop_assert_eq!(counts_out.read_key_values_to_map(), counts.clone());

        let count_store: HashMap<String, i64> = d.key_value_store::<String, i64>("count").unwrap().all().into_iter().collect();
        let sum_store: HashMap<String, i64> = d.key_value_store::<String, i64>("sum").unwrap().all().into_iter().collect();
        prop_assert_eq!(count_store, counts);
        prop_assert_eq!(sum_store, sums);
    }

    #[test]
    fn regrouped_reduce_matches_a_hashmap_fold(input in records()) {
        // Re-key by value parity: every record crosses a repartition topic.
        let b = StreamsBuilder::new();
        b.stream("in", Consumed::with(Serde::string(), Serde::<i32>::i32()))
            .group_by(|_, v| if v % 2 == 0 { "even".to_string() } else { "odd".to_string() })
            .reduce(|max, v| max.max(*v), Materialized::as_("max-by-parity"));
        let d = TopologyTestDriver::new(b.build().unwrap());
        let topic = d.create_input_topic("in", Serde::string(), Serde::<i32>::i32());
        let mut expected: HashMap<String, i32> = HashMap::new();
        for (k, v, ts) in &input {
            topic.pipe_input_at(key(*k), *v, *ts);
            let parity = if v % 2 == 0 { "even" } else { "odd" }.to_string();
            let e = expected.entry(parity).or_insert(*v);
            *e = (*e).max(*v);
        }
        let store: HashMap<String, i32> = d.key_value_store::<String, i32>("max-by-parity").unwrap().all().into_iter().collect();
        prop_assert_eq!(store, expected);
    }
}
