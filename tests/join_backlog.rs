//! A stream-table join started on a backlog (both topics preloaded, as after downtime) joins
//! every stream record: each task reads its table partition's rows before the stream records
//! that meet them, even with `max.task.idle.ms` = 0 (Kafka Streams' KIP-695: an empty input
//! partition with unfetched records on the broker holds its task back). Before this, a task
//! raced through stream records whose table rows were still on the broker once the table
//! partition's first fetch was consumed (here 19,902 of 20,000 joined; the end-to-end bench's
//! output check caught 960 of 60,000 missing).

mod support;

use sluice::engine::Streams;
use sluice::prelude::*;
use std::time::Duration;
use support::{broker, state_dir, unique};

#[test]
fn a_join_on_a_backlog_misses_no_table_row() {
    let b = broker();
    let profiles = unique("backlog-profiles");
    let (input, output) = b.topic_pair("backlog-join", 4);
    b.create_topic(&profiles, 4);
    // 8,000 table rows of 1 KB (2 MB per partition: more than one fetch returns), stamped
    // before 20,000 stream records.
    let filler = "x".repeat(1_000);
    let rows: Vec<(String, String, i64)> = (0..8_000)
        .map(|k| (format!("k{k}"), format!("profile-{k}:{filler}"), 1_000))
        .collect();
    b.produce(&profiles, &rows);
    let records: Vec<(String, String, i64)> = (0..20_000)
        .map(|i| (format!("k{}", i % 8_000), format!("{i}:{filler}"), 2_000 + i))
        .collect();
    b.produce(&input, &records);

    let builder = StreamsBuilder::new();
    let table = builder.table(&profiles, Consumed::with(Serde::string(), Serde::string()));
    builder
        .stream(&input, Consumed::with(Serde::string(), Serde::string()))
        .join_table(&table, |v, p| {
            format!("{}+{p}", v.split(':').next().unwrap_or_default())
        })
        .to(&output, Produced::with(Serde::string(), Serde::string()));
    let dir = state_dir();
    let mut config = b.config(&unique("backlog-join"));
    config.state_dir = dir.path().to_path_buf();
    config.set("commit.interval.ms", "100").unwrap();
    let streams = Streams::new(builder.build().unwrap(), config).unwrap();
    streams.start().unwrap();
    let joined = b.consume(&output, 20_000, Duration::from_secs(120));
    streams.close().unwrap();
    assert_eq!(joined.len(), 20_000, "every stream record met its table row");
    for (k, v, _) in &joined {
        let head = v.split(':').next().unwrap_or_default();
        assert!(head.ends_with(&format!("+profile-{}", &k[1..])), "{k}: {head}");
    }
}
