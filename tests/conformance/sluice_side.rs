//! Sluice's side: runs a case on Sluice's TopologyTestDriver, with the same configuration as
//! the oracle's (application id, in-memory stores, cache size, deserialization handler).

use super::catalogue::{self, Case, StoreKind, StoreSpec};
use super::generator::{hex_opt, Event};
use super::oracle::{OutRecord, Outcome};
use sluice::engine::Headers;
use sluice::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Display;

/// Runs `events` through case `case` on Sluice.
pub fn run(case: &Case, events: &[Event], run: super::Run, keys: &[String]) -> Outcome {
    let topology = catalogue::build(case.name);
    let describe = topology.describe().to_string();
    let mut config = StreamsConfig::new("test-driver", "dummy:9092");
    config.set("default.dsl.store", "in_memory").unwrap();
    config
        .set(
            "statestore.cache.max.bytes",
            if run.cache { "10485760" } else { "0" },
        )
        .unwrap();
    if case.continue_on_bad_input {
        config
            .set("deserialization.exception.handler", "LogAndContinue")
            .unwrap();
    }
    // Both drivers' wall clocks start at 0 and move only with the events' advances.
    let driver = TopologyTestDriver::with_config_at(topology, config, std::time::UNIX_EPOCH)
        .expect("the driver starts")
        .with_commit_every(run.commit_every);
    let mut error = None;
    for event in events {
        match event {
            Event::Record {
                topic,
                key,
                value,
                ts,
            } => {
                let input = driver.create_input_topic(topic, Serde::bytes(), Serde::bytes());
                if let Err(e) = input.try_pipe_raw(key.clone(), value.clone(), *ts, Headers::new()) {
                    error = Some(e.to_string());
                    break;
                }
            }
            Event::WallClock { wall_ms } => {
                let advance = std::time::Duration::from_millis(*wall_ms as u64);
                if let Err(e) = driver.advance_wall_clock_time(advance) {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
    }
    if error.is_none() {
        if let Err(e) = driver.commit() {
            error = Some(e.to_string());
        }
    }
    let outputs = case
        .outputs
        .iter()
        .map(|topic| {
            let records = driver
                .topic_log(topic)
                .into_iter()
                .map(|r| OutRecord {
                    key: r.key,
                    value: r.value,
                    ts: r.timestamp,
                    headers: r
                        .headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.map(hex_opt::encode)))
                        .collect(),
                })
                .collect();
            (topic.to_string(), records)
        })
        .collect();
    let stores = case
        .stores
        .iter()
        .map(|s| (s.name.to_string(), dump(&driver, s, keys)))
        .collect::<BTreeMap<_, _>>();
    Outcome {
        describe,
        outputs,
        stores,
        error,
        fatal: None,
    }
}

fn dump(driver: &TopologyTestDriver, store: &StoreSpec, keys: &[String]) -> Vec<(String, Option<String>)> {
    if store.long_values {
        dump_typed::<i64>(driver, store, keys)
    } else {
        dump_typed::<String>(driver, store, keys)
    }
}

fn dump_typed<V: Display + 'static>(
    driver: &TopologyTestDriver,
    store: &StoreSpec,
    keys: &[String],
) -> Vec<(String, Option<String>)> {
    fn fail<T>(name: &str) -> impl FnOnce(StreamsError) -> T + '_ {
        move |e| panic!("store {name}: {e}")
    }
    match store.kind {
        StoreKind::KeyValue => driver
            .key_value_store::<String, V>(store.name)
            .unwrap_or_else(fail(store.name))
            .all()
            .into_iter()
            .map(|(k, v)| (k, Some(v.to_string())))
            .collect(),
        StoreKind::Window => driver
            .window_store::<String, V>(store.name)
            .unwrap_or_else(fail(store.name))
            .all()
            .into_iter()
            .map(|(k, v)| (format!("{}@{}", k.key, k.window.start), Some(v.to_string())))
            .collect(),
        StoreKind::Session => {
            let view = driver
                .session_store::<String, V>(store.name)
                .unwrap_or_else(fail(store.name));
            keys.iter()
                .flat_map(|key| {
                    view.fetch(key)
                        .into_iter()
                        .map(move |(w, v)| (format!("{key}@{}-{}", w.start, w.end), Some(v.to_string())))
                })
                .collect()
        }
    }
}
