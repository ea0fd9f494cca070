//! End-to-end pipelines on a real broker (nisshi): exact outputs of a stateless and a windowed
//! topology through the Kafka runtime.

mod support;

use sluice::engine::{Streams, StreamsState};
use sluice::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;
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

#[test]
fn windowed_count_end_to_end() {
    let b = broker();
    let (input, output) = b.topic_pair("velocity", 2);
    let builder = StreamsBuilder::new();
    builder
        .stream(&input, Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(60)))
        .count(Materialized::as_("velocity"))
        .to_stream()
        .map(|w, n| (format!("{}@{}", w.key, w.window.start), n.to_string()))
        .to(&output, Produced::with(Serde::string(), Serde::string()));
    let dir = state_dir();
    let mut config = b.config(&unique("windowed"));
    config.state_dir = dir.path().to_path_buf();
    config.set("commit.interval.ms", "200").unwrap();
    // Every update reaches the output, so the final value per window is exact.
    config.set("statestore.cache.max.bytes", "0").unwrap();
    let streams = Streams::new(builder.build().unwrap(), config).unwrap();
    streams.start().unwrap();

    // Three accounts, records 10 s apart: windows of one minute hold six records each.
    let mut records = Vec::new();
    for i in 0..36i64 {
        records.push((
            format!("acct-{}", i % 3),
            "tx".to_string(),
            1_700_000_040_000 + i * 10_000 / 3,
        ));
    }
    b.produce(&input, &records);

    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for (k, _, t) in &records {
        *expected
            .entry(format!("{k}@{}", t / 60_000 * 60_000))
            .or_default() += 1;
    }
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
