//! Seeded property tests of windowed counts against brute-force reference models that compute,
//! by definition, which windows contain each record.
//!
//! - Tumbling and hopping windows: a record joins every window `[k * advance, k * advance + size)`
//!   containing it whose end is still after `stream time - grace` when it arrives; the test
//!   draws arbitrary out-of-order timestamps, so records are on time, partly late or late.
//! - Sliding windows (KIP-450): the windows are `[t - d, t]` for every record `t` (`[0, d]` for
//!   `t < d`) and `[t + 1, t + 1 + d]` for every `t` with a later record within `d`; each counts
//!   the records inside it. Timestamps are out of order within a grace period; some records are
//!   later than all their windows and must be dropped.
//!
//! Each case runs twice: with a long retention, committing after every record (the stored
//! windows are compared too), and with the default retention (size + grace), committing after
//! a drawn number of records as the runtime does — so stream time may pass a window's retention
//! before the commit that carries its updates — comparing the last emitted count per window.
//!
//! The seed is fixed for CI; `SLUICE_PROPTEST_SEED=<n>` explores others.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use sluice::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

fn config() -> Config {
    let seed = std::env::var("SLUICE_PROPTEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x7_1u64);
    Config {
        cases: 64,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

type Counts = BTreeMap<(String, i64), i64>;

/// Commit intervals (in records) the cases draw from.
fn commit_every() -> impl Strategy<Value = usize> {
    prop::sample::select(vec![2usize, 3, 7, 25, 1_000])
}

/// Runs the count with a long retention, committing after every record: (stored, late,
/// emitted).
fn run<W>(windows: W, records: &[(String, i64)]) -> (Counts, u64, Counts)
where
    W: sluice::dsl::WindowedBy<String, String, Output = TimeWindowedKStream<String, String>>,
{
    run_with(windows, records, 1, Some(Duration::from_secs(1_000_000)))
}

/// Runs the count with the default retention, committing every `commit_every` records: (late,
/// last emitted count per window).
fn run_batched<W>(windows: W, records: &[(String, i64)], commit_every: usize) -> (u64, Counts)
where
    W: sluice::dsl::WindowedBy<String, String, Output = TimeWindowedKStream<String, String>>,
{
    let (_, late, emitted) = run_with(windows, records, commit_every, None);
    (late, emitted)
}

fn run_with<W>(
    windows: W,
    records: &[(String, i64)],
    commit_every: usize,
    retention: Option<Duration>,
) -> (Counts, u64, Counts)
where
    W: sluice::dsl::WindowedBy<String, String, Output = TimeWindowedKStream<String, String>>,
{
    let b = StreamsBuilder::new();
    let store = match retention {
        Some(r) => Materialized::as_("counts").with_retention(r),
        None => Materialized::as_("counts"),
    };
    b.stream("in", Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .windowed_by(windows)
        .count(store)
        .to_stream()
        .map(|w, n| (format!("{}|{}", w.key, w.window.start), *n))
        .to("out", Produced::with(Serde::string(), Serde::i64()));
    let d = TopologyTestDriver::new(b.build().unwrap()).with_commit_every(commit_every);
    let input = d.create_input_topic("in", Serde::string(), Serde::string());
    for (k, t) in records {
        input.pipe_input_at(k.clone(), "v".into(), *t);
    }
    d.commit().unwrap();
    let store = d.window_store::<String, i64>("counts").unwrap();
    let stored: Counts = store
        .all()
        .into_iter()
        .map(|(w, n)| ((w.key, w.window.start), n))
        .collect();
    let late = d
        .metrics()
        .total("sluice_dropped_records_total", &[("reason", "expired_window")]);
    let out = d.create_output_topic("out", Serde::string(), Serde::<i64>::i64());
    let emitted: Counts = out
        .read_key_values_to_map()
        .into_iter()
        .map(|(k, n)| {
            let (key, start) = k.split_once('|').unwrap();
            ((key.to_string(), start.parse().unwrap()), n)
        })
        .collect();
    (stored, late, emitted)
}

/// Tumbling/hopping reference: windows containing `t` found by scanning every window start.
fn time_reference(records: &[(String, i64)], size: i64, advance: i64, grace: i64) -> (Counts, u64) {
    let mut counts = Counts::new();
    let mut late = 0;
    let mut stream_time = -1;
    for (k, t) in records {
        stream_time = stream_time.max(*t);
        let mut missed = false;
        let mut start = 0;
        while start <= *t {
            if start <= *t && *t < start + size {
                if start + size > stream_time - grace {
                    *counts.entry((k.clone(), start)).or_default() += 1;
                } else {
                    missed = true;
                }
            }
            start += advance;
        }
        late += u64::from(missed);
    }
    (counts, late)
}

/// Sliding reference: every window by definition over the accepted records of each key.
fn sliding_reference(records: &[(String, i64)], d: i64, grace: i64) -> (Counts, u64) {
    let mut accepted: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut late = 0;
    let mut stream_time = -1;
    for (k, t) in records {
        stream_time = stream_time.max(*t);
        if t + 1 + d <= stream_time - grace {
            late += 1;
        } else {
            accepted.entry(k.clone()).or_default().push(*t);
        }
    }
    let mut counts = Counts::new();
    for (k, times) in accepted {
        let mut starts = BTreeSet::new();
        for &t in &times {
            starts.insert((t - d).max(0));
            if times.iter().any(|&u| u > t && u <= t + d) {
                starts.insert(t + 1);
            }
        }
        for s in starts {
            let n = times.iter().filter(|&&u| s <= u && u <= s + d).count() as i64;
            counts.insert((k.clone(), s), n);
        }
    }
    (counts, late)
}

fn keyed(raw: Vec<(u8, i64)>) -> Vec<(String, i64)> {
    raw.into_iter().map(|(k, t)| (format!("k{k}"), t)).collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn tumbling_counts_match_the_reference(
        raw in prop::collection::vec((0u8..3, 0i64..400), 0..80),
        size in 10i64..60,
        grace in 0i64..40,
        every in commit_every(),
    ) {
        let records = keyed(raw);
        let windows = || TimeWindows::of_size_and_grace(Duration::from_millis(size as u64), Duration::from_millis(grace as u64));
        let (stored, late, emitted) = run(windows(), &records);
        let (expected, expected_late) = time_reference(&records, size, size, grace);
        prop_assert_eq!(&stored, &expected);
        prop_assert_eq!(&emitted, &expected);
        prop_assert_eq!(late, expected_late);
        let (late, emitted) = run_batched(windows(), &records, every);
        prop_assert_eq!(&emitted, &expected, "committing every {} records", every);
        prop_assert_eq!(late, expected_late);
    }

    #[test]
    fn hopping_counts_match_the_reference(
        raw in prop::collection::vec((0u8..3, 0i64..400), 0..80),
        size in 10i64..60,
        advance_pct in 10i64..=100,
        grace in 0i64..40,
        every in commit_every(),
    ) {
        let advance = (size * advance_pct / 100).max(1);
        let records = keyed(raw);
        let windows = || TimeWindows::of_size_and_grace(Duration::from_millis(size as u64), Duration::from_millis(grace as u64))
            .advance_by(Duration::from_millis(advance as u64));
        let (stored, late, emitted) = run(windows(), &records);
        let (expected, expected_late) = time_reference(&records, size, advance, grace);
        prop_assert_eq!(&stored, &expected);
        prop_assert_eq!(&emitted, &expected);
        prop_assert_eq!(late, expected_late);
        let (late, emitted) = run_batched(windows(), &records, every);
        prop_assert_eq!(&emitted, &expected, "committing every {} records", every);
        prop_assert_eq!(late, expected_late);
    }

    #[test]
    fn sliding_counts_match_the_reference(
        steps in prop::collection::vec((0u8..3, 0i64..30, 0i64..20, prop::bool::weighted(0.1)), 0..60),
        d in 5i64..40,
        every in commit_every(),
    ) {
        // Out of order by up to 20 ms; grace covers that plus the window reach, so records are
        // either on time for all their windows or (the flagged ones) late for all of them.
        let grace = 20 + 2 * d + 1;
        let mut base = 0i64;
        let mut stream_time = -1i64;
        let mut records = Vec::new();
        for (k, step, jitter, very_late) in steps {
            base += step;
            // The latest time that misses every window: t + 1 + d <= stream time - grace.
            let latest_late = stream_time - grace - d - 1;
            let t = if very_late && latest_late >= 0 {
                latest_late - jitter.min(latest_late)
            } else {
                (base - jitter).max(0)
            };
            stream_time = stream_time.max(t);
            records.push((format!("k{k}"), t));
        }
        let windows = || SlidingWindows::of_time_difference_and_grace(Duration::from_millis(d as u64), Duration::from_millis(grace as u64));
        let (stored, late, emitted) = run(windows(), &records);
        let (expected, expected_late) = sliding_reference(&records, d, grace);
        prop_assert_eq!(&stored, &expected, "records {:?}", records);
        prop_assert_eq!(&emitted, &expected);
        prop_assert_eq!(late, expected_late);
        let (late, emitted) = run_batched(windows(), &records, every);
        prop_assert_eq!(&emitted, &expected, "committing every {} records", every);
        prop_assert_eq!(late, expected_late);
    }
}
