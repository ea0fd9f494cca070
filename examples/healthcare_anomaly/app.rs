//! Healthcare telemetry anomaly detection as an application: its topology, its reference run
//! on the TopologyTestDriver, a run on a Kafka cluster (librdkafka's in-process mock cluster
//! unless bootstrap servers are given) and the scoring of alerts against the injected ground
//! truth.
//!
//! Shared by the example's `main` and by `tests/healthcare_example.rs`.

#![allow(dead_code)]

use crate::common::cluster::{client_config, ends, send, Cluster};
use crate::telemetry::{Anomaly, AnomalyKind, DeviceProfile, DeviceType, Payload, Reading, Traffic};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::{Message, TopicPartitionList};
use serde::{Deserialize, Serialize};
use sluice::engine::{ConfigError, Streams, StreamsState};
use sluice::prelude::*;
use std::collections::BTreeMap;
use std::error::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Statistics window: the last 60 s of a device's readings, readings up to 5 s late accepted.
pub const WINDOW: Duration = Duration::from_secs(60);
pub const GRACE: Duration = Duration::from_secs(5);
/// A device with no reading for this long is offline.
pub const OFFLINE_GAP: Duration = Duration::from_secs(30);
/// Readings in a window (besides the scored one) before its z-score counts.
pub const MIN_HISTORY: u64 = 8;
/// The end-to-end latency objective of the field deployment.
pub const SLA: Duration = Duration::from_millis(500);

/// Topic names (a prefix keeps runs on a shared cluster apart).
#[derive(Debug, Clone)]
pub struct Topics {
    pub telemetry: String,
    pub devices: String,
    pub alerts: String,
    pub dead_letters: String,
}

impl Topics {
    pub fn with_prefix(prefix: &str) -> Self {
        Topics {
            telemetry: format!("{prefix}med.telemetry"),
            devices: format!("{prefix}med.devices"),
            alerts: format!("{prefix}med.clinical-alerts"),
            dead_letters: format!("{prefix}med.telemetry.dlq"),
        }
    }
}

/// A reading with its device's profile (from the global table).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProfiledReading {
    pub reading: Reading,
    pub profile: DeviceProfile,
}

/// Count, sum, sum of squares, min and max of one metric's readings.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Moments {
    pub count: u64,
    pub sum: f64,
    pub sum_sq: f64,
    pub min: f64,
    pub max: f64,
}

impl Moments {
    fn add(mut self, v: f64) -> Self {
        if self.count == 0 {
            (self.min, self.max) = (v, v);
        }
        self.count += 1;
        self.sum += v;
        self.sum_sq += v * v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self
    }

    pub fn mean(&self) -> f64 {
        self.sum / self.count as f64
    }

    /// Sample standard deviation (0 for fewer than two readings): a window holds about a
    /// dozen readings, and the population formula's low estimate turns noise into z-scores.
    pub fn std_dev(&self) -> f64 {
        if self.count < 2 {
            return 0.0;
        }
        let n = self.count as f64;
        let mean = self.mean();
        ((self.sum_sq - n * mean * mean) / (n - 1.0)).max(0.0).sqrt()
    }
}

/// A device's sliding-window aggregate: moments per metric, and the reading added last with
/// the moments of its metric before it was added (the window it is scored against).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct WindowStats {
    pub metrics: BTreeMap<String, Moments>,
    pub last: Option<(ProfiledReading, Moments)>,
}

impl WindowStats {
    fn add(mut self, r: &ProfiledReading) -> Self {
        let before = self.metrics.get(&r.reading.metric).copied().unwrap_or_default();
        self.metrics
            .insert(r.reading.metric.clone(), before.add(r.reading.value));
        self.last = Some((r.clone(), before));
        self
    }
}

/// A device's session of activity (readings no more than `OFFLINE_GAP` apart).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Presence {
    pub readings: u64,
    pub device_type: Option<DeviceType>,
    pub ward: String,
}

impl Presence {
    fn add(mut self, r: &ProfiledReading) -> Self {
        self.readings += 1;
        self.device_type = Some(r.profile.device_type);
        self.ward = r.profile.ward.clone();
        self
    }

    fn merge(self, other: Presence) -> Self {
        Presence {
            readings: self.readings + other.readings,
            device_type: self.device_type.or(other.device_type),
            ward: if self.ward.is_empty() {
                other.ward
            } else {
                self.ward
            },
        }
    }
}

/// Why a reading raised an alert.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    AboveLimit,
    BelowLimit,
    /// Far from its window's mean, in standard deviations.
    ZScore,
    /// The sensor repeats one value: a full window with no variation.
    FlatLine,
}

/// The window a reading was scored against (its other readings of that metric).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WindowSummary {
    pub start: i64,
    pub end: i64,
    pub count: u64,
    pub mean: f64,
    pub std_dev: f64,
}

/// What lands on `med.clinical-alerts`, keyed by device id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ClinicalAlert {
    Reading {
        device: String,
        device_type: DeviceType,
        ward: String,
        metric: String,
        value: f64,
        timestamp: i64,
        reason: Reason,
        z_score: Option<f64>,
        window: WindowSummary,
    },
    DeviceOffline {
        device: String,
        device_type: Option<DeviceType>,
        ward: String,
        /// Device time of the last reading before the silence.
        last_seen: i64,
        session_start: i64,
        readings: u64,
    },
}

impl ClinicalAlert {
    pub fn device(&self) -> &str {
        match self {
            ClinicalAlert::Reading { device, .. } | ClinicalAlert::DeviceOffline { device, .. } => device,
        }
    }

    /// A total order for comparing runs (alerts of different devices interleave differently).
    pub fn sort_key(&self) -> (String, i64, String) {
        match self {
            ClinicalAlert::Reading {
                device,
                timestamp,
                metric,
                ..
            } => (device.clone(), *timestamp, metric.clone()),
            ClinicalAlert::DeviceOffline {
                device, last_seen, ..
            } => (device.clone(), *last_seen, String::new()),
        }
    }
}

/// Scores the reading a window was emitted for: its clinical limits first, then a flat line,
/// then its z-score against the window's other readings. `None`: not an anomaly, or the
/// window was emitted for an update by another reading.
pub fn assess(window: &Windowed<String>, stats: &WindowStats) -> Option<ClinicalAlert> {
    let (pr, before) = stats.last.as_ref()?;
    let (r, p) = (&pr.reading, &pr.profile);
    // A window is a reading's own when it ends at the reading (Kafka Streams' sliding windows
    // create one per record); later windows that an out-of-order reading updates are not.
    if window.window.end != r.timestamp {
        return None;
    }
    let (mean, std_dev) = (before.mean(), before.std_dev());
    let z = (before.count >= MIN_HISTORY).then(|| (r.value - mean) / std_dev.max(1e-9));
    let limits = p.limits_of(&r.metric);
    let reason = if limits.is_some_and(|l| r.value > l.high) {
        Reason::AboveLimit
    } else if limits.is_some_and(|l| r.value < l.low) {
        Reason::BelowLimit
    } else if before.count >= MIN_HISTORY && before.min == before.max && r.value == before.min {
        Reason::FlatLine
    } else if z.is_some_and(|z| z.abs() > p.z_threshold) {
        Reason::ZScore
    } else {
        return None;
    };
    Some(ClinicalAlert::Reading {
        device: r.device.clone(),
        device_type: r.device_type,
        ward: p.ward.clone(),
        metric: r.metric.clone(),
        value: r.value,
        timestamp: r.timestamp,
        reason,
        z_score: z,
        window: WindowSummary {
            start: window.window.start,
            end: window.window.end,
            count: before.count,
            mean: if before.count > 0 { mean } else { 0.0 },
            std_dev,
        },
    })
}

/// Readings join the device profiles (a global table); per device, sliding-window statistics
/// (`device-window-stats`) score every reading; session windows (`device-presence`, emitted
/// when they close) report devices that went silent. Both kinds of alert go to the alerts topic;
/// records that are not readings go to the dead-letter topic (configured in `config`).
pub fn topology(topics: &Topics) -> Result<Topology, TopologyError> {
    let builder = StreamsBuilder::new();
    let devices = builder.global_table(
        &topics.devices,
        Consumed::with(Serde::string(), Serde::<DeviceProfile>::json()),
    );
    let readings = builder
        .stream(
            &topics.telemetry,
            Consumed::with(Serde::string(), Serde::<Reading>::json()),
        )
        .join_global(
            &devices,
            |device: &String, _: &Reading| device.clone(),
            |r: &Reading, p: &DeviceProfile| ProfiledReading {
                reading: r.clone(),
                profile: p.clone(),
            },
        );
    readings
        .group_by_key()
        .windowed_by(SlidingWindows::of_time_difference_and_grace(WINDOW, GRACE))
        .aggregate(
            WindowStats::default,
            |_, r, stats| stats.add(r),
            Materialized::as_("device-window-stats"),
        )
        .to_stream()
        .flat_map(|window, stats| assess(window, stats).map(|a| (window.key.clone(), a)))
        .to(&topics.alerts, Produced::with(Serde::string(), Serde::json()));
    readings
        .group_by_key()
        .windowed_by(SessionWindows::of_inactivity_gap_and_grace(OFFLINE_GAP, GRACE))
        .emit_strategy(EmitStrategy::on_window_close())
        .aggregate(
            Presence::default,
            |_, r, p| p.add(r),
            |_, a, b| a.merge(b),
            Materialized::as_("device-presence"),
        )
        .to_stream()
        .map(|session, p| {
            let alert = ClinicalAlert::DeviceOffline {
                device: session.key.clone(),
                device_type: p.device_type,
                ward: p.ward.clone(),
                last_seen: session.window.end,
                session_start: session.window.start,
                readings: p.readings,
            };
            (session.key.clone(), alert)
        })
        .to(&topics.alerts, Produced::with(Serde::string(), Serde::json()));
    builder.build()
}

/// The application's settings (besides the ids): malformed readings are dead-lettered, every
/// reading is scored (no record cache coalescing updates), 100 ms commits.
pub fn config(
    application_id: &str,
    bootstrap: &str,
    topics: &Topics,
    exactly_once: bool,
) -> Result<StreamsConfig, ConfigError> {
    let mut config = StreamsConfig::new(application_id, bootstrap);
    config.set("deserialization.exception.handler", "dead_letter_queue")?;
    config.set("errors.dead.letter.queue.topic.name", &topics.dead_letters)?;
    config.set("statestore.cache.max.bytes", "0")?;
    config.set("commit.interval.ms", "100")?;
    config.set(
        "processing.guarantee",
        if exactly_once {
            "exactly_once_v2"
        } else {
            "at_least_once"
        },
    )?;
    Ok(config)
}

/// The bytes a telemetry event is written as.
pub fn encode(payload: &Payload) -> Vec<u8> {
    match payload {
        Payload::Reading(r) => serde_json::to_vec(r).expect("JSON"),
        Payload::Malformed(bytes) => bytes.clone(),
    }
}

/// What the TopologyTestDriver computes for the traffic: the reference a cluster run must
/// match. Returns the alerts and the number of dead-lettered records.
pub fn reference(topics: &Topics, traffic: &Traffic) -> (Vec<ClinicalAlert>, usize) {
    let config = config("healthcare-reference", "unused:9092", topics, false).expect("valid config");
    let driver =
        TopologyTestDriver::with_config(topology(topics).expect("valid topology"), config).expect("a driver");
    let devices = driver.create_input_topic(&topics.devices, Serde::string(), Serde::<DeviceProfile>::json());
    let telemetry = driver.create_input_topic(&topics.telemetry, Serde::string(), Serde::bytes());
    let alerts = driver.create_output_topic(&topics.alerts, Serde::string(), Serde::<ClinicalAlert>::json());
    let dead = driver.create_output_topic(&topics.dead_letters, Serde::bytes(), Serde::bytes());
    let first = traffic.events.first().map_or(0, |e| e.arrival);
    for p in &traffic.profiles {
        devices.pipe_input_at(p.device.clone(), p.clone(), first - 60_000);
    }
    for e in &traffic.events {
        telemetry.pipe_input_at(e.key.clone(), encode(&e.payload), timestamp_of(e));
    }
    (alerts.read_values_to_list(), dead.read_values_to_list().len())
}

/// A record's timestamp: the device's for a reading; its arrival for malformed bytes.
pub fn timestamp_of(e: &crate::telemetry::Event) -> i64 {
    match &e.payload {
        Payload::Reading(r) => r.timestamp,
        Payload::Malformed(_) => e.arrival,
    }
}

/// Alerts scored against the injected anomalies.
#[derive(Debug, Default, Clone)]
pub struct Evaluation {
    /// Injected anomalies per kind, and how many of them raised an alert.
    pub injected: BTreeMap<AnomalyKind, (usize, usize)>,
    /// Alerts explained by an injected anomaly, and all alerts.
    pub true_alerts: usize,
    pub alerts: usize,
    /// Injected anomalies no alert reported.
    pub missed: Vec<Anomaly>,
}

impl Evaluation {
    pub fn precision(&self) -> f64 {
        if self.alerts == 0 {
            return 1.0;
        }
        self.true_alerts as f64 / self.alerts as f64
    }

    pub fn recall(&self) -> f64 {
        let (n, found) = self
            .injected
            .values()
            .fold((0, 0), |(n, f), (a, b)| (n + a, f + b));
        if n == 0 {
            return 1.0;
        }
        found as f64 / n as f64
    }
}

/// Does `alert` report `anomaly`? A reading alert of its device and metric from its start to a
/// window after its end (the window still holds anomalous readings); an offline alert of its
/// device whose last reading is the one before the silence (or one of the few before it, when
/// that one was malformed).
fn explains(alert: &ClinicalAlert, a: &Anomaly) -> bool {
    let window = WINDOW.as_millis() as i64;
    match alert {
        ClinicalAlert::Reading {
            device,
            metric,
            timestamp,
            ..
        } => {
            a.kind != AnomalyKind::Silent
                && device == &a.device
                && a.metric.as_ref() == Some(metric)
                && (a.start..=a.end + window).contains(timestamp)
        }
        ClinicalAlert::DeviceOffline {
            device, last_seen, ..
        } => {
            a.kind == AnomalyKind::Silent
                && device == &a.device
                && (a.last_before - 3 * crate::telemetry::INTERVAL_MS..=a.last_before).contains(last_seen)
        }
    }
}

/// Precision (alerts explained by an injected anomaly) and recall (injected anomalies alerted).
pub fn evaluate(alerts: &[ClinicalAlert], anomalies: &[Anomaly]) -> Evaluation {
    let mut by_device: BTreeMap<&str, Vec<&Anomaly>> = BTreeMap::new();
    for a in anomalies {
        by_device.entry(&a.device).or_default().push(a);
    }
    let mut e = Evaluation {
        alerts: alerts.len(),
        ..Evaluation::default()
    };
    let mut found = vec![false; anomalies.len()];
    for alert in alerts {
        let mut explained = false;
        for (i, a) in anomalies.iter().enumerate() {
            if a.device == alert.device() && explains(alert, a) {
                found[i] = true;
                explained = true;
            }
        }
        e.true_alerts += usize::from(explained);
    }
    for (a, &f) in anomalies.iter().zip(&found) {
        let entry = e.injected.entry(a.kind).or_default();
        entry.0 += 1;
        entry.1 += usize::from(f);
        if !f {
            e.missed.push(a.clone());
        }
    }
    e
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// A Kafka cluster; `None` starts librdkafka's in-process mock cluster.
    pub bootstrap_servers: Option<String>,
    pub application_id: String,
    pub topics: Topics,
    pub partitions: i32,
    pub exactly_once: bool,
    /// Write each reading when its arrival time comes (wall clock) rather than as fast as
    /// possible: the latency figures are only meaningful so.
    pub real_time: bool,
}

/// What a run did.
#[derive(Debug)]
pub struct Summary {
    pub bootstrap_servers: String,
    /// Telemetry records the application processed (well-formed ones).
    pub processed: u64,
    /// Telemetry records its deserialization handler sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Records on the dead-letter topic.
    pub dead_letter_records: usize,
    /// From the first reading written to the last one processed.
    pub elapsed: Duration,
    pub alerts: Vec<ClinicalAlert>,
    /// Reading written to the topic -> its alert visible to a `read_committed` reader, per
    /// reading alert.
    pub latencies: Vec<Duration>,
}

/// The p-th percentile (0..=100) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Record values with the instant each became visible.
type Seen = Vec<(Instant, Vec<u8>)>;

/// A `read_committed` reader of a topic from given offsets, on its own thread, stamping each
/// record with the instant it became visible.
struct Reader {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Result<Seen, String>>,
}

impl Reader {
    fn start(bootstrap: &str, start: TopicPartitionList) -> Result<Reader, Box<dyn Error>> {
        let consumer: BaseConsumer = client_config(bootstrap)
            .set("group.id", "healthcare-alert-reader")
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .set("fetch.wait.max.ms", "10")
            .create()?;
        consumer.assign(&start)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut out = Vec::new();
            let mut quiet_since = Instant::now();
            // After `stop`, read until nothing new arrives for a second.
            while !stopped.load(Ordering::Relaxed) || quiet_since.elapsed() < Duration::from_secs(1) {
                match consumer.poll(Duration::from_millis(20)) {
                    Some(Ok(m)) => {
                        out.push((Instant::now(), m.payload().unwrap_or_default().to_vec()));
                        quiet_since = Instant::now();
                    }
                    Some(Err(e)) => return Err(e.to_string()),
                    None => {}
                }
            }
            Ok(out)
        });
        Ok(Reader { stop, handle })
    }

    fn finish(self) -> Result<Seen, Box<dyn Error>> {
        self.stop.store(true, Ordering::Relaxed);
        Ok(self.handle.join().map_err(|_| "the reader panicked")??)
    }
}

fn total(streams: &Streams, name: &str) -> u64 {
    streams.metrics().total(name, &[])
}

/// Waits until the application processed or dead-lettered `n` telemetry records.
fn wait_done(streams: &Streams, n: u64, timeout: Duration) -> Result<(), Box<dyn Error>> {
    let deadline = Instant::now() + timeout;
    loop {
        let done = total(streams, "sluice_records_processed_total")
            + total(streams, "sluice_dead_letter_records_total");
        if done >= n {
            return Ok(());
        }
        if streams.state() == StreamsState::Error || Instant::now() > deadline {
            return Err(format!(
                "{done} of {n} records processed or dead-lettered; state {:?}, errors {:?}",
                streams.state(),
                streams.errors()
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the instance runs (its global table loaded, its tasks assigned).
fn wait_running(streams: &Streams, timeout: Duration) -> Result<(), Box<dyn Error>> {
    let deadline = Instant::now() + timeout;
    while streams.state() != StreamsState::Running {
        if streams.state() == StreamsState::Error || Instant::now() > deadline {
            return Err(format!(
                "not running: {:?}, errors {:?}",
                streams.state(),
                streams.errors()
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Runs the application on a cluster: creates the topics, loads the device profiles, starts
/// the application, writes the telemetry (as fast as possible, or in real time) and collects
/// the alerts a `read_committed` reader sees, with their latency.
pub fn run(options: &Options, traffic: &Traffic) -> Result<Summary, Box<dyn Error>> {
    let cluster = Cluster::new(options.bootstrap_servers.as_deref())?;
    let bootstrap = cluster.bootstrap();
    let topics = &options.topics;
    let topology = topology(topics)?;
    let names = vec![
        topics.telemetry.clone(),
        topics.devices.clone(),
        topics.alerts.clone(),
        topics.dead_letters.clone(),
    ];
    cluster.create_topics(&options.application_id, &topology, names, options.partitions)?;
    let alerts_from = ends(&bootstrap, &topics.alerts, options.partitions)?;
    let dead_from = ends(&bootstrap, &topics.dead_letters, options.partitions)?;

    let producer: BaseProducer = client_config(&bootstrap)
        .set("partitioner", "murmur2_random")
        .set("linger.ms", if options.real_time { "0" } else { "5" })
        .create()?;
    // The profiles are in the global table before the instance runs: it loads the table to
    // its end before processing.
    let first = traffic.events.first().map_or(0, |e| e.arrival);
    for p in &traffic.profiles {
        send(
            &producer,
            &topics.devices,
            &p.device,
            &serde_json::to_vec(p)?,
            first - 60_000,
        );
    }
    producer.flush(Duration::from_secs(60))?;

    let temp = tempfile::tempdir()?;
    let mut config = config(&options.application_id, &bootstrap, topics, options.exactly_once)?;
    config.state_dir = temp.path().to_path_buf();
    let streams = Streams::new(topology, config)?;
    streams.start()?;
    wait_running(&streams, Duration::from_secs(120))?;
    let alerts_reader = Reader::start(&bootstrap, alerts_from)?;

    // When each reading was written, to measure latency: (device, metric, timestamp) -> instant.
    let mut sent: BTreeMap<(String, String, i64), Instant> = BTreeMap::new();
    let started = Instant::now();
    for e in &traffic.events {
        if options.real_time {
            let due = Duration::from_millis((e.arrival - first).max(0) as u64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        send(
            &producer,
            &topics.telemetry,
            &e.key,
            &encode(&e.payload),
            timestamp_of(e),
        );
        if let Payload::Reading(r) = &e.payload {
            sent.insert((r.device.clone(), r.metric.clone(), r.timestamp), Instant::now());
        }
    }
    producer.flush(Duration::from_secs(60))?;
    wait_done(&streams, traffic.events.len() as u64, Duration::from_secs(900))?;
    let elapsed = started.elapsed();
    let processed = total(&streams, "sluice_records_processed_total");
    let dead_lettered = total(&streams, "sluice_dead_letter_records_total");
    streams.close()?;

    let mut alerts = Vec::new();
    let mut latencies = Vec::new();
    for (seen, payload) in alerts_reader.finish()? {
        let alert: ClinicalAlert =
            serde_json::from_slice(&payload).map_err(|e| format!("an alert on {}: {e}", topics.alerts))?;
        if let ClinicalAlert::Reading {
            device,
            metric,
            timestamp,
            ..
        } = &alert
        {
            if let Some(at) = sent.get(&(device.clone(), metric.clone(), *timestamp)) {
                latencies.push(seen.saturating_duration_since(*at));
            }
        }
        alerts.push(alert);
    }
    latencies.sort();
    let dead_reader = Reader::start(&bootstrap, dead_from)?;
    let dead_letter_records = dead_reader.finish()?.len();
    Ok(Summary {
        bootstrap_servers: bootstrap,
        processed,
        dead_lettered,
        dead_letter_records,
        elapsed,
        alerts,
        latencies,
    })
}
