//! Kafka Streams' documented join semantics tables, reproduced row by row.
//!
//! The tables (tests/data/kafka-streams-join-semantics.json) are transcribed from Apache Kafka's
//! developer guide (docs/streams/developer-guide/dsl-api.html): for each join type, a sequence of
//! left and right inputs of one key in timestamp order, and the outputs each row produces.
//! `null` inputs are tombstones; an output `null` is a forwarded tombstone; `[A, a]` is a joiner
//! call with those arguments.

use serde_json::Value;
use sluice::prelude::*;
use std::time::Duration;

const TABLES: &str = include_str!("data/kafka-streams-join-semantics.json");

struct Row {
    timestamp_ms: i64,
    left: Option<Option<String>>,
    right: Option<Option<String>>,
    /// Expected outputs per result column, in column order.
    expected: Vec<Vec<String>>,
}

/// `""` = no input; `"null"` = tombstone; anything else a value.
fn cell(s: &str) -> Option<Option<String>> {
    match s {
        "" => None,
        "null" => Some(None),
        v => Some(Some(v.to_string())),
    }
}

/// `"[A, a], [B, b]"` -> `["[A, a]", "[B, b]"]`; `"null"` -> `["null"]`.
fn outputs(s: &str) -> Vec<String> {
    if s.is_empty() {
        return Vec::new();
    }
    if s == "null" {
        return vec!["null".into()];
    }
    s.split("], ")
        .map(|part| {
            let part = part.trim();
            if part.ends_with(']') {
                part.to_string()
            } else {
                format!("{part}]")
            }
        })
        .collect()
}

fn table(name: &str) -> Vec<Row> {
    let doc: Value = serde_json::from_str(TABLES).unwrap();
    let rows = doc["tables"][name].as_array().unwrap();
    rows.iter()
        .skip(1)
        .filter_map(|row| {
            let cells: Vec<&str> = row
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            let timestamp: i64 = cells[0].parse().ok()?; // "..." rows are elisions
            Some(Row {
                timestamp_ms: timestamp * 1000,
                left: cell(cells[1]),
                right: cell(cells[2]),
                expected: cells[3..].iter().map(|c| outputs(c)).collect(),
            })
        })
        .collect()
}

fn show(l: Option<&String>, r: Option<&String>) -> String {
    format!(
        "[{}, {}]",
        l.map_or("null", String::as_str),
        r.map_or("null", String::as_str)
    )
}

fn pipe(input: &TestInputTopic<String, String>, value: &Option<String>, timestamp: i64) {
    match value {
        Some(v) => input.pipe_input_at("k".into(), v.clone(), timestamp),
        None => input.pipe_tombstone_at("k".into(), timestamp),
    }
}

/// Pipes every row and checks each output topic after each row.
fn check(rows: Vec<Row>, topology: Topology, outputs: &[&str]) {
    let driver = TopologyTestDriver::new(topology);
    let left = driver.create_input_topic("left", Serde::string(), Serde::string());
    let right = driver.create_input_topic("right", Serde::string(), Serde::string());
    let outs: Vec<_> = outputs
        .iter()
        .map(|t| driver.create_output_topic(t, Serde::string(), Serde::optional(Serde::string())))
        .collect();
    assert!(!rows.is_empty());
    for row in rows {
        if let Some(v) = &row.left {
            pipe(&left, v, row.timestamp_ms);
        }
        if let Some(v) = &row.right {
            pipe(&right, v, row.timestamp_ms);
        }
        for (i, out) in outs.iter().enumerate() {
            let got: Vec<String> = out
                .read_records_to_list()
                .into_iter()
                .map(|r| r.value.flatten().unwrap_or_else(|| "null".to_string()))
                .collect();
            assert_eq!(
                got,
                row.expected[i],
                "{} at t={}s",
                outputs[i],
                row.timestamp_ms / 1000
            );
        }
    }
}

#[test]
fn stream_stream_joins_follow_the_documented_table() {
    let b = StreamsBuilder::new();
    let left = b.stream("left", Consumed::with(Serde::string(), Serde::string()));
    let right = b.stream("right", Consumed::with(Serde::string(), Serde::string()));
    let windows =
        || JoinWindows::of_time_difference_and_grace(Duration::from_secs(15), Duration::from_secs(5));
    let sink = || Produced::with(Serde::string(), Serde::string());
    left.join(
        &right,
        |l, r| show(Some(l), Some(r)),
        windows(),
        StreamJoined::default(),
    )
    .to("inner", sink());
    left.left_join(
        &right,
        |l, r| show(Some(l), r),
        windows(),
        StreamJoined::default(),
    )
    .to("left-join", sink());
    left.outer_join(&right, show, windows(), StreamJoined::default())
        .to("outer", sink());
    check(
        as_kafka_streams_code_emits(table("stream-stream")),
        b.build().unwrap(),
        &["inner", "left-join", "outer"],
    );
}

/// Kafka Streams' code departs from its documented stream-stream table, and Sluice follows the
/// code (what an application migrating from it sees): a non-joined record is emitted only once
/// stream time *passes* its time + window + grace, while a record at stream time is processed.
/// The table emits it when stream time reaches that moment, at a row whose time is exactly
/// that; the code emits it with the next row. So each non-joined output (`[X, null]`,
/// `[null, x]`) moves to the next row, and a last row `H` at 101 s carries those of the table's
/// last row (H itself waits, as G does).
fn as_kafka_streams_code_emits(mut rows: Vec<Row>) -> Vec<Row> {
    let columns = rows[0].expected.len();
    rows.push(Row {
        timestamp_ms: 101_000,
        left: Some(Some("H".into())),
        right: None,
        expected: vec![Vec::new(); columns],
    });
    let non_joined = |o: &String| o.contains("null");
    for i in (0..rows.len() - 1).rev() {
        for column in 0..columns {
            let (moved, kept): (Vec<String>, Vec<String>) =
                rows[i].expected[column].drain(..).partition(non_joined);
            rows[i].expected[column] = kept;
            rows[i + 1].expected[column].splice(0..0, moved);
        }
    }
    rows
}

#[test]
fn table_table_joins_follow_the_documented_table() {
    let b = StreamsBuilder::new();
    let left = b.table("left", Consumed::with(Serde::string(), Serde::string()));
    let right = b.table("right", Consumed::with(Serde::string(), Serde::string()));
    let sink = || Produced::with(Serde::string(), Serde::string());
    left.join(&right, |l, r| show(Some(l), Some(r)))
        .to_stream()
        .to("inner", sink());
    left.left_join(&right, |l, r| show(Some(l), r))
        .to_stream()
        .to("left-join", sink());
    left.outer_join(&right, show).to_stream().to("outer", sink());
    check(
        table("table-table"),
        b.build().unwrap(),
        &["inner", "left-join", "outer"],
    );
}

#[test]
fn stream_table_joins_follow_the_documented_table() {
    let b = StreamsBuilder::new();
    let left = b.stream("left", Consumed::with(Serde::string(), Serde::string()));
    let right = b.table("right", Consumed::with(Serde::string(), Serde::string()));
    let sink = || Produced::with(Serde::string(), Serde::string());
    left.join_table(&right, |l, r| show(Some(l), Some(r)))
        .to("inner", sink());
    left.left_join_table(&right, |l, r| show(Some(l), r))
        .to("left-join", sink());
    check(table("stream-table"), b.build().unwrap(), &["inner", "left-join"]);
}
