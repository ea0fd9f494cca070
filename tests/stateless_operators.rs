//! Every stateless KStream operator through the test driver, including null values.

use sluice::prelude::*;
use std::sync::{Arc, Mutex};

fn strings(builder: &StreamsBuilder, topic: &str) -> KStream<String, String> {
    builder.stream(topic, Consumed::with(Serde::string(), Serde::string()))
}

fn kv(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

struct Fixture {
    driver: TopologyTestDriver,
    input: TestInputTopic<String, String>,
}

impl Fixture {
    fn new(builder: StreamsBuilder) -> Self {
        let driver = TopologyTestDriver::new(builder.build().expect("valid topology"));
        let input = driver.create_input_topic("in", Serde::string(), Serde::string());
        Fixture { driver, input }
    }

    fn out(&self, topic: &str) -> TestOutputTopic<String, String> {
        self.driver
            .create_output_topic(topic, Serde::string(), Serde::string())
    }

    fn pipe(&self, k: &str, v: &str) {
        self.input.pipe_input(k.to_string(), v.to_string());
    }
}

#[test]
fn filter_and_filter_not_partition_the_stream() {
    let b = StreamsBuilder::new();
    let s = strings(&b, "in");
    s.filter(|_, v| v.starts_with('a')).to("yes", Produced::default());
    s.filter_not(|_, v| v.starts_with('a'))
        .to("no", Produced::default());
    let f = Fixture::new(b);
    for (k, v) in [("1", "apple"), ("2", "banana"), ("3", "avocado")] {
        f.pipe(k, v);
    }
    assert_eq!(
        f.out("yes").read_key_values_to_list(),
        vec![kv("1", "apple"), kv("3", "avocado")]
    );
    assert_eq!(f.out("no").read_key_values_to_list(), vec![kv("2", "banana")]);
}

#[test]
fn map_changes_key_and_value_types() {
    let b = StreamsBuilder::new();
    strings(&b, "in")
        .map(|k, v| (v.len() as i64, format!("{k}:{v}")))
        .to("out", Produced::with(Serde::i64(), Serde::string()));
    let f = Fixture::new(b);
    f.pipe("a", "xyz");
    let out = f
        .driver
        .create_output_topic("out", Serde::<i64>::i64(), Serde::string());
    assert_eq!(out.read_key_value(), (3, "a:xyz".to_string()));
}

#[test]
fn map_values_keeps_key_and_timestamp() {
    let b = StreamsBuilder::new();
    let s = strings(&b, "in");
    s.map_values(|v| v.to_uppercase())
        .to("upper", Produced::with(Serde::string(), Serde::string()));
    s.map_values_with_key(|k, v| format!("{k}={v}"))
        .to("joined", Produced::with(Serde::string(), Serde::string()));
    let f = Fixture::new(b);
    f.input.pipe_input_at("k".into(), "v".into(), 1234);
    let r = f.out("upper").read_record().unwrap();
    assert_eq!(
        (r.key.as_str(), r.value.as_deref(), r.timestamp),
        ("k", Some("V"), 1234)
    );
    assert_eq!(f.out("joined").read_value(), "k=v");
}

#[test]
fn flat_map_and_flat_map_values_emit_zero_or_more() {
    let b = StreamsBuilder::new();
    let s = strings(&b, "in");
    s.flat_map_values(|v| v.split(',').map(str::to_string).collect::<Vec<_>>())
        .to("parts", Produced::with(Serde::string(), Serde::string()));
    s.flat_map(|k, v| v.chars().map(|c| (c.to_string(), k.clone())).collect::<Vec<_>>())
        .to("chars", Produced::with(Serde::string(), Serde::string()));
    let f = Fixture::new(b);
    f.pipe("k", "a,b");
    f.pipe("e", "");
    assert_eq!(
        f.out("parts").read_key_values_to_list(),
        vec![kv("k", "a"), kv("k", "b"), kv("e", "")]
    );
    assert_eq!(
        f.out("chars").read_key_values_to_list(),
        vec![kv("a", "k"), kv(",", "k"), kv("b", "k")]
    );
}

#[test]
fn select_key_rekeys() {
    let b = StreamsBuilder::new();
    strings(&b, "in")
        .select_key(|_, v| v.split(':').next().unwrap_or_default().to_string())
        .to("out", Produced::with(Serde::string(), Serde::string()));
    let f = Fixture::new(b);
    f.pipe("ignored", "acct-1:42");
    assert_eq!(f.out("out").read_key_value(), kv("acct-1", "acct-1:42"));
}

#[test]
fn peek_and_foreach_see_every_record() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let terminal = Arc::new(Mutex::new(Vec::new()));
    let b = StreamsBuilder::new();
    let (s1, s2) = (Arc::clone(&seen), Arc::clone(&terminal));
    let s = strings(&b, "in").peek(move |k, v| s1.lock().unwrap().push(format!("{k}{v}")));
    s.foreach(move |k, _| s2.lock().unwrap().push(k.clone()));
    s.to("out", Produced::default());
    let f = Fixture::new(b);
    f.pipe("a", "1");
    f.pipe("b", "2");
    assert_eq!(*seen.lock().unwrap(), vec!["a1", "b2"]);
    assert_eq!(*terminal.lock().unwrap(), vec!["a", "b"]);
    assert_eq!(f.out("out").queue_size(), 2);
}

#[test]
fn split_routes_to_first_matching_branch() {
    let b = StreamsBuilder::new();
    let branches = strings(&b, "in")
        .split_named("amount-")
        .branch(|_, v| v.len() > 5, Branched::as_("large"))
        .branch(|_, v| v.len() > 2, Branched::as_("medium"))
        .default_branch(Branched::as_("small"));
    assert_eq!(
        branches.keys().collect::<Vec<_>>(),
        vec!["amount-large", "amount-medium", "amount-small"]
    );
    for (name, stream) in &branches {
        stream.to(name.as_str(), Produced::default());
    }
    let f = Fixture::new(b);
    for (k, v) in [("1", "123456"), ("2", "123"), ("3", "1"), ("4", "1234567")] {
        f.pipe(k, v);
    }
    assert_eq!(
        f.out("amount-large").read_key_values_to_list(),
        vec![kv("1", "123456"), kv("4", "1234567")]
    );
    assert_eq!(
        f.out("amount-medium").read_key_values_to_list(),
        vec![kv("2", "123")]
    );
    assert_eq!(
        f.out("amount-small").read_key_values_to_list(),
        vec![kv("3", "1")]
    );
}

#[test]
fn split_without_default_drops_unmatched() {
    let b = StreamsBuilder::new();
    let branches = strings(&b, "in")
        .split()
        .branch(|_, v| v == "x", Branched::default())
        .no_default_branch();
    // As Kafka Streams: named after the branch processor's generated name.
    assert_eq!(
        branches.keys().collect::<Vec<_>>(),
        vec!["KSTREAM-BRANCH-00000000011"]
    );
    branches["KSTREAM-BRANCH-00000000011"].to("x", Produced::default());
    let f = Fixture::new(b);
    f.pipe("a", "x");
    f.pipe("b", "y");
    assert_eq!(f.out("x").read_key_values_to_list(), vec![kv("a", "x")]);
}

#[test]
fn merge_interleaves_in_processing_order() {
    let b = StreamsBuilder::new();
    let left = strings(&b, "in");
    let right = b.stream("in2", Consumed::with(Serde::string(), Serde::string()));
    left.merge(&right).to("out", Produced::default());
    let f = Fixture::new(b);
    let in2 = f
        .driver
        .create_input_topic("in2", Serde::string(), Serde::string());
    f.pipe("l", "1");
    in2.pipe_input("r".into(), "2".into());
    f.pipe("l", "3");
    assert_eq!(
        f.out("out").read_key_values_to_list(),
        vec![kv("l", "1"), kv("r", "2"), kv("l", "3")]
    );
}

#[test]
fn null_values_pass_value_operators_and_reach_sinks_as_tombstones() {
    let calls = Arc::new(Mutex::new(0));
    let c = Arc::clone(&calls);
    let b = StreamsBuilder::new();
    strings(&b, "in")
        .filter(|_, v| v != "drop-me")
        .map_values(move |v| {
            *c.lock().unwrap() += 1;
            v.len() as i64
        })
        .to("out", Produced::with(Serde::string(), Serde::i64()));
    let f = Fixture::new(b);
    f.input.pipe_tombstone_at("gone".into(), 5);
    f.pipe("kept", "abc");
    let out = f
        .driver
        .create_output_topic("out", Serde::string(), Serde::<i64>::i64());
    let records = out.read_records_to_list();
    assert_eq!(records.len(), 2);
    assert_eq!(
        (records[0].key.as_str(), records[0].value, records[0].timestamp),
        ("gone", None, 5)
    );
    assert_eq!(records[1].value, Some(3));
    assert_eq!(*calls.lock().unwrap(), 1, "the mapper never sees a null value");
}

#[test]
fn key_changing_operators_drop_null_values_and_count_them() {
    let b = StreamsBuilder::new();
    strings(&b, "in")
        .select_key(|_, v| v.clone())
        .to("out", Produced::with(Serde::string(), Serde::string()));
    let f = Fixture::new(b);
    f.input.pipe_tombstone_at("k".into(), 0);
    f.pipe("k", "v");
    assert_eq!(f.out("out").read_key_values_to_list(), vec![kv("v", "v")]);
    let m = f.driver.metrics();
    assert_eq!(
        m.total("sluice_dropped_records_total", &[("reason", "null_value")]),
        1
    );
}

/// `foreach` takes `&V`, so a null value cannot reach its action: the record ends there, and
/// is counted (nothing is skipped silently).
#[test]
fn foreach_counts_the_null_values_its_action_cannot_see() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = Arc::clone(&seen);
    let b = StreamsBuilder::new();
    strings(&b, "in").foreach(move |k, v| s2.lock().unwrap().push((k.clone(), v.clone())));
    let f = Fixture::new(b);
    f.input.pipe_tombstone_at("gone".into(), 1);
    f.pipe("k", "v");
    assert_eq!(*seen.lock().unwrap(), vec![kv("k", "v")]);
    let m = f.driver.metrics();
    assert_eq!(
        m.total("sluice_dropped_records_total", &[("reason", "null_value")]),
        1
    );
}

#[test]
fn optional_serde_hands_nulls_to_user_code() {
    let b = StreamsBuilder::new();
    b.stream(
        "in",
        Consumed::with(Serde::string(), Serde::optional(Serde::string())),
    )
    .map_values(|v| v.clone().unwrap_or_else(|| "<deleted>".to_string()))
    .to("out", Produced::with(Serde::string(), Serde::string()));
    let driver = TopologyTestDriver::new(b.build().unwrap());
    let input = driver.create_input_topic("in", Serde::string(), Serde::optional(Serde::string()));
    input.pipe_input("a".into(), None);
    input.pipe_input("b".into(), Some("x".into()));
    let out = driver.create_output_topic("out", Serde::string(), Serde::string());
    assert_eq!(
        out.read_key_values_to_list(),
        vec![kv("a", "<deleted>"), kv("b", "x")]
    );
}

#[test]
fn unkeyed_topics_read_with_the_void_serde() {
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serde::void(), Serde::string()))
        .select_key(|_, v| v.clone())
        .to("out", Produced::with(Serde::string(), Serde::string()));
    let driver = TopologyTestDriver::new(b.build().unwrap());
    let input = driver.create_input_topic("in", Serde::void(), Serde::string());
    input.pipe_input((), "k1".into());
    let out = driver.create_output_topic("out", Serde::string(), Serde::string());
    assert_eq!(out.read_key_value(), kv("k1", "k1"));
}

#[test]
fn headers_travel_to_sinks() {
    let b = StreamsBuilder::new();
    strings(&b, "in")
        .map_values(|v| v.clone())
        .to("out", Produced::default().with_value_serde(Serde::string()));
    let f = Fixture::new(b);
    let headers = Headers::from_pairs(vec![("trace".into(), Some(b"abc".to_vec()))]);
    f.input
        .pipe_record(TestRecord::new("k".to_string(), "v".to_string(), 9).with_headers(headers.clone()));
    assert_eq!(f.out("out").read_record().unwrap().headers, headers);
}

#[test]
fn piping_to_an_unknown_topic_is_an_error() {
    let b = StreamsBuilder::new();
    strings(&b, "in").to("out", Produced::default());
    let f = Fixture::new(b);
    let other = f
        .driver
        .create_input_topic("nope", Serde::string(), Serde::string());
    let err = other.try_pipe_input_at("k".into(), "v".into(), 0).unwrap_err();
    assert!(matches!(err, StreamsError::UnknownTopic { .. }), "{err}");
    assert!(err.to_string().contains("\"nope\""));
}
