//! A Processor API node with a store and stream-time punctuation, exactly-once on a real broker
//! (Apache Kafka), through a kill -9: the instance (this binary in `child` mode) counts records
//! per key in its store and forwards each count; every second of stream time a punctuation
//! forwards every key's count to a second topic through a named child. It is killed with
//! SIGKILL mid-stream (a transaction open) and restarted on the same state directory.
//!
//! A `read_committed` reader then finds, per key, the counts 1..=n exactly once (the store was
//! restored, no record counted twice or lost), and every punctuation exact: input timestamps
//! rise strictly within a partition, so a punctuation at stream time T of a partition's task
//! must report, for each of its keys, exactly the records at or before T.
//!
//! Run: `cargo test --test processor_eos_kafka` (about a minute).

mod support;

use rdkafka::message::Message;
use sluice::dsl::processor::*;
use sluice::engine::{Streams, UncaughtAction};
use sluice::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::{Duration, Instant};
use support::{unique, Broker, ChildInstance};

const WAIT: Duration = Duration::from_secs(120);
const RECORDS: usize = 3_000;
const KEYS: usize = 8;

/// Counts per key; every second of stream time reports every count.
struct CountAndReport;

impl Processor<String, String, String, String> for CountAndReport {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, String>) -> Result<(), ProcessorError> {
        ctx.schedule(Duration::from_secs(1), PunctuationType::StreamTime);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        let mut counts = ctx.key_value_store::<String, i64>("counts")?;
        let n = counts.get(&r.key)?.unwrap_or(0) + 1;
        counts.put(r.key.clone(), n)?;
        ctx.forward_to("counts-out", r.with_value(Some(n.to_string())));
        Ok(())
    }

    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        _schedule: Schedule,
        timestamp: i64,
    ) -> Result<(), ProcessorError> {
        for (k, n) in ctx.key_value_store::<String, i64>("counts")?.all()? {
            ctx.forward_to("reports-out", Record::new(k, Some(n.to_string()), timestamp));
        }
        Ok(())
    }
}

fn topology(input: &str, counts: &str, reports: &str) -> Topology {
    let b = StreamsBuilder::new();
    b.add_state_store(Stores::key_value_store_builder(
        Stores::persistent_key_value_store("counts"),
        Serde::string(),
        Serde::<i64>::i64(),
    ));
    let processed = b
        .stream(input, Consumed::with(Serde::string(), Serde::string()))
        .process(|| CountAndReport, &["counts"]);
    let out = || Produced::with(Serde::string(), Serde::string());
    processed
        .filter(|_, _| true)
        .named("counts-out")
        .to(counts, out());
    processed
        .filter(|_, _| true)
        .named("reports-out")
        .to(reports, out());
    b.build().unwrap()
}

/// Child mode: the application instance, exactly-once, until the parent writes "close".
fn child(args: &[String]) {
    let [bootstrap, app, input, counts, reports, state_dir] = args else {
        panic!("child needs: bootstrap app input counts reports state-dir")
    };
    support::log_to_stderr();
    let mut config = StreamsConfig::new(app, bootstrap);
    config.state_dir = state_dir.into();
    for (k, v) in [
        ("processing.guarantee", "exactly_once_v2"),
        ("commit.interval.ms", "100"),
        ("consumer.session.timeout.ms", "6000"),
        ("consumer.heartbeat.interval.ms", "500"),
    ] {
        config.set(k, v).unwrap();
    }
    let streams = Streams::new(topology(input, counts, reports), config).unwrap();
    streams.set_uncaught_exception_handler(|_| UncaughtAction::ReplaceThread);
    streams.start().unwrap();
    support::serve_until_close(&streams, WAIT);
    streams.close().unwrap();
    println!("CLOSED");
    std::io::stdout().flush().unwrap();
}

/// An instance of the application (see `child`).
fn start(broker: &Broker, args: &[&str], state_dir: &std::path::Path) -> ChildInstance {
    let mut all: Vec<&std::ffi::OsStr> = vec![broker.bootstrap.as_ref()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    all.push(state_dir.as_os_str());
    ChildInstance::start(&all, WAIT)
}

/// Record `i`: key `k{i % KEYS}`, timestamp `1_000_000 + 10 i` (strictly rising everywhere).
fn inputs(range: std::ops::Range<usize>) -> Vec<(String, String, i64)> {
    range
        .map(|i| (format!("k{}", i % KEYS), i.to_string(), 1_000_000 + 10 * i as i64))
        .collect()
}

/// Every committed record of `topic`: (partition, key, value, timestamp).
fn read_committed(broker: &Broker, topic: &str, at_least: usize) -> Vec<(i32, String, i64, i64)> {
    let consumer = broker.reader(topic);
    let mut out = Vec::new();
    let deadline = Instant::now() + WAIT;
    let mut idle_since = Instant::now();
    while Instant::now() < deadline && (out.len() < at_least || idle_since.elapsed() < Duration::from_secs(2))
    {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            idle_since = Instant::now();
            out.push((
                m.partition(),
                String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                String::from_utf8_lossy(m.payload().unwrap_or_default())
                    .parse()
                    .unwrap(),
                m.timestamp().to_millis().unwrap_or(-1),
            ));
        }
    }
    out
}

fn main() {
    if support::child_or_probe(child) {
        return;
    }
    let broker = support::broker();
    let app = unique("processor-eos");
    let input = unique("processor-eos-in");
    let (counts, reports) = (unique("processor-eos-counts"), unique("processor-eos-reports"));
    broker.create_topic(&input, 2);
    broker.create_topic(&counts, 2);
    broker.create_topic(&reports, 2);
    let dir = tempfile::tempdir().unwrap();
    let args = [app.as_str(), input.as_str(), counts.as_str(), reports.as_str()];

    let all = inputs(0..RECORDS);
    let victim = start(broker, &args, dir.path());
    broker.produce(&input, &all[..RECORDS / 2]);
    // Kill mid-stream, once some output is committed (a transaction is most likely open).
    broker.consume(&counts, RECORDS / 6, WAIT);
    victim.kill();
    broker.produce(&input, &all[RECORDS / 2..]);
    let restarted = start(broker, &args, dir.path());
    let got = read_committed(broker, &counts, RECORDS);
    let reports = read_committed(broker, &reports, 1);
    restarted.close("CLOSED");

    // Per key, the counts 1..=n exactly once.
    let mut per_key: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (_, k, n, _) in &got {
        per_key.entry(k.clone()).or_default().push(*n);
    }
    for (k, mut ns) in per_key.clone() {
        ns.sort_unstable();
        let n = all.iter().filter(|(key, _, _)| *key == k).count() as i64;
        assert_eq!(
            ns,
            (1..=n).collect::<Vec<_>>(),
            "{k}: every record counted exactly once"
        );
    }
    assert_eq!(per_key.len(), KEYS);

    // Every punctuation exact, none twice. A key lives on one partition (its task).
    let partition_of: BTreeMap<String, i32> = got.iter().map(|(p, k, _, _)| (k.clone(), *p)).collect();
    let mut seen = BTreeSet::new();
    for (p, k, n, t) in &reports {
        assert_eq!(partition_of[k], *p, "{k} reported by its own task");
        assert!(seen.insert((k.clone(), *t)), "{k} reported twice at {t}");
        let expected = all.iter().filter(|(key, _, ts)| key == k && ts <= t).count() as i64;
        assert_eq!(*n, expected, "report of {k} at stream time {t}");
    }
    let last_input = all.last().unwrap().2;
    assert!(
        reports.iter().any(|(_, _, _, t)| *t >= last_input - 1_000),
        "punctuations ran after the restart, on the restored store"
    );
    println!(
        "processor_eos_kafka: {} counts and {} punctuation reports exact after a kill -9",
        got.len(),
        reports.len()
    );
}
