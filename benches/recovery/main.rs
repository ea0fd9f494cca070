//! `cargo bench --bench recovery`: how fast a new instance on an empty disk gets a task back,
//! (a) by replaying the whole changelog, and (b) from the newest snapshot plus a changelog tail
//! of 1% of updates, on a real Kafka broker, in the same run.
//!
//! Per size (1M and 5M keys by default, 100-byte values): one task (one input partition) loads
//! every key through `to_table` (its changelog holds one record per key), is snapshotted to a
//! local object store (`file://`; `--store s3` uses a local `moto_server` instead), then a 1%
//! tail of updates is processed without snapshots. Each run starts an instance on an empty state
//! directory, times it from start to `Running`, closes it, and checks its store against the
//! reference (every key's final value, checksummed): a fast wrong restore fails the bench.
//! Runs repeat (`--runs`, default 3): the table gives the median and the spread, and the ratio
//! (b)/(a) per size, next to the goal (at 5M keys, (b) at least 10x faster).
//!
//! ```text
//! cargo bench --bench recovery                                # 1M and 5M keys, 3 runs each
//! cargo bench --bench recovery -- --keys 1000000 --runs 5
//! cargo bench --bench recovery -- --store s3                  # snapshots on a local moto_server
//! cargo bench --bench recovery -- --quick                     # smoke run (`cargo test` runs it)
//! RUST_LOG=sluice_engine=info cargo bench --bench recovery    # with each restore's steps
//! ```

mod checksum;
mod load;

use clap::Parser;
use sluice::engine::{Streams, StreamsConfig, StreamsState};
use sluice::prelude::*;
use sluice_testkit::KafkaBroker;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "Restoration of a task on an empty disk: changelog replay vs snapshot + tail")]
struct Args {
    /// Keys of the task's store, one size per comma-separated value.
    #[arg(long, value_delimiter = ',', default_value = "1000000,5000000")]
    keys: Vec<u64>,
    /// Repetitions of each measurement.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Updates after the snapshot, in percent of the keys.
    #[arg(long, default_value_t = 1.0)]
    tail_percent: f64,
    /// Snapshot store: `file` (a local directory) or `s3` (a local moto_server).
    #[arg(long, default_value = "file")]
    store: String,
    /// A smoke run (20,000 keys, one run): what `cargo test` runs.
    #[arg(long)]
    quick: bool,
    /// Passed by `cargo bench`; without it (`cargo test`) the run is `--quick`.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Bytes per value.
const VALUE_BYTES: usize = 100;
const WAIT: Duration = Duration::from_secs(1800);

fn topology(input: &str) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(input, Consumed::with(Serde::string(), Serde::bytes()))
        .to_table(Materialized::as_("kv"));
    builder.build().expect("a valid topology")
}

/// Where snapshots go for one measurement.
enum SnapshotTarget {
    File(PathBuf),
    S3 {
        options: Vec<(&'static str, String)>,
        url: String,
    },
}

impl SnapshotTarget {
    fn apply(&self, config: &mut StreamsConfig) {
        match self {
            SnapshotTarget::File(dir) => {
                config
                    .set("state.snapshot.store", &format!("file://{}", dir.display()))
                    .unwrap();
            }
            SnapshotTarget::S3 { options, url } => {
                config.set("state.snapshot.store", url).unwrap();
                for (k, v) in options {
                    config.set(k, v).unwrap();
                }
            }
        }
    }
}

fn config(
    broker: &KafkaBroker,
    app: &str,
    state_dir: &Path,
    snapshots: Option<&SnapshotTarget>,
) -> StreamsConfig {
    let mut c = StreamsConfig::new(app, broker.bootstrap());
    c.state_dir = state_dir.to_path_buf();
    c.set("commit.interval.ms", "1000").unwrap();
    if let Some(target) = snapshots {
        target.apply(&mut c);
        // One snapshot once loaded; instances restoring must not publish newer ones.
        c.set("state.snapshot.interval.ms", "2000").unwrap();
    }
    c
}

/// Starts an instance and waits until it runs; returns it and the time it took.
fn start(topology: Topology, config: StreamsConfig) -> (Streams, Duration) {
    let started = Instant::now();
    let streams = Streams::new(topology, config).expect("an instance");
    streams.start().expect("started");
    assert!(
        streams.wait_for_state(StreamsState::Running, WAIT),
        "not running: {:?}",
        streams.errors()
    );
    (streams, started.elapsed())
}

fn wait_processed(streams: &Streams, n: u64) {
    let deadline = Instant::now() + WAIT;
    while streams.metrics().total("sluice_records_processed_total", &[]) < n {
        assert!(
            Instant::now() < deadline,
            "not processed within {WAIT:?}: {:?}",
            streams.errors()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

struct Measurement {
    replay: Vec<Duration>,
    snapshot: Vec<Duration>,
    replayed_records: u64,
    tail_records: u64,
    changelog_bytes: u64,
}

fn median(d: &[Duration]) -> Duration {
    let mut v = d.to_vec();
    v.sort();
    v[v.len() / 2]
}

fn spread(d: &[Duration]) -> String {
    let (min, max) = (d.iter().min().unwrap(), d.iter().max().unwrap());
    format!("{:.1}-{:.1} s", min.as_secs_f64(), max.as_secs_f64())
}

fn measure(broker: &KafkaBroker, args: &Args, keys: u64, moto: Option<&load::Moto>) -> Measurement {
    let work = tempfile::tempdir().expect("a work directory");
    let app = format!("recovery-{keys}-{}", std::process::id());
    let input = format!("{app}-in");
    load::create_topic(broker.bootstrap(), &input);
    let master = match moto {
        None => SnapshotTarget::File(work.path().join("snapshots")),
        Some(m) => SnapshotTarget::S3 {
            options: m.options(),
            url: format!("s3://{}/master", m.bucket),
        },
    };
    if let SnapshotTarget::File(dir) = &master {
        std::fs::create_dir_all(dir).unwrap();
    }

    // Load every key; wait for a snapshot that holds them all; close.
    let mut reference = checksum::Reference::new(keys, VALUE_BYTES);
    let loaded = Instant::now();
    load::produce(broker.bootstrap(), &input, (0..keys).map(|k| (k, 0)), VALUE_BYTES);
    let state = work.path().join("loader");
    let (loader, _) = start(topology(&input), config(broker, &app, &state, Some(&master)));
    wait_processed(&loader, keys);
    let changelog = format!("{app}-kv-changelog");
    // The last commit's changelog records may still be on their way: wait until the end holds.
    let end = load::stable_end_offset(broker.bootstrap(), &changelog, Duration::from_secs(3));
    load::wait_for_snapshot(&master, moto, end, WAIT);
    loader.close().unwrap();
    println!(
        "  {keys} keys loaded and snapshotted in {:.1} s",
        loaded.elapsed().as_secs_f64()
    );

    // The tail: updates the snapshot does not hold.
    let tail = ((keys as f64) * args.tail_percent / 100.0).round() as u64;
    let updates: Vec<(u64, u32)> = (0..tail).map(|i| (load::spread_key(i, keys), 1)).collect();
    for &(k, version) in &updates {
        reference.update(k, version);
    }
    load::produce(broker.bootstrap(), &input, updates.iter().copied(), VALUE_BYTES);
    let (tailer, _) = start(topology(&input), config(broker, &app, &state, None));
    wait_processed(&tailer, tail);
    tailer.close().unwrap();
    let changelog_end = load::end_offset(broker.bootstrap(), &changelog);
    let expected = reference.checksum();

    let mut m = Measurement {
        replay: Vec::new(),
        snapshot: Vec::new(),
        replayed_records: 0,
        tail_records: tail,
        changelog_bytes: changelog_end as u64 * (VALUE_BYTES as u64 + 14),
    };
    for run in 0..args.runs {
        // (a) The whole changelog.
        let dir = work.path().join(format!("replay-{run}"));
        let (streams, took) = start(topology(&input), config(broker, &app, &dir, None));
        let replayed = streams.metrics().total("sluice_restored_records_total", &[]);
        assert_eq!(
            replayed, changelog_end as u64,
            "a full replay reads the whole changelog"
        );
        streams.close().unwrap();
        assert_eq!(
            checksum::of_task(&dir, &app),
            expected,
            "(a) restored state differs from the reference"
        );
        m.replay.push(took);

        // (b) The snapshot, then the tail. Each run restores from a copy of the snapshot store,
        // so that what an instance publishes after its restore does not help the next run.
        let target = load::copy_store(&master, work.path(), run, moto);
        let dir = work.path().join(format!("snapshot-{run}"));
        let (streams, took) = start(topology(&input), config(broker, &app, &dir, Some(&target)));
        let metrics = streams.metrics();
        assert_eq!(
            metrics.total("sluice_snapshot_restores_total", &[]),
            1,
            "restored from the snapshot"
        );
        m.replayed_records = metrics.total("sluice_restored_records_total", &[]);
        assert!(
            m.replayed_records as i64 <= changelog_end - end,
            "(b) replayed {} records, more than the {} written after the snapshot",
            m.replayed_records,
            changelog_end - end
        );
        streams.close().unwrap();
        assert_eq!(
            checksum::of_task(&dir, &app),
            expected,
            "(b) restored state differs from the reference"
        );
        m.snapshot.push(took);
        println!(
            "  run {}: (a) replay {:.1} s, (b) snapshot + tail {:.1} s ({} tail records replayed)",
            run + 1,
            m.replay[run].as_secs_f64(),
            took.as_secs_f64(),
            m.replayed_records
        );
    }
    m
}

fn main() {
    // `RUST_LOG=sluice_engine=info` shows each restore's steps (snapshot download time, tail).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let mut args = Args::parse();
    if args.quick || !args.bench {
        println!("smoke run: 20,000 keys, one run (`cargo bench --bench recovery` measures)");
        args.keys = vec![20_000];
        args.runs = 1;
    }
    let broker = KafkaBroker::start().expect("a Kafka broker (scripts/kafka/fetch.sh fetches its jars)");
    let moto = (args.store == "s3").then(load::Moto::start);
    let mut rows = Vec::new();
    for &keys in &args.keys {
        println!("{keys} keys:");
        let m = measure(&broker, &args, keys, moto.as_ref());
        rows.push((keys, m));
    }
    println!();
    println!(
        "| keys | (a) changelog replay | MB/s | (b) snapshot + {}% tail | (a)/(b) | goal |",
        args.tail_percent
    );
    println!("|---|---|---|---|---|---|");
    for (keys, m) in &rows {
        let (a, b) = (median(&m.replay), median(&m.snapshot));
        let speedup = a.as_secs_f64() / b.as_secs_f64();
        let goal = if *keys >= 5_000_000 {
            format!("10x: {}", if speedup >= 10.0 { "met" } else { "missed" })
        } else {
            "-".into()
        };
        println!(
            "| {keys} | {:.1} s ({}) | {:.0} | {:.1} s ({}; {} of {} tail records) | {speedup:.1}x | {goal} |",
            a.as_secs_f64(),
            spread(&m.replay),
            m.changelog_bytes as f64 / 1e6 / a.as_secs_f64(),
            b.as_secs_f64(),
            spread(&m.snapshot),
            m.replayed_records,
            m.tail_records,
        );
    }
    println!(
        "(times from start to Running, medians of {} runs, spread min-max; both include joining the group)",
        args.runs
    );
}
