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
//! Emit-on-close (`EmitStrategy::on_window_close`) over tumbling, hopping, sliding and session
//! windows: after every record, the final results emitted so far must be exactly the reference's
//! windows that closed, each once, across restarts.
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

/// Session counts with `EmitStrategy::on_window_close`, keyed `key@start-end`.
fn final_session_counts(gap: u64, grace: u64) -> Topology {
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .windowed_by(SessionWindows::of_inactivity_gap_and_grace(
            Duration::from_millis(gap),
            Duration::from_millis(grace),
        ))
        .emit_strategy(EmitStrategy::on_window_close())
        // Long segments: the bound a scan leaves is then the sessions', not a segment's edge.
        .count(Materialized::as_("presence").with_retention(Duration::from_secs(600)))
        .to_stream()
        .map(|w, n| (format!("{}@{}-{}", w.key, w.window.start, w.window.end), *n))
        .to("final", Produced::with(Serde::string(), Serde::i64()));
    b.build().unwrap()
}

/// The reference: the sessions of `records` (a key's records at most `gap` apart, in time
/// order, share one), as `(end, key@start-end, count)`.
fn reference_sessions(records: &[(String, i64)], gap: i64) -> Vec<(i64, String, i64)> {
    let mut by_key: BTreeMap<&str, Vec<i64>> = Default::default();
    for (k, t) in records {
        by_key.entry(k).or_default().push(*t);
    }
    let mut out = Vec::new();
    for (k, mut times) in by_key {
        times.sort_unstable();
        let (mut start, mut end, mut n) = (times[0], times[0], 0);
        for t in times {
            if t - end > gap {
                out.push((end, format!("{k}@{start}-{end}"), n));
                (start, n) = (t, 0);
            }
            end = t;
            n += 1;
        }
        out.push((end, format!("{k}@{start}-{end}"), n));
    }
    out
}

/// Counts over time or sliding windows with `EmitStrategy::on_window_close`, keyed
/// `key@start-end`.
fn final_window_counts<W>(windowing: W) -> Topology
where
    W: sluice::dsl::WindowedBy<String, String, Output = TimeWindowedKStream<String, String>>,
{
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .windowed_by(windowing)
        .emit_strategy(EmitStrategy::on_window_close())
        // The default retention (size + grace): one-minute segments, which the cases cross,
        // and windows expire.
        .count(Materialized::as_("counts"))
        .to_stream()
        .map(|w, n| (format!("{}@{}-{}", w.key, w.window.start, w.window.end), *n))
        .to("final", Produced::with(Serde::string(), Serde::i64()));
    b.build().unwrap()
}

/// `(end, key@start-end, count)` of every window of a reference's counts.
fn by_end(counts: Counts, size: i64) -> Vec<(i64, String, i64)> {
    counts
        .into_iter()
        .map(|((k, start), n)| (start + size, format!("{k}@{start}-{}", start + size), n))
        .collect()
}

fn time_windows_by_end(
    records: &[(String, i64)],
    size: i64,
    advance: i64,
    grace: i64,
) -> Vec<(i64, String, i64)> {
    by_end(time_reference(records, size, advance, grace).0, size)
}

fn sliding_windows_by_end(records: &[(String, i64)], d: i64, grace: i64) -> Vec<(i64, String, i64)> {
    by_end(sliding_reference(records, d, grace).0, d)
}

/// Arrivals: `(key, advance, pause, restart)` per record, and which records are out of order.
type Arrivals = (Vec<(u8, i64, u8, u8)>, Vec<u8>);

fn arrivals() -> impl Strategy<Value = Arrivals> {
    (
        prop::collection::vec((0u8..12, 0i64..400, 0u8..10, 0u8..40), 1..250),
        prop::collection::vec(0u8..4, 250),
    )
}

/// Pipes `arrivals` (12 keys; now and then a pause longer than any window, grace and gap; one
/// record in four out of order, at most `grace` behind, so never late) into `topology`, and
/// after every record checks that the emitted final results are exactly the reference's
/// windows that closed: those with `end + lag <= stream time`, each emitted once, in order.
/// Restarts at random, so that what a processor knows of what closes next starts over.
fn emits_exactly_the_closed_windows(
    topology: Topology,
    (steps, late): Arrivals,
    grace: i64,
    lag: i64,
    reference: impl Fn(&[(String, i64)]) -> Vec<(i64, String, i64)>,
) -> Result<(), proptest::test_runner::TestCaseError> {
    let d = TopologyTestDriver::new(topology);
    let mut input = d.create_input_topic("in", Serde::string(), Serde::string());
    let mut out = d.create_output_topic("final", Serde::string(), Serde::<i64>::i64());
    // Far enough from 0 for sliding windows' records to be at or after the time difference.
    let (mut t, mut records) = (2_000i64, Vec::new());
    let mut emitted = BTreeMap::new();
    for (i, (key, advance, pause, restart)) in steps.into_iter().enumerate() {
        let ts = if late[i] == 0 {
            t - advance % (grace + 1)
        } else {
            t += if pause == 0 { advance + 2_000 } else { advance };
            t
        };
        let key = format!("device-{key}");
        input.pipe_input_at(key.clone(), "x".into(), ts);
        records.push((key, ts));
        let batch = out.read_key_values_to_list();
        // One record's emission comes in window order: by end (start, for fixed-size
        // windows), then key.
        let order = |name: &str| {
            let (key, span) = name.split_once('@').expect("key@start-end");
            let end: i64 = span.split_once('-').expect("start-end").1.parse().expect("end");
            (end, key.to_string())
        };
        let ordered: Vec<_> = batch.iter().map(|(k, _)| order(k)).collect();
        prop_assert!(ordered.is_sorted(), "emitted out of order: {:?}", batch);
        for (k, n) in batch {
            prop_assert!(emitted.insert(k.clone(), n).is_none(), "{k} emitted twice");
        }
        let expected: BTreeMap<String, i64> = reference(&records)
            .into_iter()
            .filter(|(end, _, _)| end + lag <= t)
            .map(|(_, k, n)| (k, n))
            .collect();
        prop_assert_eq!(&emitted, &expected, "at stream time {}", t);
        if restart == 0 {
            d.restart().unwrap();
            input = d.create_input_topic("in", Serde::string(), Serde::string());
            out = d.create_output_topic("final", Serde::string(), Serde::<i64>::i64());
        }
    }
    Ok(())
}

proptest! {
    // Fewer, longer cases (up to 250 records of 12 keys); failures are kept as regressions.
    #![proptest_config(Config {
        cases: 24,
        rng_seed: RngSeed::Fixed(0x5e55_1015),
        ..Config::default()
    })]

    /// Every session is emitted once, with its final count, as soon as stream time passes its
    /// end + gap + grace, and none earlier (many keys, so a store scan per record would be
    /// costly; the processor skips scans until a session can have closed). Out-of-order records
    /// may start a session that ends before the ones already stored.
    #[test]
    fn session_final_results_are_emitted_exactly_when_they_close(arrivals in arrivals()) {
        let (gap, grace) = (500i64, 200i64);
        emits_exactly_the_closed_windows(
            final_session_counts(gap as u64, grace as u64),
            arrivals,
            grace,
            grace + gap + 1,
            |records| reference_sessions(records, gap),
        )?;
    }

    /// Hopping windows' final counts are emitted once each, as soon as stream time passes
    /// their end + grace (the processor takes the closed windows from its queue of those that
    /// close next, and scans only when that runs out).
    #[test]
    fn hopping_final_results_are_emitted_exactly_when_they_close(arrivals in arrivals()) {
        let (size, advance, grace) = (500i64, 200i64, 200i64);
        let windows = TimeWindows::of_size_and_grace(Duration::from_millis(size as u64), Duration::from_millis(grace as u64))
            .advance_by(Duration::from_millis(advance as u64));
        emits_exactly_the_closed_windows(
            final_window_counts(windows),
            arrivals,
            grace,
            grace,
            |records| time_windows_by_end(records, size, advance, grace),
        )?;
    }

    /// The same for tumbling windows.
    #[test]
    fn tumbling_final_results_are_emitted_exactly_when_they_close(arrivals in arrivals()) {
        let (size, grace) = (300i64, 100i64);
        emits_exactly_the_closed_windows(
            final_window_counts(TimeWindows::of_size_and_grace(Duration::from_millis(size as u64), Duration::from_millis(grace as u64))),
            arrivals,
            grace,
            grace,
            |records| time_windows_by_end(records, size, size, grace),
        )?;
    }

    /// Sliding windows' final counts are emitted once each, as soon as stream time passes
    /// their end + grace (a sliding window closes once stream time is past it): windows start
    /// at any time, and out-of-order records create windows that start before stored ones.
    #[test]
    fn sliding_final_results_are_emitted_exactly_when_they_close(arrivals in arrivals()) {
        let (diff, grace) = (500i64, 200i64);
        let windows = SlidingWindows::of_time_difference_and_grace(Duration::from_millis(diff as u64), Duration::from_millis(grace as u64));
        emits_exactly_the_closed_windows(
            final_window_counts(windows),
            arrivals,
            grace,
            grace + 1,
            |records| sliding_windows_by_end(records, diff, grace),
        )?;
    }
}
