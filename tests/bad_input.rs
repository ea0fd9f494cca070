//! Corrupt bytes, null keys, invalid timestamps, panicking closures and unserializable output:
//! each gets a clear error (log_and_fail), a counted skip (log_and_continue), or a dead-letter
//! record (dead_letter_queue). Nothing disappears uncounted.

use sluice::engine::dlq_headers;
use sluice::prelude::*;

fn config(handler_key: &str, handler: &str) -> StreamsConfig {
    let mut c = StreamsConfig::new("bad-input", "unused:9092");
    c.set(handler_key, handler).unwrap();
    c.set("errors.dead.letter.queue.topic.name", "bad-input-dlq")
        .unwrap();
    c
}

/// `amounts` (string -> i64) summed per key into `totals`.
fn sum_topology() -> Topology {
    let b = StreamsBuilder::new();
    b.stream("amounts", Consumed::with(Serde::string(), Serde::<i64>::i64()))
        .group_by_key()
        .reduce(|a, b| a + b, Materialized::as_("totals"))
        .to_stream()
        .to("totals-out", Produced::default());
    b.build().unwrap()
}

fn header(r: &TestRecord<Vec<u8>, Vec<u8>>, key: &str) -> String {
    String::from_utf8(r.headers.last(key).flatten().unwrap().to_vec()).unwrap()
}

#[test]
fn corrupt_value_fails_with_its_position_by_default() {
    let d = TopologyTestDriver::new(sum_topology());
    let raw = d.create_input_topic("amounts", Serde::bytes(), Serde::bytes());
    raw.pipe_input(b"acct".to_vec(), 5i64.to_be_bytes().to_vec());
    let err = raw
        .try_pipe_raw(Some(b"acct".to_vec()), Some(b"abc".to_vec()), 0, Headers::new())
        .unwrap_err();
    assert!(
        matches!(err, StreamsError::Deserialization { part: "value", .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("amounts-0@1"), "{msg}");
    assert!(msg.contains("expected 8 bytes, got 3"), "{msg}");
}

#[test]
fn corrupt_value_is_skipped_and_counted_with_log_and_continue() {
    let d = TopologyTestDriver::with_config(
        sum_topology(),
        config("deserialization.exception.handler", "log_and_continue"),
    )
    .unwrap();
    let raw = d.create_input_topic("amounts", Serde::bytes(), Serde::bytes());
    raw.pipe_input(b"a".to_vec(), 5i64.to_be_bytes().to_vec());
    raw.pipe_input(b"a".to_vec(), b"garbage".to_vec());
    raw.pipe_input(b"a".to_vec(), 2i64.to_be_bytes().to_vec());
    let store = d.key_value_store::<String, i64>("totals").unwrap();
    assert_eq!(store.get(&"a".to_string()), Some(7));
    assert_eq!(
        d.metrics().total(
            "sluice_dropped_records_total",
            &[("reason", "deserialization_error")]
        ),
        1
    );
}

#[test]
fn corrupt_records_go_to_the_dead_letter_topic_with_error_headers() {
    let d = TopologyTestDriver::with_config(
        sum_topology(),
        config("deserialization.exception.handler", "dead_letter_queue"),
    )
    .unwrap();
    let raw = d.create_input_topic("amounts", Serde::bytes(), Serde::bytes());
    raw.pipe_input(b"a".to_vec(), 1i64.to_be_bytes().to_vec());
    let original = Headers::from_pairs(vec![("trace-id".into(), Some(b"t-1".to_vec()))]);
    raw.try_pipe_raw(Some(b"a".to_vec()), Some(b"xx".to_vec()), 77, original)
        .unwrap();
    // A null key cannot be a String: also dead-lettered.
    raw.try_pipe_raw(None, Some(3i64.to_be_bytes().to_vec()), 78, Headers::new())
        .unwrap();

    let dlq = d.create_output_topic("bad-input-dlq", Serde::bytes(), Serde::optional(Serde::bytes()));
    let first = dlq.read_record().unwrap();
    assert_eq!(first.key, b"a".to_vec());
    assert_eq!(first.value, Some(Some(b"xx".to_vec())));
    assert_eq!(first.timestamp, 77);
    let as_bytes = TestRecord {
        key: first.key.clone(),
        value: first.value.clone().flatten(),
        timestamp: first.timestamp,
        headers: first.headers.clone(),
    };
    assert_eq!(header(&as_bytes, "trace-id"), "t-1");
    assert_eq!(header(&as_bytes, dlq_headers::EXCEPTION), "deserialization_error");
    assert_eq!(header(&as_bytes, dlq_headers::TOPIC), "amounts");
    assert_eq!(header(&as_bytes, dlq_headers::PARTITION), "0");
    assert_eq!(header(&as_bytes, dlq_headers::OFFSET), "1");
    assert!(header(&as_bytes, dlq_headers::MESSAGE).contains("expected 8 bytes"));

    let dlq_raw = d.topic_log("bad-input-dlq");
    assert_eq!(dlq_raw.len(), 2);
    assert_eq!(dlq_raw[1].key, None, "the null key is kept as null");
    let msg = String::from_utf8(
        dlq_raw[1]
            .headers
            .last(dlq_headers::MESSAGE)
            .flatten()
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(msg.contains("cannot represent null"), "{msg}");
    assert_eq!(d.metrics().total("sluice_dead_letter_records_total", &[]), 2);
    assert_eq!(
        d.key_value_store::<String, i64>("totals")
            .unwrap()
            .get(&"a".into()),
        Some(1)
    );
}

#[test]
fn null_key_error_suggests_the_fix() {
    let d = TopologyTestDriver::new(sum_topology());
    let raw = d.create_input_topic("amounts", Serde::bytes(), Serde::bytes());
    let err = raw
        .try_pipe_raw(None, Some(1i64.to_be_bytes().to_vec()), 0, Headers::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("the key of record amounts-0@0"), "{err}");
    assert!(err.contains("Serde::void"), "{err}");
}

#[test]
fn negative_timestamps_are_invalid() {
    let d = TopologyTestDriver::new(sum_topology());
    let input = d.create_input_topic("amounts", Serde::string(), Serde::<i64>::i64());
    let err = input.try_pipe_input_at("a".into(), 1, -5).unwrap_err();
    assert!(
        matches!(err, StreamsError::InvalidTimestamp { timestamp: -5, .. }),
        "{err}"
    );

    let d = TopologyTestDriver::with_config(
        sum_topology(),
        config("deserialization.exception.handler", "log_and_continue"),
    )
    .unwrap();
    let input = d.create_input_topic("amounts", Serde::string(), Serde::<i64>::i64());
    input.pipe_input_at("a".into(), 1, -5);
    assert_eq!(
        d.metrics()
            .total("sluice_dropped_records_total", &[("reason", "invalid_timestamp")]),
        1
    );
}

fn panicking_topology() -> Topology {
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serde::string(), Serde::<i64>::i64()))
        .map_values(|v| {
            assert!(*v >= 0, "negative amount {v}");
            *v * 10
        })
        .to("out", Produced::with(Serde::string(), Serde::i64()));
    b.build().unwrap()
}

#[test]
fn panicking_closure_fails_with_node_and_record() {
    let d = TopologyTestDriver::new(panicking_topology());
    let input = d.create_input_topic("in", Serde::string(), Serde::<i64>::i64());
    let err = input.try_pipe_input_at("k".into(), -1, 0).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StreamsError::Processing { .. }));
    assert!(msg.contains("KSTREAM-MAPVALUES-0000000001"), "{msg}");
    assert!(msg.contains("in-0@0"), "{msg}");
    assert!(msg.contains("negative amount -1"), "{msg}");
}

#[test]
fn panicking_closure_dead_letters_and_processing_continues() {
    let d = TopologyTestDriver::with_config(
        panicking_topology(),
        config("processing.exception.handler", "dead_letter_queue"),
    )
    .unwrap();
    let input = d.create_input_topic("in", Serde::string(), Serde::<i64>::i64());
    input.pipe_input("a".into(), 1);
    input.pipe_input("b".into(), -2);
    input.pipe_input("c".into(), 3);
    let out = d.create_output_topic("out", Serde::string(), Serde::<i64>::i64());
    assert_eq!(out.read_values_to_list(), vec![10, 30]);
    let dlq = d.create_output_topic("bad-input-dlq", Serde::string(), Serde::<i64>::i64());
    let r = dlq.read_record().unwrap();
    assert_eq!((r.key.as_str(), r.value), ("b", Some(-2)));
    assert_eq!(
        r.headers.last(dlq_headers::EXCEPTION).flatten(),
        Some(&b"processing_error"[..])
    );
}

/// Values that refuse to serialize, for production-handler tests.
struct Picky;
impl Codec<String> for Picky {
    fn serialize(&self, v: &String) -> Result<Vec<u8>, SerdeError> {
        if v.is_empty() {
            Err(SerdeError::serialize::<String>("empty strings are not allowed"))
        } else {
            Ok(v.as_bytes().to_vec())
        }
    }
    fn deserialize(&self, b: &[u8]) -> Result<String, SerdeError> {
        Ok(String::from_utf8_lossy(b).into_owned())
    }
}

fn picky_topology() -> Topology {
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serde::string(), Serde::string()))
        .to("out", Produced::with(Serde::string(), Serde::new(Picky)));
    b.build().unwrap()
}

#[test]
fn unserializable_output_fails_or_is_counted() {
    let d = TopologyTestDriver::new(picky_topology());
    let input = d.create_input_topic("in", Serde::string(), Serde::string());
    let err = input
        .try_pipe_input_at("k".into(), "".into(), 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot serialize the value for topic out"), "{err}");
    assert!(err.contains("empty strings are not allowed"), "{err}");

    let d = TopologyTestDriver::with_config(
        picky_topology(),
        config("production.exception.handler", "log_and_continue"),
    )
    .unwrap();
    let input = d.create_input_topic("in", Serde::string(), Serde::string());
    input.pipe_input("k".into(), "".into());
    input.pipe_input("k".into(), "ok".into());
    let out = d.create_output_topic("out", Serde::string(), Serde::string());
    assert_eq!(out.read_values_to_list(), vec!["ok"]);
    assert_eq!(
        d.metrics().total(
            "sluice_dropped_records_total",
            &[("reason", "serialization_error")]
        ),
        1
    );
}

#[test]
fn a_failed_record_leaves_no_partial_state() {
    // The second record's reduce succeeds but its sink fails; the task aborts, so the store
    // keeps the state of the last committed record.
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .reduce(|a, b| format!("{a}{b}"), Materialized::as_("concat"))
        .to_stream()
        .to("out", Produced::with(Serde::string(), Serde::new(Picky)));
    let d = TopologyTestDriver::new(b.build().unwrap());
    let input = d.create_input_topic("in", Serde::string(), Serde::string());
    input.pipe_input("k".into(), "a".into());
    input.try_pipe_input_at("x".into(), "".into(), 1).unwrap_err();
    let store = d.key_value_store::<String, String>("concat").unwrap();
    assert_eq!(store.all(), vec![("k".to_string(), "a".to_string())]);
}

#[test]
fn dead_letter_handler_without_topic_is_a_config_error() {
    let mut c = StreamsConfig::new("app", "unused:9092");
    c.set("deserialization.exception.handler", "dead_letter_queue")
        .unwrap();
    let err = TopologyTestDriver::with_config(sum_topology(), c)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("errors.dead.letter.queue.topic.name"), "{err}");
}
