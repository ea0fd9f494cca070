//! Every throughput run's output is checked against a reference computed from the preloaded
//! input: a fast wrong answer fails the bench instead of making a row.
//!
//! - Passthrough, stateless, join: the output is, as a multiset, exactly the expected records
//!   (compared by count and an order-independent checksum of (key, value)).
//! - Windowed count: the last count of every (key, window) equals the number of input records
//!   in it, and every window of the input has one.
//! - Sliding statistics: the last statistics of every (key, window) are those of the input
//!   records in that window, and every record's window ending at it exists.
//!
//! The output is read `read_committed` once the engine has closed, to the end of every
//! partition.

use crate::spec::{payload, reading, Kind, Layout, Spec, KEYS, PARTITIONS, WINDOW_MS};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

/// The input a throughput run was given: the records of `layout` (`spec::payload` of `size`
/// bytes); for the join, one profile per key.
#[derive(Debug, Clone, Copy)]
pub struct Input {
    pub layout: Layout,
    pub size: usize,
}

impl Input {
    fn records(&self) -> impl Iterator<Item = (String, Vec<u8>, i64)> + '_ {
        let l = &self.layout;
        (0..l.n).map(|i| (l.key(i), payload(i, self.size), l.timestamp(i)))
    }
}

/// Checks `spec.output` against `input`; `Ok` says what was verified, `Err` what differs.
pub fn check(spec: &Spec, input: &Input) -> Result<String, String> {
    let output = read_all(&spec.bootstrap, &spec.output).map_err(|e| format!("reading the output: {e}"))?;
    match spec.kind {
        Kind::Passthrough => same_records(&output, input.records().map(|(k, v, _)| (k, v))),
        Kind::Stateless | Kind::StatelessMetricsOff | Kind::KafkaStreamsStateless => same_records(
            &output,
            input
                .records()
                .filter(|(_, v, _)| reading(v) >= 64.0)
                .map(|(k, mut v, _)| {
                    v[8..].make_ascii_uppercase();
                    (k, v)
                }),
        ),
        Kind::Join | Kind::KafkaStreamsJoin => same_records(
            &output,
            input.records().map(|(k, mut v, _)| {
                let profile = payload(k[1..].parse::<u64>().expect("a generated key") % KEYS, 100);
                v.extend_from_slice(&profile[..16]);
                (k, v)
            }),
        ),
        Kind::WindowedCount | Kind::WindowedCountSnapshots | Kind::KafkaStreamsWindowedCount => {
            windowed_counts(
                last_per_key(&output, |k, v| Some((k.to_string(), count_of(v)?))),
                input,
            )
        }
        Kind::QuixWindowedCount => windowed_counts(last_per_key(&output, quix_count), input),
        Kind::Sliding | Kind::KafkaStreamsSliding => sliding(&output, input),
        Kind::Healthcare => Err("the healthcare scenario is checked by its own probe".into()),
    }
}

/// Output records as read: (key, value), in partition order.
type Records = Vec<(String, Vec<u8>)>;

/// Reads every partition of `topic` from the start to its end (`read_committed`).
fn read_all(bootstrap: &str, topic: &str) -> Result<Records, KafkaError> {
    let mut records = Vec::new();
    read_each(bootstrap, topic, |m| {
        let k = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
        records.push((k, m.payload().unwrap_or_default().to_vec()));
    })?;
    Ok(records)
}

/// Calls `f` with every record of `topic`, each partition from its start to its end
/// (`read_committed`), in partition order.
fn read_each(
    bootstrap: &str,
    topic: &str,
    mut f: impl FnMut(&rdkafka::message::BorrowedMessage<'_>),
) -> Result<(), KafkaError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "sluice-bench-verifier")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut at_end = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    while at_end.len() < PARTITIONS as usize {
        assert!(
            Instant::now() < deadline,
            "{topic} not read to its end within 10 minutes"
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                at_end.remove(&m.partition());
                f(&m);
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
    Ok(())
}

/// Whether the input topic holds the generated records once each, every partition in
/// timestamp order: what the references assume. Run when an output differs, to tell a fault of
/// the load from one of the engine.
pub fn input_intact(spec: &Spec, input: &Input) -> Result<(), String> {
    let mut last: HashMap<i32, i64> = HashMap::new();
    let (mut n, mut out_of_order) = (0u64, 0u64);
    read_each(&spec.bootstrap, &spec.input, |m| {
        n += 1;
        let ts = m.timestamp().to_millis().unwrap_or(-1);
        let previous = last.insert(m.partition(), ts);
        if previous.is_some_and(|p| p > ts) {
            out_of_order += 1;
        }
    })
    .map_err(|e| format!("reading the input: {e}"))?;
    if n != input.layout.n || out_of_order > 0 {
        return Err(format!(
            "the input topic holds {n} records ({} generated), {out_of_order} of them after a later \
             timestamp in their partition",
            input.layout.n
        ));
    }
    Ok(())
}

/// [`check`], and when the output differs, whether the input was as generated.
pub fn check_run(spec: &Spec, input: &Input) -> Result<String, String> {
    check(spec, input).map_err(|what| match input_intact(spec, input) {
        Ok(()) => format!("{what} (the input is as generated: the engine is at fault)"),
        Err(load) => format!("{what}; but {load}: the load is at fault, not the engine"),
    })
}

fn fingerprint(k: &str, v: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    (k, v).hash(&mut h);
    h.finish()
}

/// The output equals `expected` as a multiset (count and sum of fingerprints).
fn same_records(
    output: &Records,
    expected: impl Iterator<Item = (String, Vec<u8>)>,
) -> Result<String, String> {
    let (mut n, mut sum) = (0u64, 0u64);
    for (k, v) in expected {
        n += 1;
        sum = sum.wrapping_add(fingerprint(&k, &v));
    }
    let got = output
        .iter()
        .fold(0u64, |s, (k, v)| s.wrapping_add(fingerprint(k, v)));
    if output.len() as u64 != n {
        return Err(format!("{} output records, expected {n}", output.len()));
    }
    if got != sum {
        return Err(format!(
            "{n} output records as expected, but their contents differ"
        ));
    }
    Ok(format!("{n} output records, contents as expected"))
}

/// The last value of every output key (partition order is each key's order), parsed by
/// `parse` into (windowed key `key@start`, value); `None`: a record that does not parse.
fn last_per_key<T>(
    output: &Records,
    parse: impl Fn(&str, &[u8]) -> Option<(String, T)>,
) -> Result<HashMap<String, T>, String> {
    let mut last = HashMap::new();
    for (k, v) in output {
        let (key, value) =
            parse(k, v).ok_or_else(|| format!("an output record does not parse: key {k:?}"))?;
        last.insert(key, value);
    }
    Ok(last)
}

fn count_of(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.try_into().ok()?))
}

/// Quix Streams' output: key `key`, value `{"start": ms, "count": n}`.
fn quix_count(k: &str, v: &[u8]) -> Option<(String, u64)> {
    let json: serde_json::Value = serde_json::from_slice(v).ok()?;
    Some((
        format!("{k}@{}", json["start"].as_i64()?),
        json["count"].as_u64()?,
    ))
}

/// 5-minute tumbling windows: the count of every (key, window) is the last one output.
fn windowed_counts(last: Result<HashMap<String, u64>, String>, input: &Input) -> Result<String, String> {
    let last = last?;
    let mut expected: HashMap<String, u64> = HashMap::new();
    for (k, _, ts) in input.records() {
        *expected
            .entry(format!("{k}@{}", ts - ts.rem_euclid(WINDOW_MS)))
            .or_default() += 1;
    }
    if last.len() != expected.len() {
        return Err(format!(
            "{} (key, window) results, expected {}",
            last.len(),
            expected.len()
        ));
    }
    for (window, n) in &expected {
        match last.get(window) {
            Some(got) if got == n => {}
            got => return Err(format!("{window}: count {got:?}, expected {n}")),
        }
    }
    Ok(format!("{} (key, window) counts as expected", expected.len()))
}

/// Sliding windows of 30 s: the last statistics of every output (key, window) are those of
/// the input records of that key inside it, and every record's window ending at it exists.
fn sliding(output: &Records, input: &Input) -> Result<String, String> {
    const DIFFERENCE_MS: i64 = 30_000;
    let last = last_per_key(output, |k, v| {
        let (key, start) = k.rsplit_once('@')?;
        let start: i64 = start.parse().ok()?;
        let summary = std::str::from_utf8(v).ok()?;
        let mut fields = summary.split(',');
        let count: u64 = fields.next()?.parse().ok()?;
        let mean: f64 = fields.next()?.parse().ok()?;
        let std: f64 = fields.next()?.parse().ok()?;
        Some((format!("{key}@{start}"), (count, mean, std)))
    })?;
    // Each key's readings by timestamp.
    let mut readings: HashMap<String, BTreeMap<i64, f64>> = HashMap::new();
    for (k, v, ts) in input.records() {
        readings.entry(k).or_default().insert(ts, reading(&v));
    }
    for (window, &(count, mean, std)) in &last {
        let (key, start) = window.rsplit_once('@').expect("parsed above");
        let start: i64 = start.parse().expect("parsed above");
        let xs: Vec<f64> = readings
            .get(key)
            .map(|r| r.range(start..=start + DIFFERENCE_MS).map(|(_, x)| *x).collect())
            .unwrap_or_default();
        let n = xs.len().max(1) as f64;
        let want_mean = xs.iter().sum::<f64>() / n;
        let want_std = (xs.iter().map(|x| x * x).sum::<f64>() / n - want_mean * want_mean)
            .max(0.0)
            .sqrt();
        // The summaries print two decimals.
        if count != xs.len() as u64 || (mean - want_mean).abs() > 0.006 || (std - want_std).abs() > 0.006 {
            return Err(format!(
                "{window}: ({count}, {mean}, {std}), expected ({}, {want_mean:.2}, {want_std:.2})",
                xs.len()
            ));
        }
    }
    for (k, _, ts) in input.records() {
        let window = format!("{k}@{}", ts - DIFFERENCE_MS);
        if !last.contains_key(&window) {
            return Err(format!("no result for {window}, the window ending at a record"));
        }
    }
    Ok(format!("{} (key, window) statistics as expected", last.len()))
}
