//! A child process runs one engine on one scenario, so that its CPU time and peak memory are
//! its own: `e2e --child '<spec as JSON>'`. It prints `READY` once processing, and a final
//! `RESULT <json>`.

use crate::passthrough::Passthrough;
use crate::spec::{
    ChildResult, CommitLatency, Guarantee, Kind, Spec, COMMIT_INTERVAL_MS, SNAPSHOT_INTERVAL_MS,
};
use crate::{alloc, healthcare, healthcare_app, scenarios, sys};
use sluice::engine::{Streams, StreamsState};
use sluice::prelude::*;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Measures a run: `tick` does work (or waits a little) and returns records processed so far.
/// Throughput (`expect` > 0): the window from `warm_up` records to `expect`. Latency: from the
/// first tick until the parent writes `stop` (or `stop <n>`: once `n` records were processed).
fn measure(expect: u64, warm_up: u64, mut tick: impl FnMut() -> u64) -> ChildResult {
    let stop = Arc::new(AtomicBool::new(false));
    let at_least = Arc::new(AtomicU64::new(0));
    if expect == 0 {
        let (stop, at_least) = (Arc::clone(&stop), Arc::clone(&at_least));
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.trim().strip_prefix("stop") {
                    at_least.store(rest.trim().parse().unwrap_or(0), Ordering::Relaxed);
                    break;
                }
            }
            stop.store(true, Ordering::Relaxed);
        });
    }
    let (mut start, mut start_cpu, mut start_count) = (Instant::now(), sys::cpu_seconds(), 0);
    let mut start_allocations = alloc::allocations();
    let mut started = expect == 0;
    loop {
        let n = tick();
        if !started && n >= warm_up {
            (start, start_cpu, start_count, started) = (Instant::now(), sys::cpu_seconds(), n, true);
            start_allocations = alloc::allocations();
        }
        let stopped = stop.load(Ordering::Relaxed) && n >= at_least.load(Ordering::Relaxed);
        if (expect > 0 && n >= expect) || stopped {
            return ChildResult {
                records: n - start_count,
                seconds: start.elapsed().as_secs_f64(),
                cpu_seconds: sys::cpu_seconds() - start_cpu,
                peak_rss_bytes: sys::peak_rss_bytes(),
                snapshots: 0,
                checkpoint_ms: 0,
                allocations: alloc::allocations() - start_allocations,
                commits: CommitLatency::default(),
                sent_per_record: None,
            };
        }
    }
}

fn ready() {
    println!("READY");
    std::io::stdout().flush().expect("stdout");
}

pub fn run(spec: Spec) {
    // Sluice's own log (rebalances, commits that failed, restores) goes to the child's log
    // file under target/sluice-bench/logs/; `RUST_LOG` overrides the level.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    let result = match spec.kind {
        Kind::Passthrough => {
            let mut p = Passthrough::new(&spec).expect("passthrough clients");
            while !p.assigned() {
                p.step().expect("passthrough");
            }
            ready();
            let r = measure(spec.expect, spec.warm_up(), || {
                p.step().expect("passthrough");
                p.produced
            });
            p.commit().expect("final commit");
            r
        }
        _ => {
            let (topology, mut config) = if spec.kind == Kind::Healthcare {
                // The example's own topology and settings (dead-letter handler, no cache,
                // 100 ms commits).
                let topics = healthcare::topics(&spec);
                let eos = spec.guarantee == Guarantee::ExactlyOnce;
                (
                    healthcare_app::topology(&topics).expect("the healthcare topology"),
                    healthcare_app::config(&spec.app, &spec.bootstrap, &topics, eos).expect("config"),
                )
            } else {
                let mut config = StreamsConfig::new(&spec.app, &spec.bootstrap);
                config
                    .set("processing.guarantee", spec.guarantee.config_value())
                    .expect("guarantee");
                config
                    .set("commit.interval.ms", &COMMIT_INTERVAL_MS.to_string())
                    .expect("commit interval");
                if spec.kind == Kind::StatelessMetricsOff {
                    config
                        .set("metrics.recording.level", "OFF")
                        .expect("metrics level");
                }
                if spec.kind == Kind::WindowedCountSnapshots {
                    let store = std::path::Path::new(&spec.state_dir).with_extension("snapshots");
                    std::fs::create_dir_all(&store).expect("snapshot directory");
                    config
                        .set("state.snapshot.store", &format!("file://{}", store.display()))
                        .expect("snapshot store");
                    config
                        .set("state.snapshot.interval.ms", &SNAPSHOT_INTERVAL_MS.to_string())
                        .expect("snapshot interval");
                }
                (scenarios::topology(&spec), config)
            };
            config.state_dir = spec.state_dir.clone().into();
            config.num_stream_threads = spec.threads;
            for (key, value) in &spec.consumer_settings {
                config
                    .set(&format!("consumer.{key}"), value)
                    .expect("a consumer setting");
            }
            for (key, value) in &spec.streams_settings {
                config.set(key, value).expect("a Sluice setting");
            }
            let streams = Streams::new(topology, config).expect("streams");
            streams.start().expect("start");
            assert!(
                streams.wait_for_state(StreamsState::Running, Duration::from_secs(120)),
                "not running: {:?}",
                streams.errors()
            );
            ready();
            let metrics = streams.metrics();

            let snapshots = || metrics.total("sluice_snapshots_taken_total", &[]);
            let before = snapshots();
            let mut r = measure(spec.expect, spec.warm_up(), || {
                std::thread::sleep(Duration::from_millis(5));
                assert!(streams.state() != StreamsState::Error, "{:?}", streams.errors());
                metrics.total("sluice_records_processed_total", &[])
            });
            if spec.kind == Kind::WindowedCountSnapshots {
                // A short run may end before the first snapshot is published: wait for it
                // (bounded), so that the row always measured snapshots being taken.
                let deadline = Instant::now() + Duration::from_secs(60);
                while snapshots() == before && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            r.snapshots = snapshots() - before;
            r.checkpoint_ms = metrics.total("sluice_snapshot_checkpoint_ms_total", &[]);
            r.commits = CommitLatency::from_prometheus(&metrics.render_prometheus());
            streams.close().expect("close");
            // After the close: its last commit's outputs and changelog records count too.
            let processed = metrics.total("sluice_records_processed_total", &[]);
            r.sent_per_record = (processed > 0)
                .then(|| metrics.total("sluice_records_sent_total", &[]) as f64 / processed as f64);
            r
        }
    };
    println!("RESULT {}", serde_json::to_string(&result).expect("json"));
}
