//! Application instances as separate processes on a real broker (Apache Kafka):
//!
//! 1. Two instances share the input's partitions; one closes gracefully; the other takes its
//!    tasks over, restores their state from the changelog, and the counts come out exact: every
//!    value 1..=n of every key exactly once.
//! 2. An instance is killed with SIGKILL mid-stream and restarted (at-least-once): every input
//!    is reflected; duplicates are allowed, and counted.
//! 3. The broker is killed (kill -9) during processing and started again on the same log
//!    directory and ports: the instance reconnects and finishes with every input reflected.
//!
//! This binary runs itself as the instances (`child` mode). Run: `cargo test --test runtime_processes`.

mod support;

use sluice::engine::{Streams, UncaughtAction};
use sluice::prelude::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};
use support::{unique, Broker, ChildInstance};

const WAIT: Duration = Duration::from_secs(90);

/// Child mode: a counting application instance, controlled through stdin ("close").
fn child(args: &[String]) {
    let [bootstrap, app, input, output, state_dir] = args else {
        panic!("child needs: bootstrap app input output state-dir")
    };
    support::log_to_stderr();
    let mut config = StreamsConfig::new(app, bootstrap);
    config.state_dir = state_dir.into();
    for (k, v) in [
        ("commit.interval.ms", "100"),
        ("statestore.cache.max.bytes", "0"),
        ("consumer.session.timeout.ms", "6000"),
        ("consumer.heartbeat.interval.ms", "500"),
    ] {
        config.set(k, v).unwrap();
    }
    let streams = Streams::new(support::count_topology(input, output), config).unwrap();
    streams.set_uncaught_exception_handler(|_| UncaughtAction::ReplaceThread);
    streams.start().unwrap();
    support::serve_until_close(&streams, WAIT);
    streams.close().unwrap();
    let processed = streams.metrics().total("sluice_records_processed_total", &[]);
    println!("PROCESSED {processed}");
    std::io::stdout().flush().unwrap();
}

/// An instance of the counting application (see `child`).
struct Instance(ChildInstance);

impl Instance {
    fn start(broker: &Broker, app: &str, input: &str, output: &str, state_dir: &std::path::Path) -> Instance {
        let args: [&std::ffi::OsStr; 5] = [
            broker.bootstrap.as_ref(),
            app.as_ref(),
            input.as_ref(),
            output.as_ref(),
            state_dir.as_os_str(),
        ];
        Instance(ChildInstance::start(&args, WAIT))
    }

    /// Closes gracefully; returns the records it processed.
    fn close(self) -> u64 {
        let line = self.0.close("PROCESSED");
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    fn kill(self) {
        self.0.kill();
    }
}

/// `n` records over 8 keys, time-ordered.
fn inputs(from: usize, n: usize) -> Vec<(String, String, i64)> {
    (from..from + n)
        .map(|i| (format!("key-{}", i % 8), format!("v{i}"), 1_000 + i as i64))
        .collect()
}

/// Every count the output holds, per key.
fn counts(broker: &Broker, output: &str, expected: usize) -> BTreeMap<String, Vec<i64>> {
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (k, v, _) in broker.consume(output, expected, WAIT) {
        out.entry(k).or_default().push(v.parse().unwrap());
    }
    out
}

fn expected_totals(records: &[(String, String, i64)]) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for (k, _, _) in records {
        *m.entry(k.clone()).or_default() += 1;
    }
    m
}

fn graceful_handover(broker: &Broker) {
    let app = unique("handover");
    let (input, output) = broker.topic_pair("handover", 4);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Instance::start(broker, &app, &input, &output, dir_a.path());
    let b = Instance::start(broker, &app, &input, &output, dir_b.path());
    let first = inputs(0, 200);
    broker.produce(&input, &first);
    assert_eq!(
        counts(broker, &output, first.len())
            .values()
            .map(Vec::len)
            .sum::<usize>(),
        first.len()
    );
    let processed_a = a.close();
    let second = inputs(200, 200);
    broker.produce(&input, &second);
    let all: Vec<_> = first.iter().chain(&second).cloned().collect();
    let got = counts(broker, &output, all.len());
    let processed_b = b.close();
    assert!(
        processed_a > 0 && processed_b > 0,
        "both instances processed: {processed_a} and {processed_b}"
    );
    for (key, n) in expected_totals(&all) {
        let mut seen = got[&key].clone();
        seen.sort();
        assert_eq!(
            seen,
            (1..=n).collect::<Vec<_>>(),
            "{key}: every count exactly once"
        );
    }
    println!("graceful handover: instance A processed {processed_a}, B {processed_b}; counts exact");
}

fn kill_and_restart(broker: &Broker) {
    let app = unique("crash");
    let (input, output) = broker.topic_pair("crash", 4);
    let dir = tempfile::tempdir().unwrap();
    let victim = Instance::start(broker, &app, &input, &output, dir.path());
    let all = inputs(0, 600);
    broker.produce(&input, &all[..300]);
    // Kill mid-stream: once some, not necessarily all, of the first batch is through.
    broker.consume(&output, 100, WAIT);
    victim.kill();
    broker.produce(&input, &all[300..]);
    let restarted = Instance::start(broker, &app, &input, &output, dir.path());
    let expected = expected_totals(&all);
    let deadline = Instant::now() + WAIT;
    let mut got = counts(broker, &output, all.len());
    while expected
        .iter()
        .any(|(k, n)| got.get(k).and_then(|v| v.iter().max()).is_none_or(|m| m < n))
    {
        assert!(
            Instant::now() < deadline,
            "not every input was reflected: {got:?}"
        );
        got = counts(broker, &output, all.len() * 2);
    }
    restarted.close();
    let mut duplicates = 0;
    for (key, n) in &expected {
        let max = *got[key].iter().max().unwrap();
        assert!(max >= *n, "{key}: {max} < {n}: an input was lost");
        duplicates += max - n;
    }
    println!("kill -9 and restart: every input reflected; {duplicates} duplicate effects (at-least-once)");
}

fn broker_restart() {
    let broker = Broker::start();
    let app = unique("outage");
    let (input, output) = broker.topic_pair("outage", 2);
    let dir = tempfile::tempdir().unwrap();
    let instance = Instance::start(&broker, &app, &input, &output, dir.path());
    let all = inputs(0, 200);
    broker.produce(&input, &all[..100]);
    broker.consume(&output, 50, WAIT);
    broker.kill();
    std::thread::sleep(Duration::from_secs(3));
    broker.launch();
    broker.produce(&input, &all[100..]);
    let expected = expected_totals(&all);
    let deadline = Instant::now() + WAIT;
    loop {
        let got = counts(&broker, &output, all.len());
        let reflected = expected
            .iter()
            .all(|(k, n)| got.get(k).and_then(|v| v.iter().max()).is_some_and(|m| m >= n));
        if reflected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the instance did not finish after the broker restart: {got:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    instance.close();
    println!("broker restart: the instance reconnected and every input is reflected");
}

fn main() {
    if support::child_or_probe(child) {
        return;
    }
    let broker = support::broker();
    graceful_handover(broker);
    kill_and_restart(broker);
    broker_restart();
    println!("runtime_processes: all scenarios passed");
}
