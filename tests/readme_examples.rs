//! The README's code, compiled and run so it stays true.

use sluice::prelude::*;

#[test]
fn readme_topology_and_test_driver() -> Result<(), Box<dyn std::error::Error>> {
    let builder = StreamsBuilder::new();
    builder
        .stream(
            "transactions",
            Consumed::with(Serde::string(), Serde::<i64>::i64()),
        )
        .group_by_key()
        .count(Materialized::as_("tx-count"))
        .to_stream()
        .filter(|_account, n| *n > 5)
        .to("busy-accounts", Produced::default());
    let topology = builder.build()?;
    assert!(topology.describe().to_string().starts_with("Topologies:"));

    let driver = TopologyTestDriver::new(topology);
    let tx = driver.create_input_topic("transactions", Serde::string(), Serde::<i64>::i64());
    let busy = driver.create_output_topic("busy-accounts", Serde::string(), Serde::<i64>::i64());
    for amount in [10, 20, 30, 40, 50, 60] {
        tx.pipe_input("acct-7".to_string(), amount);
    }
    assert_eq!(busy.read_key_value(), ("acct-7".to_string(), 6));
    let store = driver.key_value_store::<String, i64>("tx-count")?;
    assert_eq!(store.get(&"acct-7".to_string()), Some(6));
    Ok(())
}

/// The README's Processor API example ("The Processor API").
#[test]
fn readme_processor_api() -> Result<(), Box<dyn std::error::Error>> {
    use sluice::dsl::processor::*;
    use std::time::Duration;

    /// Counts records per key; every minute of stream time, forwards every count.
    struct CountAndReport;

    impl Processor<String, String, String, i64> for CountAndReport {
        fn init(&mut self, ctx: &mut ProcessorContext<'_, String, i64>) -> Result<(), ProcessorError> {
            ctx.schedule(Duration::from_secs(60), PunctuationType::StreamTime);
            Ok(())
        }
        fn process(
            &mut self,
            ctx: &mut ProcessorContext<'_, String, i64>,
            r: Record<String, String>,
        ) -> Result<(), ProcessorError> {
            let mut counts = ctx.key_value_store::<String, i64>("counts")?;
            let n = counts.get(&r.key)?.unwrap_or(0) + 1;
            counts.put(r.key, n)
        }
        fn punctuate(
            &mut self,
            ctx: &mut ProcessorContext<'_, String, i64>,
            _: Schedule,
            now: i64,
        ) -> Result<(), ProcessorError> {
            for (key, n) in ctx.key_value_store::<String, i64>("counts")?.all()? {
                ctx.forward(Record::new(key, Some(n), now));
            }
            Ok(())
        }
    }

    let builder = StreamsBuilder::new();
    builder.add_state_store(Stores::key_value_store_builder(
        Stores::persistent_key_value_store("counts"),
        Serde::string(),
        Serde::<i64>::i64(),
    ));
    builder
        .stream("events", Consumed::with(Serde::string(), Serde::string()))
        .process(|| CountAndReport, &["counts"])
        .to(
            "counts-report",
            Produced::with(Serde::string(), Serde::<i64>::i64()),
        );

    let driver = TopologyTestDriver::new(builder.build()?);
    let events = driver.create_input_topic("events", Serde::string(), Serde::string());
    let report = driver.create_output_topic("counts-report", Serde::string(), Serde::<i64>::i64());
    events.pipe_input_at("a".into(), "x".into(), 1_000);
    events.pipe_input_at("a".into(), "y".into(), 30_000);
    events.pipe_input_at("b".into(), "z".into(), 60_000);
    // At stream time 1,000 (the first punctuation, aligned to 0) and at 60,000.
    assert_eq!(
        report.read_key_values_to_list(),
        vec![("a".to_string(), 1), ("a".to_string(), 2), ("b".to_string(), 1)]
    );

    // The same without the DSL.
    let mut t = TopologyBuilder::new();
    t.add_source("Source", &["events"], Serde::string(), Serde::string())
        .add_processor("Count", || CountAndReport, &["Source"])
        .add_state_store(
            Stores::key_value_store_builder(
                Stores::persistent_key_value_store("counts"),
                Serde::string(),
                Serde::<i64>::i64(),
            ),
            &["Count"],
        )
        .add_sink(
            "Sink",
            "counts-report",
            Serde::string(),
            Serde::<i64>::i64(),
            &["Count"],
        );
    let driver = TopologyTestDriver::new(t.build()?);
    let events = driver.create_input_topic("events", Serde::string(), Serde::string());
    let report = driver.create_output_topic("counts-report", Serde::string(), Serde::<i64>::i64());
    events.pipe_input_at("a".into(), "x".into(), 1_000);
    assert_eq!(report.read_key_values_to_list(), vec![("a".to_string(), 1)]);
    Ok(())
}
