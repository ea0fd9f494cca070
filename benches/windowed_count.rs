//! Windowed count throughput on the TopologyTestDriver: tumbling (the fraud velocity shape),
//! hopping, sliding and session windows, as ratios to a plain `count` measured in the same run.
//! The driver commits after every record, so this measures per-record processing plus a commit
//! (cache flush, changelog capture, store commit) each time.
//!
//! ```text
//! cargo bench --bench windowed_count            # full run
//! cargo bench --bench windowed_count -- --quick # small sizes; `cargo test` runs this too
//! ```

use sluice::prelude::*;
use std::time::{Duration, Instant};

enum Shape {
    Plain,
    Tumbling,
    Hopping,
    Sliding,
    Session,
}

fn topology(shape: &Shape) -> Topology {
    let b = StreamsBuilder::new();
    let grouped = b
        .stream("tx", Consumed::with(Serde::string(), Serde::<i64>::i64()))
        .group_by_key();
    let five_min = Duration::from_secs(300);
    match shape {
        Shape::Plain => {
            grouped.count(Materialized::as_("c"));
        }
        Shape::Tumbling => {
            grouped
                .windowed_by(TimeWindows::of_size_with_no_grace(five_min))
                .count(Materialized::as_("c"));
        }
        Shape::Hopping => {
            grouped
                .windowed_by(TimeWindows::of_size_with_no_grace(five_min).advance_by(Duration::from_secs(60)))
                .count(Materialized::as_("c"));
        }
        Shape::Sliding => {
            grouped
                .windowed_by(SlidingWindows::of_time_difference_with_no_grace(five_min))
                .count(Materialized::as_("c"));
        }
        Shape::Session => {
            grouped
                .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(five_min))
                .count(Materialized::as_("c"));
        }
    }
    b.build().unwrap()
}

/// Records per second through `shape`, over `n` records of 1,000 accounts, 10 ms apart.
fn throughput(shape: &Shape, n: u64) -> f64 {
    let driver = TopologyTestDriver::new(topology(shape));
    let input = driver.create_input_topic("tx", Serde::string(), Serde::<i64>::i64());
    let keys: Vec<String> = (0..1000).map(|i| format!("acct-{i:04}")).collect();
    let started = Instant::now();
    for i in 0..n {
        let key = &keys[(i.wrapping_mul(7919) % 1000) as usize];
        input.pipe_input_at(key.clone(), i as i64, 1_700_000_000_000 + i as i64 * 10);
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--quick");
    let n = if quick { 2_000 } else { 200_000 };
    println!("windowed_count benchmark on the test driver ({n} records, 1,000 keys, 10 ms apart)");
    let baseline = throughput(&Shape::Plain, n);
    println!("{:<34}{:>14}{:>10}", "topology", "records/s", "ratio");
    println!("{:<34}{:>14.0}{:>10.2}", "count (baseline)", baseline, 1.0);
    for (name, shape) in [
        ("tumbling 5 min count", Shape::Tumbling),
        ("hopping 5 min / 1 min count", Shape::Hopping),
        ("sliding 5 min count", Shape::Sliding),
        ("session 5 min gap count", Shape::Session),
    ] {
        let r = throughput(&shape, n);
        println!("{name:<34}{r:>14.0}{:>10.2}", r / baseline);
    }
}
