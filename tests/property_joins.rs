//! Seeded property test: the windowed stream-stream inner join against a nested-loop reference.
//!
//! Records of both sides arrive out of order by up to `disorder` ms; the grace period covers
//! that, so no record expires before every partner that could join it arrived. The reference
//! joins every left record with every right record of the same key whose time is within
//! `[left - before, left + after]`, each pair at the later of the two times. The outputs must be
//! that multiset exactly (order aside), whether the driver commits after every record or after
//! a batch (stream time then moves past the join stores' retention between commits).
//!
//! The seed is fixed for CI; `SLUICE_PROPTEST_SEED=<n>` explores others.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use sluice::prelude::*;
use std::time::Duration;

fn config() -> Config {
    let seed = std::env::var("SLUICE_PROPTEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x0101_u64);
    Config {
        cases: 64,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn windowed_inner_join_matches_a_nested_loop(
        steps in prop::collection::vec((any::<bool>(), 0u8..3, 0i64..15, 0i64..20), 0..70),
        before in 0i64..25,
        after in 0i64..25,
        every in prop::sample::select(vec![1usize, 2, 7, 1_000]),
    ) {
        let disorder = 20;
        let grace = disorder + 1;
        let b = StreamsBuilder::new();
        let left = b.stream("left", Consumed::with(Serde::string(), Serde::string()));
        let right = b.stream("right", Consumed::with(Serde::string(), Serde::string()));
        left.join(
            &right,
            |l, r| format!("{l}|{r}"),
            JoinWindows::of_time_difference_and_grace(Duration::from_millis(after as u64), Duration::from_millis(grace as u64))
                .before(Duration::from_millis(before as u64)),
            StreamJoined::default(),
        )
        .to("out", Produced::with(Serde::string(), Serde::string()));
        let d = TopologyTestDriver::new(b.build().unwrap()).with_commit_every(every);
        let left_in = d.create_input_topic("left", Serde::string(), Serde::string());
        let right_in = d.create_input_topic("right", Serde::string(), Serde::string());

        let mut base = 0i64;
        let mut lefts = Vec::new();
        let mut rights = Vec::new();
        for (i, (is_left, k, step, jitter)) in steps.into_iter().enumerate() {
            base += step;
            let t = (base - jitter).max(0);
            let key = format!("k{k}");
            let value = format!("{}{i}", if is_left { "L" } else { "R" });
            if is_left {
                left_in.pipe_input_at(key.clone(), value.clone(), t);
                lefts.push((key, value, t));
            } else {
                right_in.pipe_input_at(key.clone(), value.clone(), t);
                rights.push((key, value, t));
            }
        }

        d.commit().unwrap();
        let mut expected = Vec::new();
        for (lk, lv, lt) in &lefts {
            for (rk, rv, rt) in &rights {
                if lk == rk && *rt >= lt - before && *rt <= lt + after {
                    expected.push((lk.clone(), format!("{lv}|{rv}"), *lt.max(rt)));
                }
            }
        }
        let mut got: Vec<(String, String, i64)> = d
            .create_output_topic("out", Serde::string(), Serde::string())
            .read_records_to_list()
            .into_iter()
            .map(|r| (r.key, r.value.unwrap(), r.timestamp))
            .collect();
        expected.sort();
        got.sort();
        prop_assert_eq!(got, expected);
    }
}
