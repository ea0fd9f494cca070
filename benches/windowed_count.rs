//! Windowed count throughput on the TopologyTestDriver: tumbling (the fraud velocity shape),
//! hopping, sliding and session windows, each emitting every update and emitting final results
//! only (`EmitStrategy::on_window_close`), as ratios to a plain `count` measured in the same
//! run. The driver commits after every record, so this measures per-record processing plus a
//! commit (cache flush, changelog capture, store commit) each time. Every run's output is
//! checked against a reference computed from the records: the last count of every window (every
//! update), or exactly the windows that closed, each once (final results).
//!
//! ```text
//! cargo bench --bench windowed_count                  # full run (200,000 records)
//! cargo bench --bench windowed_count -- --quick       # 2,000 records; `cargo test` runs this too
//! cargo bench --bench windowed_count -- --records N   # N records over the same event time
//! ```

use clap::Parser;
use sluice::prelude::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const KEYS: u64 = 1000;
/// Event time the records span, whatever their number: 2,000 s, so that the five-minute windows
/// close several times per key.
const SPAN_MS: i64 = 2_000_000;
const BASE_MS: i64 = 1_700_000_000_000;
const FIVE_MIN_MS: i64 = 300_000;
const ONE_MIN_MS: i64 = 60_000;

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Plain,
    Tumbling,
    Hopping,
    Sliding,
    Session,
}

/// `(key, start, end) -> count`; a plain count's windows are `(key, 0, 0)`.
type Counts = BTreeMap<(String, i64, i64), i64>;

fn topology(shape: Shape, on_close: bool) -> Topology {
    let b = StreamsBuilder::new();
    let grouped = b
        .stream("tx", Consumed::with(Serde::string(), Serde::<i64>::i64()))
        .group_by_key();
    let five_min = Duration::from_millis(FIVE_MIN_MS as u64);
    let time_windowed =
        |windows| Produced::with(Serde::time_windowed(Serde::string(), windows), Serde::i64());
    macro_rules! windowed_count {
        ($windowed:expr, $produced:expr) => {{
            let windowed = $windowed;
            let counts = if on_close {
                windowed
                    .emit_strategy(EmitStrategy::on_window_close())
                    .count(Materialized::as_("c"))
            } else {
                windowed.count(Materialized::as_("c"))
            };
            counts.to_stream().to("out", $produced);
        }};
    }
    match shape {
        Shape::Plain => {
            grouped
                .count(Materialized::as_("c"))
                .to_stream()
                .to("out", Produced::with(Serde::string(), Serde::i64()));
        }
        Shape::Tumbling => windowed_count!(
            grouped.windowed_by(TimeWindows::of_size_with_no_grace(five_min)),
            time_windowed(FIVE_MIN_MS)
        ),
        Shape::Hopping => windowed_count!(
            grouped.windowed_by(
                TimeWindows::of_size_with_no_grace(five_min)
                    .advance_by(Duration::from_millis(ONE_MIN_MS as u64))
            ),
            time_windowed(FIVE_MIN_MS)
        ),
        Shape::Sliding => windowed_count!(
            grouped.windowed_by(SlidingWindows::of_time_difference_with_no_grace(five_min)),
            time_windowed(FIVE_MIN_MS)
        ),
        Shape::Session => windowed_count!(
            grouped.windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(five_min)),
            Produced::with(Serde::session_windowed(Serde::string()), Serde::i64())
        ),
    }
    b.build().unwrap()
}

/// The `n` records: 1,000 accounts in a fixed scrambled order, evenly spread over the span.
fn records(n: u64) -> Vec<(String, i64)> {
    let spacing = (SPAN_MS / n as i64).max(1);
    (0..n)
        .map(|i| {
            let key = format!("acct-{:04}", i.wrapping_mul(7919) % KEYS);
            (key, BASE_MS + i as i64 * spacing)
        })
        .collect()
}

/// Every window's count, computed from the records by definition (they are in time order).
fn reference(shape: Shape, records: &[(String, i64)]) -> Counts {
    let mut by_key: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (k, t) in records {
        by_key.entry(k).or_default().push(*t);
    }
    let mut counts = Counts::new();
    for (k, times) in by_key {
        let mut add =
            |start: i64, end: i64, n: i64| *counts.entry((k.to_string(), start, end)).or_default() += n;
        match shape {
            Shape::Plain => add(0, 0, times.len() as i64),
            Shape::Tumbling | Shape::Hopping => {
                let advance = if shape == Shape::Tumbling {
                    FIVE_MIN_MS
                } else {
                    ONE_MIN_MS
                };
                for &t in &times {
                    let mut start = t - t.rem_euclid(advance);
                    while start + FIVE_MIN_MS > t {
                        add(start, start + FIVE_MIN_MS, 1);
                        start -= advance;
                    }
                }
            }
            Shape::Sliding => {
                // `[t - d, t]` for every record, `[t + 1, t + 1 + d]` when a later record is in it.
                let d = FIVE_MIN_MS;
                let in_window =
                    |s: i64| times.partition_point(|&u| u <= s + d) - times.partition_point(|&u| u < s);
                for (i, &t) in times.iter().enumerate() {
                    counts.insert((k.to_string(), t - d, t), in_window(t - d) as i64);
                    if times.get(i + 1).is_some_and(|&u| u <= t + d) {
                        counts.insert((k.to_string(), t + 1, t + 1 + d), in_window(t + 1) as i64);
                    }
                }
            }
            Shape::Session => {
                let (mut start, mut end, mut n) = (times[0], times[0], 0);
                for &t in &times {
                    if t - end > FIVE_MIN_MS {
                        add(start, end, n);
                        (start, n) = (t, 0);
                    }
                    end = t;
                    n += 1;
                }
                add(start, end, n);
            }
        }
    }
    counts
}

/// Whether a window is closed at stream time `now` (no grace): time windows at their end,
/// sliding ones once stream time is past their end, sessions once it is past end + gap.
fn closed(shape: Shape, end: i64, now: i64) -> bool {
    match shape {
        Shape::Plain => false,
        Shape::Tumbling | Shape::Hopping => end <= now,
        Shape::Sliding => end < now,
        Shape::Session => end + FIVE_MIN_MS < now,
    }
}

/// What the run emitted: the last count per window, and how many results there were.
fn emitted(driver: &TopologyTestDriver, shape: Shape) -> (Counts, usize) {
    let mut counts = Counts::new();
    let mut results = 0;
    macro_rules! read {
        ($serde:expr, $key:expr) => {{
            let out = driver.create_output_topic("out", $serde, Serde::<i64>::i64());
            for r in out.read_records_to_list() {
                let key = $key(r.key);
                results += 1;
                match r.value {
                    Some(n) => counts.insert(key, n),
                    None => counts.remove(&key),
                };
            }
        }};
    }
    match shape {
        Shape::Plain => read!(Serde::string(), |k: String| (k, 0, 0)),
        Shape::Session => read!(Serde::session_windowed(Serde::string()), |w: Windowed<String>| (
            w.key,
            w.window.start,
            w.window.end
        )),
        _ => read!(
            Serde::time_windowed(Serde::string(), FIVE_MIN_MS),
            |w: Windowed<String>| (w.key, w.window.start, w.window.end)
        ),
    }
    (counts, results)
}

/// Records per second through the topology, after checking its output against the reference.
fn throughput(shape: Shape, on_close: bool, records: &[(String, i64)]) -> f64 {
    let driver = TopologyTestDriver::new(topology(shape, on_close));
    let input = driver.create_input_topic("tx", Serde::string(), Serde::<i64>::i64());
    let started = Instant::now();
    for (i, (key, t)) in records.iter().enumerate() {
        input.pipe_input_at(key.clone(), i as i64, *t);
    }
    let elapsed = started.elapsed();
    let (got, results) = emitted(&driver, shape);
    let mut expected = reference(shape, records);
    if on_close {
        let now = records.last().map_or(0, |r| r.1);
        expected.retain(|(_, _, end), _| closed(shape, *end, now));
        assert_eq!(results, got.len(), "a final result was emitted twice");
    }
    assert!(
        got == expected,
        "wrong output: {} windows, {} expected",
        got.len(),
        expected.len()
    );
    records.len() as f64 / elapsed.as_secs_f64()
}

#[derive(Parser, Debug)]
#[command(
    about = "Windowed counts on the test driver (every update, and final results only), \
                   as ratios to a plain count measured in the same run; every output checked"
)]
struct Args {
    /// A smoke run (2,000 records): what `cargo test` runs.
    #[arg(long)]
    quick: bool,
    /// Records per run (default 200,000; 2,000 with `--quick`), spread over the same 2,000 s of
    /// event time whatever their number.
    #[arg(long, value_name = "N")]
    records: Option<u64>,
    /// Passed by `cargo bench`; without it (`cargo test`) the run is `--quick`.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    let args = Args::parse();
    let quick = !args.bench || args.quick;
    let n = args.records.unwrap_or(if quick { 2_000 } else { 200_000 }).max(1);
    let records = records(n);
    println!(
        "windowed_count benchmark on the test driver ({n} records, {KEYS} keys, {} ms apart); every output checked",
        (SPAN_MS / n as i64).max(1)
    );
    let baseline = throughput(Shape::Plain, false, &records);
    println!("{:<44}{:>14}{:>10}", "topology", "records/s", "ratio");
    println!("{:<44}{:>14.0}{:>10.2}", "count (baseline)", baseline, 1.0);
    for (name, shape) in [
        ("tumbling 5 min count", Shape::Tumbling),
        ("hopping 5 min / 1 min count", Shape::Hopping),
        ("sliding 5 min count", Shape::Sliding),
        ("session 5 min gap count", Shape::Session),
    ] {
        for on_close in [false, true] {
            let r = throughput(shape, on_close, &records);
            let name = if on_close {
                format!("{name}, on window close")
            } else {
                name.to_string()
            };
            println!("{name:<44}{r:>14.0}{:>10.2}", r / baseline);
        }
    }
}
