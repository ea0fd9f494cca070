//! End-to-end pipelines on a real broker (Apache Kafka): exact outputs of a stateless and a
//! windowed topology through the Kafka runtime; a windowed count started on a backlog spanning
//! 30x its store's retention (every window exact, in the output and in the changelog); record
//! caches flushed by an idle thread at-least-once; sources
//! starting at the end (`AutoOffsetReset::Latest`); one state directory per instance.

mod support;

use sluice::engine::sim::backlog::{backlog_input, compare, reference, WindowSpec};
use sluice::engine::{Streams, StreamsError, StreamsState};
use sluice::prelude::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::{broker, state_dir, unique};

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn stateless_pipeline_end_to_end() {
    let b = broker();
    let (input, output) = b.topic_pair("words", 3);
    let builder = StreamsBuilder::new();
    builder
        .stream(&input, Consumed::with(Serde::string(), Serde::string()))
        .filter(|_, v| !v.starts_with('#'))
        .map_values(|v| v.to_uppercase())
        .to(&output, Produced::with(Serde::string(), Serde::string()));
    let dir = state_dir();
    let mut config = b.config(&unique("stateless"));
    config.state_dir = dir.path().to_path_buf();
    config.set("commit.interval.ms", "200").unwrap();
    let streams = Streams::new(builder.build().unwrap(), config).unwrap();
    streams.start().unwrap();

    let records: Vec<(String, String, i64)> = (0..30)
        .map(|i| {
            (
                format!("k{}", i % 7),
                if i % 5 == 0 {
                    format!("#skip{i}")
                } else {
                    format!("v{i}")
                },
                1000 + i,
            )
        })
        .collect();
    b.produce(&input, &records);

    let expected: BTreeMap<(String, i64), String> = records
        .iter()
        .filter(|(_, v, _)| !v.starts_with('#'))
        .map(|(k, v, t)| ((k.clone(), *t), v.to_uppercase()))
        .collect();
    let got: BTreeMap<(String, i64), String> = b
        .consume(&output, expected.len(), WAIT)
        .into_iter()
        .map(|(k, v, t)| ((k, t), v))
        .collect();
    assert!(
        streams.wait_for_state(StreamsState::Running, WAIT),
        "state {:?} errors {:?}",
        streams.state(),
        streams.errors()
    );
    streams.close().unwrap();
    assert_eq!(streams.state(), StreamsState::NotRunning);
    assert_eq!(got, expected);
}

/// A windowed count (one-minute windows, no grace) of `input` into `output` as
/// `key@window-start -> count` strings.
fn velocity_topology(input: &str, output: &str, store: &str) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(input, Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(60)))
        .count(Materialized::as_(store))
        .to_stream()
        .map(|w, n| (format!("{}@{}", w.key, w.window.start), n.to_string()))
        .to(output, Produced::with(Serde::string(), Serde::string()));
    builder.build().unwrap()
}

/// Input records as (key, value, timestamp).
type Rows = Vec<(String, String, i64)>;

/// Three accounts, records 10 s apart: windows of one minute hold six records each. With the
/// final count of every window.
fn velocity_records() -> (Rows, BTreeMap<String, i64>) {
    let records: Rows = (0..36i64)
        .map(|i| {
            (
                format!("acct-{}", i % 3),
                "tx".to_string(),
                1_700_000_040_000 + i * 10_000 / 3,
            )
        })
        .collect();
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for (k, _, t) in &records {
        *expected
            .entry(format!("{k}@{}", t / 60_000 * 60_000))
            .or_default() += 1;
    }
    (records, expected)
}

#[test]
fn windowed_count_end_to_end() {
    let b = broker();
    let (input, output) = b.topic_pair("velocity", 2);
    let dir = state_dir();
    let mut config = b.config(&unique("windowed"));
    config.state_dir = dir.path().to_path_buf();
    config.set("commit.interval.ms", "200").unwrap();
    // Every update reaches the output, so the final value per window is exact.
    config.set("statestore.cache.max.bytes", "0").unwrap();
    let streams = Streams::new(velocity_topology(&input, &output, "velocity"), config).unwrap();
    streams.start().unwrap();

    let (records, expected) = velocity_records();
    b.produce(&input, &records);
    let got = b.consume(&output, records.len(), WAIT);
    streams.close().unwrap();
    assert_eq!(got.len(), records.len(), "one update per record");
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    for (k, v, _) in got {
        let n: i64 = v.parse().unwrap();
        let e = last.entry(k).or_default();
        *e = (*e).max(n);
    }
    assert_eq!(last, expected);
}

/// At-least-once, a stream thread with nothing left to process flushes its record caches
/// (`statestore.cache.flush.when.idle`, on by default): with a commit interval of an hour the
/// windowed counts still arrive, before any commit. With it off they wait for the commit (here
/// the one at close).
#[test]
fn idle_thread_flushes_record_caches() {
    let b = broker();
    let (records, expected) = velocity_records();
    // The latest count per window read so far (counts only grow).
    let finals = |topic: &str, idle: Duration| {
        let mut last: BTreeMap<String, i64> = BTreeMap::new();
        for r in b.read_all(topic, idle, WAIT) {
            let n: i64 = text(r.value).parse().unwrap();
            let e = last.entry(text(r.key)).or_default();
            *e = (*e).max(n);
        }
        last
    };
    for flush_when_idle in [true, false] {
        let (input, output) = b.topic_pair(&format!("idle-flush-{flush_when_idle}"), 2);
        let dir = state_dir();
        let mut config = b.config(&unique("idle-flush"));
        config.state_dir = dir.path().to_path_buf();
        config.set("commit.interval.ms", "3600000").unwrap();
        config
            .set("statestore.cache.flush.when.idle", &flush_when_idle.to_string())
            .unwrap();
        let streams = Streams::new(velocity_topology(&input, &output, "idle-counts"), config).unwrap();
        streams.start().unwrap();
        assert!(streams.wait_for_state(StreamsState::Running, WAIT));
        b.produce(&input, &records);
        let metrics = streams.metrics();
        let deadline = Instant::now() + WAIT;
        while metrics.total("sluice_records_processed_total", &[]) < records.len() as u64 {
            assert!(Instant::now() < deadline, "processed: {:?}", streams.errors());
            std::thread::sleep(Duration::from_millis(50));
        }
        if flush_when_idle {
            let deadline = Instant::now() + WAIT;
            let mut got = finals(&output, Duration::from_millis(500));
            while got != expected && Instant::now() < deadline {
                got = finals(&output, Duration::from_millis(500));
            }
            assert_eq!(got, expected, "every window's count, flushed while idle");
            assert_eq!(
                metrics.total("sluice_commits_total", &[]),
                0,
                "the counts arrived without a commit"
            );
            streams.close().unwrap();
        } else {
            // Everything is processed: a flush now would reach the output within milliseconds.
            assert!(
                finals(&output, Duration::from_secs(2)).is_empty(),
                "with the idle flush off, nothing before the commit"
            );
            streams.close().unwrap();
            assert_eq!(
                finals(&output, Duration::from_secs(2)),
                expected,
                "flushed by the commit at close"
            );
        }
    }
}

/// The README's "Running on Kafka" snippet, against the test broker: two stream threads, a
/// state listener, the thread-replacing error policy.
#[test]
fn readme_running_on_kafka() -> Result<(), Box<dyn std::error::Error>> {
    use sluice::engine::UncaughtAction;
    use std::sync::{Arc, Mutex};
    let b = broker();
    let (input, output) = b.topic_pair("payments", 4);
    let builder = StreamsBuilder::new();
    builder
        .stream(&input, Consumed::with(Serde::string(), Serde::string()))
        .filter(|_, amount| amount.len() > 3)
        .to(&output, Produced::with(Serde::string(), Serde::string()));
    let topology = builder.build()?;
    let dir = state_dir();

    let mut config = StreamsConfig::new(unique("readme-app"), &b.bootstrap);
    config.state_dir = dir.path().to_path_buf();
    config.set("num.stream.threads", "2")?;
    config.set("commit.interval.ms", "1000")?;
    config.set("consumer.session.timeout.ms", "10000")?; // passed to librdkafka's consumers
    let streams = Streams::new(topology, config)?;
    streams.set_uncaught_exception_handler(|_error| UncaughtAction::ReplaceThread);
    let transitions = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&transitions);
    streams.set_state_listener(move |old, new| seen.lock().unwrap().push(format!("{old} -> {new}")));
    streams.start()?;
    assert!(
        streams.wait_for_state(StreamsState::Running, WAIT),
        "errors: {:?}",
        streams.errors()
    );

    let records: Vec<(String, String, i64)> = (0..40)
        .map(|i| (format!("acct-{i}"), "9".repeat(1 + i % 6), 1_000 + i as i64))
        .collect();
    b.produce(&input, &records);
    let expected = records.iter().filter(|(_, v, _)| v.len() > 3).count();
    let got = b.consume(&output, expected, WAIT);
    streams.close()?;
    assert_eq!(got.len(), expected);
    assert!(got.iter().all(|(_, v, _)| v.len() > 3));
    let transitions = transitions.lock().unwrap().clone();
    assert_eq!(
        transitions.first().map(String::as_str),
        Some("Created -> Rebalancing")
    );
    assert!(
        transitions.iter().any(|t| t == "Rebalancing -> Running"),
        "{transitions:?}"
    );
    assert_eq!(
        &transitions[transitions.len() - 2..],
        ["Running -> PendingShutdown", "PendingShutdown -> NotRunning"]
    );
    Ok(())
}

/// Issue: a windowed count started on a filled topic (as after downtime) lost every window that
/// expired between two commits. 20,000 records over 4 partitions and 50 keys, ~100 ms of event
/// time per record with up to 3 s of disorder (about 33 minutes: 30x the retention of 70 s),
/// processed as a backlog under both guarantees; the output and the changelog must hold every
/// window with its exact final count.
#[test]
fn windowed_backlog_keeps_every_window() {
    let b = broker();
    let (input, output) = b.topic_pair("backlog", 4);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // Recent timestamps: the broker's time-based retention must not delete the input.
    let records = backlog_input(12, now - 3_600_000, 20_000, 50, 100, 3_000);
    let rows: Vec<(String, String, i64)> = records
        .iter()
        .map(|r| (r.key.clone(), "x".to_string(), r.timestamp))
        .collect();
    b.produce(&input, &rows);
    let by_partition = partitions_in_order(&b.read_all(&input, Duration::from_secs(2), WAIT));
    assert_eq!(by_partition.values().map(Vec::len).sum::<usize>(), records.len());
    let windows = WindowSpec {
        size_ms: 60_000,
        advance_ms: 60_000,
        grace_ms: 10_000,
    };
    let expected = reference(by_partition.values().map(Vec::as_slice), windows);

    for (guarantee, commit_interval) in [("exactly_once_v2", "200"), ("at_least_once", "60000")] {
        let out = format!("{output}-{guarantee}");
        b.create_topic(&out, 4);
        let app = unique("backlog");
        let builder = StreamsBuilder::new();
        builder
            .stream(&input, Consumed::with(Serde::string(), Serde::string()))
            .group_by_key()
            .windowed_by(TimeWindows::of_size_and_grace(
                Duration::from_secs(60),
                Duration::from_secs(10),
            ))
            .count(Materialized::as_("backlog-counts").with_value_serde(Serde::i64()))
            .to_stream()
            .map(|w, n| (format!("{}@{}", w.key, w.window.start), n.to_string()))
            .to(&out, Produced::with(Serde::string(), Serde::string()));
        let dir = state_dir();
        let mut config = b.config(&app);
        config.state_dir = dir.path().to_path_buf();
        config.set("processing.guarantee", guarantee).unwrap();
        config.set("commit.interval.ms", commit_interval).unwrap();
        let streams = Streams::new(builder.build().unwrap(), config).unwrap();
        streams.start().unwrap();
        let deadline = Instant::now() + WAIT;
        while streams.metrics().total("sluice_records_processed_total", &[]) < records.len() as u64 {
            assert!(
                Instant::now() < deadline,
                "{guarantee}: processed {} of {} ({:?})",
                streams.metrics().total("sluice_records_processed_total", &[]),
                records.len(),
                streams.errors()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        streams.close().unwrap();
        let late = streams
            .metrics()
            .total("sluice_dropped_records_total", &[("reason", "expired_window")]);
        assert_eq!(late, expected.late, "{guarantee}: late records counted");

        let outputs: Vec<(String, i64)> = b
            .read_all(&out, Duration::from_secs(3), WAIT)
            .into_iter()
            .map(|r| (text(r.key), text(r.value).parse().unwrap()))
            .collect();
        let problems = compare(&expected, &outputs);
        assert!(problems.is_empty(), "{guarantee}: output: {problems:?}");
        let changelog: Vec<(String, i64)> = b
            .read_all(
                &format!("{app}-backlog-counts-changelog"),
                Duration::from_secs(3),
                WAIT,
            )
            .into_iter()
            .map(|r| (window_key(&r.key.unwrap()), count(&r.value.unwrap())))
            .collect();
        let problems = compare(&expected, &changelog);
        assert!(problems.is_empty(), "{guarantee}: changelog: {problems:?}");
        println!(
            "{guarantee}, commit every {commit_interval} ms: {} windows exact in output and changelog, {} late",
            expected.counts.len(),
            expected.late
        );
    }
}

fn text(bytes: Option<Vec<u8>>) -> String {
    String::from_utf8(bytes.unwrap_or_default()).unwrap()
}

/// `key@start` of a window changelog key (`u32 len | key | i64 start`, big-endian).
fn window_key(key: &[u8]) -> String {
    let len = u32::from_be_bytes(key[..4].try_into().unwrap()) as usize;
    let start = i64::from_be_bytes(key[4 + len..12 + len].try_into().unwrap());
    format!("{}@{start}", std::str::from_utf8(&key[4..4 + len]).unwrap())
}

fn count(value: &[u8]) -> i64 {
    i64::from_be_bytes(value.try_into().unwrap())
}

/// (key, timestamp) per partition, in offset order.
fn partitions_in_order(records: &[support::Read]) -> BTreeMap<i32, Vec<(String, i64)>> {
    let mut out: BTreeMap<i32, Vec<(String, i64)>> = BTreeMap::new();
    for r in records {
        out.entry(r.partition)
            .or_default()
            .push((text(r.key.clone()), r.timestamp));
    }
    out
}

/// `Consumed::with_offset_reset_policy(Latest)`: with no committed offset the source starts at
/// the end of its partitions; records written before the start are not processed.
#[test]
fn latest_source_starts_at_the_end() {
    let b = broker();
    let (input, output) = b.topic_pair("latest", 2);
    let before: Vec<(String, String, i64)> = (0..10)
        .map(|i| (format!("k{i}"), "old".into(), 1_000 + i))
        .collect();
    b.produce(&input, &before);
    let builder = StreamsBuilder::new();
    builder
        .stream(
            &input,
            Consumed::with(Serde::string(), Serde::string())
                .with_offset_reset_policy(AutoOffsetReset::Latest),
        )
        .to(&output, Produced::with(Serde::string(), Serde::string()));
    let dir = state_dir();
    let mut config = b.config(&unique("latest"));
    config.state_dir = dir.path().to_path_buf();
    config.set("commit.interval.ms", "100").unwrap();
    let streams = Streams::new(builder.build().unwrap(), config).unwrap();
    streams.start().unwrap();
    assert!(
        streams.wait_for_state(StreamsState::Running, WAIT),
        "{:?}",
        streams.errors()
    );
    // Give the thread a step to move its partitions to their end.
    std::thread::sleep(Duration::from_secs(2));
    let after: Vec<(String, String, i64)> = (0..10)
        .map(|i| (format!("k{i}"), "new".into(), 2_000 + i))
        .collect();
    b.produce(&input, &after);
    let got = b.consume(&output, after.len(), WAIT);
    std::thread::sleep(Duration::from_secs(1));
    let all = b.read_all(&output, Duration::from_secs(2), WAIT);
    streams.close().unwrap();
    assert_eq!(got.len(), after.len());
    assert!(got.iter().all(|(_, v, _)| v == "new"), "{got:?}");
    assert_eq!(
        all.len(),
        after.len(),
        "nothing written before the start was processed"
    );
}

/// Two instances must never share a state directory: they would share transactional ids
/// (fencing each other) and task databases.
#[test]
fn a_state_directory_takes_one_instance() {
    let b = broker();
    let dir = state_dir();
    let app = unique("locked");
    let topology = || {
        let builder = StreamsBuilder::new();
        builder
            .stream("in", Consumed::with(Serde::string(), Serde::string()))
            .to("out", Produced::with(Serde::string(), Serde::string()));
        builder.build().unwrap()
    };
    let mut config = b.config(&app);
    config.state_dir = dir.path().to_path_buf();
    let first = Streams::new(topology(), config.clone()).unwrap();
    let second = Streams::new(topology(), config.clone());
    assert!(
        matches!(second, Err(StreamsError::StateDirectory { .. })),
        "{:?}",
        second.err()
    );
    drop(first);
    Streams::new(topology(), config).expect("free again once the first instance is gone");
}
