//! The Processor API through the public API and the test driver: `process` / `process_values`,
//! connected stores (restored after a restart, rolled back after a crash), punctuation on
//! stream time and on the wall clock, forwarding to a named child, record metadata, and the
//! errors a mistaken program gets. (Kafka Streams' own output for the same processors is
//! checked by the conformance suite: `process_count_punctuate`, `process_values_metadata`.)

use sluice::dsl::processor::*;
use sluice::prelude::*;
use std::time::Duration;

/// Sums values per key in `sums`; forwards every sum each 10 s of stream time (in key order)
/// and, on the wall clock every minute, a heartbeat with the number of keys.
struct Summer {
    heartbeat: Option<Schedule>,
}

impl Processor<String, i64, String, String> for Summer {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, String>) -> Result<(), ProcessorError> {
        ctx.schedule(Duration::from_secs(10), PunctuationType::StreamTime);
        self.heartbeat = Some(ctx.schedule(Duration::from_secs(60), PunctuationType::WallClockTime));
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, i64>,
    ) -> Result<(), ProcessorError> {
        let Some(v) = r.value else {
            ctx.key_value_store::<String, i64>("sums")?.delete(&r.key)?;
            return Ok(());
        };
        if v < 0 {
            return Err(ProcessorError::user(format!("negative amount {v}")));
        }
        let mut sums = ctx.key_value_store::<String, i64>("sums")?;
        let sum = sums.get(&r.key)?.unwrap_or(0) + v;
        sums.put(r.key, sum)
    }

    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        schedule: Schedule,
        timestamp: i64,
    ) -> Result<(), ProcessorError> {
        let sums = ctx.key_value_store::<String, i64>("sums")?.all()?;
        if Some(schedule) == self.heartbeat {
            ctx.forward(Record::new(
                "heartbeat".into(),
                Some(format!("{} keys", sums.len())),
                timestamp,
            ));
            return Ok(());
        }
        for (k, sum) in sums {
            ctx.forward(Record::new(k, Some(sum.to_string()), timestamp));
        }
        Ok(())
    }
}

fn sums_store() -> StoreBuilder {
    Stores::key_value_store_builder(
        Stores::persistent_key_value_store("sums"),
        Serde::string(),
        Serde::<i64>::i64(),
    )
}

fn summer_topology() -> Topology {
    let b = StreamsBuilder::new();
    b.add_state_store(sums_store());
    b.stream("amounts", Consumed::with(Serde::string(), Serde::<i64>::i64()))
        .process(|| Summer { heartbeat: None }, &["sums"])
        .to("sums-out", Produced::with(Serde::string(), Serde::string()));
    b.build().unwrap()
}

fn rocksdb_driver(topology: Topology) -> TopologyTestDriver {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StreamsConfig::new("processor-api", "dummy:9092");
    config.state_dir = dir.keep();
    TopologyTestDriver::with_config(topology, config).unwrap()
}

#[test]
fn stream_time_punctuation_forwards_the_store_every_interval() {
    let driver = rocksdb_driver(summer_topology());
    let input = driver.create_input_topic("amounts", Serde::string(), Serde::<i64>::i64());
    let out = driver.create_output_topic("sums-out", Serde::string(), Serde::string());
    // Stream time 0: the first punctuation (aligned to 0) runs at once, on an empty store...
    input.pipe_input_at("b".into(), 5, 0);
    assert_eq!(
        out.read_records_to_list().len(),
        1,
        "the punctuation at 0 saw b=5"
    );
    input.pipe_input_at("a".into(), 1, 4_000);
    input.pipe_input_at("a".into(), 2, 9_999);
    assert!(out.is_empty(), "no punctuation before stream time 10,000");
    // ...the next at 10,000, then one (not three) after a gap to 42,000.
    input.pipe_input_at("b".into(), 1, 10_000);
    input.pipe_input_at("c".into(), 7, 42_000);
    let got: Vec<(String, String, i64)> = out
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value.unwrap(), r.timestamp))
        .collect();
    let expected = [
        ("a", "3", 10_000),
        ("b", "6", 10_000),
        ("a", "3", 42_000),
        ("b", "6", 42_000),
        ("c", "7", 42_000),
    ];
    assert_eq!(got, expected.map(|(k, v, t)| (k.to_string(), v.to_string(), t)));
    // Stream time 45,000 is before the next (50,000).
    input.pipe_input_at("c".into(), 1, 45_000);
    assert!(out.is_empty());
}

#[test]
fn wall_clock_punctuation_runs_as_the_driver_clock_moves_and_stops_when_cancelled() {
    struct Ticker {
        tick: Option<Schedule>,
        ticks: u32,
    }
    impl Processor<String, String, String, String> for Ticker {
        fn init(&mut self, ctx: &mut ProcessorContext<'_, String, String>) -> Result<(), ProcessorError> {
            self.tick = Some(ctx.schedule(Duration::from_secs(1), PunctuationType::WallClockTime));
            Ok(())
        }
        fn process(
            &mut self,
            _: &mut ProcessorContext<'_, String, String>,
            _: Record<String, String>,
        ) -> Result<(), ProcessorError> {
            Ok(())
        }
        fn punctuate(
            &mut self,
            ctx: &mut ProcessorContext<'_, String, String>,
            schedule: Schedule,
            _timestamp: i64,
        ) -> Result<(), ProcessorError> {
            self.ticks += 1;
            ctx.forward(Record::new(
                "tick".into(),
                Some(self.ticks.to_string()),
                ctx.current_system_time_ms(),
            ));
            if self.ticks == 3 {
                ctx.cancel(schedule);
            }
            Ok(())
        }
    }
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serde::string(), Serde::string()))
        .process(|| Ticker { tick: None, ticks: 0 }, &[])
        .to("ticks", Produced::with(Serde::string(), Serde::string()));
    let driver = TopologyTestDriver::new(b.build().unwrap());
    let ticks = driver.create_output_topic("ticks", Serde::string(), Serde::string());
    // No record needed: the processor was initialized when its task opened.
    driver
        .advance_wall_clock_time(Duration::from_millis(999))
        .unwrap();
    assert!(ticks.is_empty());
    driver.advance_wall_clock_time(Duration::from_millis(1)).unwrap();
    assert_eq!(ticks.read_values_to_list(), vec!["1"]);
    // A long pause fires once, not once per missed second.
    driver.advance_wall_clock_time(Duration::from_secs(5)).unwrap();
    driver.advance_wall_clock_time(Duration::from_secs(1)).unwrap();
    assert_eq!(ticks.read_values_to_list(), vec!["2", "3"]);
    driver.advance_wall_clock_time(Duration::from_secs(10)).unwrap();
    assert!(ticks.is_empty(), "cancelled after the third tick");
}

#[test]
fn the_store_survives_a_restart_and_a_crash_drops_only_uncommitted_writes() {
    let driver = rocksdb_driver(summer_topology());
    let input = driver.create_input_topic("amounts", Serde::string(), Serde::<i64>::i64());
    input.pipe_input_at("a".into(), 5, 1);
    input.pipe_input_at("a".into(), 6, 2);
    input.pipe_tombstone_at("gone".into(), 3);
    driver.restart().unwrap();
    let sums = driver.key_value_store::<String, i64>("sums").unwrap();
    assert_eq!(sums.get(&"a".to_string()), Some(11));
    // Commits far apart: the crash drops the writes of records not committed, which are
    // processed again (by a new processor instance) from the committed position.
    let driver = driver.with_commit_every(1_000);
    input.pipe_input_at("a".into(), 100, 3);
    driver.crash_and_restart().unwrap();
    driver.commit().unwrap();
    let sums = driver.key_value_store::<String, i64>("sums").unwrap();
    assert_eq!(sums.get(&"a".to_string()), Some(111), "counted once, not twice");
}

#[test]
fn forward_to_sends_to_one_named_child_and_metadata_names_the_input_record() {
    struct Router;
    impl Processor<String, String, String, String> for Router {
        fn process(
            &mut self,
            ctx: &mut ProcessorContext<'_, String, String>,
            r: Record<String, String>,
        ) -> Result<(), ProcessorError> {
            let m = ctx.record_metadata().expect("processing a record");
            let tagged = format!(
                "{}@{}/{}/{}",
                r.value.clone().unwrap_or_default(),
                m.topic,
                m.partition,
                m.offset
            );
            let child = if r.key.starts_with('x') {
                "to-x"
            } else {
                "to-other"
            };
            ctx.forward_to(child, r.with_value(Some(tagged)));
            Ok(())
        }
    }
    let b = StreamsBuilder::new();
    let routed = b
        .stream("in", Consumed::with(Serde::string(), Serde::string()))
        .process(|| Router, &[]);
    routed
        .filter(|_, _| true)
        .named("to-x")
        .to("x", Produced::with(Serde::string(), Serde::string()));
    routed
        .filter(|_, _| true)
        .named("to-other")
        .to("other", Produced::with(Serde::string(), Serde::string()));
    let driver = TopologyTestDriver::new(b.build().unwrap());
    let input = driver.create_input_topic("in", Serde::string(), Serde::string());
    let x = driver.create_output_topic("x", Serde::string(), Serde::string());
    let other = driver.create_output_topic("other", Serde::string(), Serde::string());
    let mut record = TestRecord::new("x1".to_string(), "v".to_string(), 7);
    record.headers = Headers::from_pairs(vec![("trace".into(), Some(b"t-1".to_vec()))]);
    input.pipe_record(record);
    input.pipe_input_at("y1".into(), "w".into(), 8);
    let xs = x.read_records_to_list();
    assert_eq!(xs.len(), 1);
    assert_eq!(xs[0].value.as_deref(), Some("v@in/0/0"));
    assert_eq!(xs[0].timestamp, 7);
    assert_eq!(
        xs[0].headers.last("trace"),
        Some(Some(&b"t-1"[..])),
        "headers travel on"
    );
    assert_eq!(other.read_values_to_list(), vec!["w@in/0/1"]);
}

#[test]
fn process_values_keeps_keys_so_a_later_aggregation_needs_no_repartition_and_process_does() {
    struct Upper;
    impl FixedKeyProcessor<String, String, String> for Upper {
        fn process(
            &mut self,
            ctx: &mut FixedKeyProcessorContext<'_, String, String>,
            r: FixedKeyRecord<String, String>,
        ) -> Result<(), ProcessorError> {
            let v = r.value.clone().map(|v| v.to_uppercase());
            ctx.forward(r.with_value(v));
            Ok(())
        }
    }
    struct Same;
    impl Processor<String, String, String, String> for Same {
        fn process(
            &mut self,
            ctx: &mut ProcessorContext<'_, String, String>,
            r: Record<String, String>,
        ) -> Result<(), ProcessorError> {
            ctx.forward(r);
            Ok(())
        }
    }
    let repartitions = |t: &Topology| {
        t.internal_topics()
            .iter()
            .filter(|i| {
                matches!(
                    i.kind,
                    sluice::dsl::topology::InternalTopicKind::Repartition { .. }
                )
            })
            .count()
    };
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serde::string(), Serde::string()))
        .process_values(|| Upper, &[])
        .group_by_key()
        .count(Materialized::as_("n"));
    assert_eq!(repartitions(&b.build().unwrap()), 0);
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serde::string(), Serde::string()))
        .process(|| Same, &[])
        .group_by_key_with(Grouped::with(Serde::string(), Serde::string()))
        .count(Materialized::as_("n"));
    assert_eq!(repartitions(&b.build().unwrap()), 1, "process() may change keys");
}

#[test]
fn mistakes_get_clear_errors() {
    // A store named but never added.
    let b = StreamsBuilder::new();
    b.stream("amounts", Consumed::with(Serde::string(), Serde::<i64>::i64()))
        .process(|| Summer { heartbeat: None }, &["sums"]);
    let e = b.build().unwrap_err();
    assert!(matches!(e, TopologyError::UnknownStore { .. }), "{e}");
    assert!(e.to_string().contains("add_state_store"), "{e}");

    // A store added but not connected to the processor that uses it.
    let b = StreamsBuilder::new();
    b.add_state_store(sums_store());
    let s = b.stream("amounts", Consumed::with(Serde::string(), Serde::<i64>::i64()));
    s.process(|| Summer { heartbeat: None }, &[])
        .to("sums-out", Produced::with(Serde::string(), Serde::string()));
    let driver = TopologyTestDriver::new(b.build().unwrap());
    let input = driver.create_input_topic("amounts", Serde::string(), Serde::<i64>::i64());
    let e = input.try_pipe_input_at("a".into(), 1, 1).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("KSTREAM-PROCESSOR-") && text.contains("not connected"),
        "{text}"
    );

    // The wrong value type for a store.
    struct WrongType;
    impl Processor<String, i64, String, String> for WrongType {
        fn process(
            &mut self,
            ctx: &mut ProcessorContext<'_, String, String>,
            r: Record<String, i64>,
        ) -> Result<(), ProcessorError> {
            ctx.key_value_store::<String, String>("sums")?
                .put(r.key, "x".into())
        }
    }
    let b = StreamsBuilder::new();
    b.add_state_store(sums_store());
    b.stream("amounts", Consumed::with(Serde::string(), Serde::<i64>::i64()))
        .process(|| WrongType, &["sums"])
        .to("out", Produced::with(Serde::string(), Serde::string()));
    let driver = TopologyTestDriver::new(b.build().unwrap());
    let input = driver.create_input_topic("amounts", Serde::string(), Serde::<i64>::i64());
    let text = input.try_pipe_input_at("a".into(), 1, 1).unwrap_err().to_string();
    assert!(text.contains("holds values of i64"), "{text}");
}

#[test]
fn a_processor_error_goes_to_the_processing_exception_handler() {
    let config = StreamsConfig::new("processor-api-errors", "dummy:9092")
        .with("processing.exception.handler", "log_and_continue")
        .unwrap()
        .with("default.dsl.store", "in_memory")
        .unwrap();
    let driver = TopologyTestDriver::with_config(summer_topology(), config).unwrap();
    let input = driver.create_input_topic("amounts", Serde::string(), Serde::<i64>::i64());
    input.pipe_input_at("a".into(), 5, 1);
    input.pipe_input_at("a".into(), -3, 2);
    input.pipe_input_at("a".into(), 1, 3);
    let sums = driver.key_value_store::<String, i64>("sums").unwrap();
    assert_eq!(
        sums.get(&"a".to_string()),
        Some(6),
        "the negative amount was skipped"
    );
    assert_eq!(driver.metrics().total("sluice_dropped_records_total", &[]), 1);

    // With the default handler the error stops processing, naming the node and the record.
    let driver = TopologyTestDriver::new(summer_topology());
    let input = driver.create_input_topic("amounts", Serde::string(), Serde::<i64>::i64());
    let text = input
        .try_pipe_input_at("a".into(), -3, 2)
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("negative amount -3") && text.contains("amounts"),
        "{text}"
    );
}

#[test]
fn a_topology_built_node_by_node_runs_and_its_mistakes_are_reported() {
    struct Route;
    impl Processor<String, i64, String, i64> for Route {
        fn process(
            &mut self,
            ctx: &mut ProcessorContext<'_, String, i64>,
            r: Record<String, i64>,
        ) -> Result<(), ProcessorError> {
            let sink = if r.value.unwrap_or(0) >= 100 {
                "Large"
            } else {
                "Small"
            };
            ctx.forward_to(sink, r);
            Ok(())
        }
    }
    let mut t = TopologyBuilder::new();
    t.add_source("Source", &["amounts"], Serde::string(), Serde::<i64>::i64())
        .add_processor("Sum", || Summer { heartbeat: None }, &["Source"])
        .add_state_store(sums_store(), &["Sum"])
        .add_sink("SumSink", "sums-out", Serde::string(), Serde::string(), &["Sum"])
        .add_processor("Route", || Route, &["Source"])
        .add_sink("Large", "large", Serde::string(), Serde::<i64>::i64(), &["Route"])
        .add_sink("Small", "small", Serde::string(), Serde::<i64>::i64(), &["Route"]);
    let topology = t.build().unwrap();
    assert!(topology
        .describe()
        .to_string()
        .contains("Processor: Sum (stores: [sums])"));
    let driver = TopologyTestDriver::new(topology);
    let input = driver.create_input_topic("amounts", Serde::string(), Serde::<i64>::i64());
    let large = driver.create_output_topic("large", Serde::string(), Serde::<i64>::i64());
    let small = driver.create_output_topic("small", Serde::string(), Serde::<i64>::i64());
    input.pipe_input_at("a".into(), 150, 1);
    input.pipe_input_at("a".into(), 5, 2);
    assert_eq!(large.read_values_to_list(), vec![150]);
    assert_eq!(small.read_values_to_list(), vec![5]);
    let sums = driver.key_value_store::<String, i64>("sums").unwrap();
    assert_eq!(sums.get(&"a".to_string()), Some(155));

    // A parent not added yet.
    let mut t = TopologyBuilder::new();
    t.add_processor("Sum", || Summer { heartbeat: None }, &["Source"]);
    let e = t.build().unwrap_err();
    assert!(matches!(e, TopologyError::UnknownNode { .. }), "{e}");
    // A parent forwarding other types.
    let mut t = TopologyBuilder::new();
    t.add_source("Source", &["amounts"], Serde::string(), Serde::string())
        .add_processor("Sum", || Summer { heartbeat: None }, &["Source"]);
    let e = t.build().unwrap_err().to_string();
    assert!(
        e.contains("Sum reads (alloc::string::String, i64)")
            && e.contains("forwards (alloc::string::String, alloc::string::String)"),
        "{e}"
    );
    // A store connected to a processor that does not exist.
    let mut t = TopologyBuilder::new();
    t.add_source("Source", &["amounts"], Serde::string(), Serde::<i64>::i64())
        .add_state_store(sums_store(), &["Nope"]);
    assert!(matches!(
        t.build().unwrap_err(),
        TopologyError::UnknownNode { .. }
    ));
}

/// Puts the value under "before", forwards the record, puts it under "after", then fails on
/// "boom" (after forwarding).
struct WritesAroundForward;

impl Processor<String, String, String, String> for WritesAroundForward {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        let value = r.value.clone().unwrap_or_default();
        ctx.key_value_store::<String, String>("shared")?
            .put("before".into(), value.clone())?;
        ctx.forward(r);
        ctx.key_value_store::<String, String>("shared")?
            .put("after".into(), value.clone())?;
        if value == "boom" {
            return Err(ProcessorError::user("boom after forwarding"));
        }
        Ok(())
    }
}

/// Forwards what the shared store holds under "before" and "after" as it sees them.
struct ReadsShared;

impl Processor<String, String, String, String> for ReadsShared {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        let mut store = ctx.key_value_store::<String, String>("shared")?;
        let seen = format!(
            "before={:?} after={:?}",
            store.get(&"before".to_string())?,
            store.get(&"after".to_string())?
        );
        ctx.forward(Record::new(r.key, Some(seen), r.timestamp));
        Ok(())
    }
}

/// As Kafka Streams' `forward`: a child runs at once, so it sees what its parent wrote before
/// forwarding and not what the parent writes after; and a record forwarded before the parent
/// fails has gone downstream (the handler skips only the rest of the parent's work).
#[test]
fn a_forward_runs_the_children_at_once() {
    let b = StreamsBuilder::new();
    b.add_state_store(Stores::key_value_store_builder(
        Stores::in_memory_key_value_store("shared"),
        Serde::string(),
        Serde::string(),
    ));
    b.stream("in", Consumed::with(Serde::string(), Serde::string()))
        .process(|| WritesAroundForward, &["shared"])
        .process(|| ReadsShared, &["shared"])
        .to("out", Produced::with(Serde::string(), Serde::string()));
    let config = StreamsConfig::new("forward-at-once", "dummy:9092")
        .with("processing.exception.handler", "log_and_continue")
        .unwrap();
    let driver = TopologyTestDriver::with_config(b.build().unwrap(), config).unwrap();
    let input = driver.create_input_topic("in", Serde::string(), Serde::string());
    let out = driver.create_output_topic("out", Serde::string(), Serde::string());
    input.pipe_input_at("k".into(), "one".into(), 1);
    input.pipe_input_at("k".into(), "boom".into(), 2);
    input.pipe_input_at("k".into(), "three".into(), 3);
    assert_eq!(
        out.read_values_to_list(),
        vec![
            r#"before=Some("one") after=None"#.to_string(),
            r#"before=Some("boom") after=Some("one")"#.to_string(),
            r#"before=Some("three") after=Some("boom")"#.to_string(),
        ]
    );
    assert_eq!(driver.metrics().total("sluice_dropped_records_total", &[]), 1);
}
