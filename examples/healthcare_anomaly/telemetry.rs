//! Bedside-device telemetry: the records on the topics (readings, device profiles) and a seeded
//! generator of a ward's traffic with injected anomalies whose ground truth it records.
//!
//! The generator models what the field reports: devices keyed by id, readings every 5 s per
//! metric, device clocks off by up to ±1 s, deliveries late by up to 2 s (so readings reach the
//! topic up to 3 s out of timestamp order), and a small share of malformed records.

#![allow(dead_code)]

use crate::common::Rng;
use serde::{Deserialize, Serialize};

/// Time between two readings of one metric of one device.
pub const INTERVAL_MS: i64 = 5_000;
/// A device's clock is off by up to this much (either way), for the whole run.
pub const MAX_SKEW_MS: i64 = 1_000;
/// A reading reaches the topic up to this long after it was taken.
pub const MAX_DELAY_MS: i64 = 2_000;

/// The kinds of bedside devices.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum DeviceType {
    PatientMonitor,
    InfusionPump,
    Ventilator,
}

/// One metric a device type reports: the range its per-device baselines are drawn from, the
/// measurement noise (standard deviation) and the clinical limits.
#[derive(Debug, Clone, Copy)]
pub struct MetricSpec {
    pub name: &'static str,
    pub baseline: (f64, f64),
    pub noise: f64,
    pub limits: (f64, f64),
}

const MONITOR: &[MetricSpec] = &[
    MetricSpec {
        name: "heart_rate",
        baseline: (60.0, 95.0),
        noise: 2.0,
        limits: (40.0, 140.0),
    },
    MetricSpec {
        name: "spo2",
        baseline: (95.0, 99.0),
        noise: 0.4,
        limits: (88.0, 101.0),
    },
];
const PUMP: &[MetricSpec] = &[MetricSpec {
    name: "infusion_flow",
    baseline: (20.0, 200.0),
    noise: 0.5,
    // Replaced per device by a band around its prescribed rate (see `profile_of`).
    limits: (0.0, 0.0),
}];
const VENTILATOR: &[MetricSpec] = &[MetricSpec {
    name: "respiratory_rate",
    baseline: (12.0, 20.0),
    noise: 0.6,
    limits: (6.0, 35.0),
}];

impl DeviceType {
    pub fn metrics(self) -> &'static [MetricSpec] {
        match self {
            DeviceType::PatientMonitor => MONITOR,
            DeviceType::InfusionPump => PUMP,
            DeviceType::Ventilator => VENTILATOR,
        }
    }
}

/// A metric's alert limits in a device profile.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Limits {
    pub metric: String,
    pub low: f64,
    pub high: f64,
}

/// A device's profile (the `med.devices` table): where it is and when to alert.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeviceProfile {
    pub device: String,
    pub device_type: DeviceType,
    pub ward: String,
    /// A reading this many standard deviations from its window's mean is an anomaly.
    pub z_threshold: f64,
    pub limits: Vec<Limits>,
}

impl DeviceProfile {
    pub fn limits_of(&self, metric: &str) -> Option<&Limits> {
        self.limits.iter().find(|l| l.metric == metric)
    }
}

/// One measurement (the `med.telemetry` topic), timestamped by the device's own clock.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reading {
    pub device: String,
    pub device_type: DeviceType,
    pub metric: String,
    pub value: f64,
    /// Device time (ms since the epoch); also the record's timestamp.
    pub timestamp: i64,
}

/// What the generator injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// One reading far from the baseline.
    Spike,
    /// The value moves steadily past a clinical limit.
    Drift,
    /// The sensor repeats one value.
    FlatLine,
    /// The device sends nothing (all metrics).
    Silent,
}

/// An injected anomaly: its device, metric (none for `Silent`) and interval in device time.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    pub device: String,
    pub metric: Option<String>,
    pub kind: AnomalyKind,
    pub start: i64,
    pub end: i64,
    /// For `Silent`: the device time of the device's last reading before it went quiet.
    pub last_before: i64,
}

/// A record to write to `med.telemetry`, in the order the topic receives them.
#[derive(Debug, Clone)]
pub enum Payload {
    Reading(Reading),
    /// Bytes that are not a reading (the dead-letter topic's business).
    Malformed(Vec<u8>),
}

/// One record of the telemetry topic.
#[derive(Debug, Clone)]
pub struct Event {
    /// When the record reaches the topic (true time, ms since the epoch).
    pub arrival: i64,
    /// The device id.
    pub key: String,
    pub payload: Payload,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Ward {
    pub devices: u64,
    /// Length of the run in event time.
    pub duration_ms: i64,
    /// True time of the run's start (ms since the epoch).
    pub start: i64,
    pub seed: u64,
    /// Share of devices with one injected anomaly.
    pub anomaly_share: f64,
    /// Share of records replaced by malformed bytes.
    pub malformed_share: f64,
}

/// Everything one run writes, and what it injected.
#[derive(Debug, Clone)]
pub struct Traffic {
    pub profiles: Vec<DeviceProfile>,
    pub events: Vec<Event>,
    pub anomalies: Vec<Anomaly>,
    pub malformed: usize,
}

impl Traffic {
    pub fn readings(&self) -> usize {
        self.events.len() - self.malformed
    }
}

pub fn device_name(i: u64) -> String {
    format!("dev-{i:06}")
}

/// A standard normal draw (Box-Muller).
pub fn gaussian(rng: &mut Rng) -> f64 {
    let u1 = ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn uniform(rng: &mut Rng, (lo, hi): (f64, f64)) -> f64 {
    lo + (hi - lo) * (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn between(rng: &mut Rng, lo: i64, hi: i64) -> i64 {
    lo + rng.below((hi - lo + 1) as u64) as i64
}

const WARDS: [&str; 5] = ["icu-1", "icu-2", "cardiology", "surgery", "neonatal"];

/// A device's profile; a pump's limits are a band around its prescribed rate (`baseline`).
fn profile_of(i: u64, device_type: DeviceType, baselines: &[f64], rng: &mut Rng) -> DeviceProfile {
    let limits = device_type
        .metrics()
        .iter()
        .zip(baselines)
        .map(|(m, &b)| {
            let (low, high) = if device_type == DeviceType::InfusionPump {
                (b * 0.8, b * 1.2)
            } else {
                m.limits
            };
            Limits {
                metric: m.name.to_string(),
                low,
                high,
            }
        })
        .collect();
    DeviceProfile {
        device: device_name(i),
        device_type,
        ward: WARDS[rng.below(WARDS.len() as u64) as usize].to_string(),
        z_threshold: 6.0,
        limits,
    }
}

/// Bytes that fail to deserialize as a reading, of several kinds.
fn malformed(rng: &mut Rng, r: &Reading) -> Vec<u8> {
    let json = serde_json::to_string(r).expect("JSON");
    match rng.below(4) {
        // Cut short in transit.
        0 => json.as_bytes()[..json.len() / 2].to_vec(),
        // A wrong type.
        1 => json
            .replace(
                &format!("\"value\":{}", serde_json::to_string(&r.value).unwrap()),
                "\"value\":\"high\"",
            )
            .into_bytes(),
        // A missing field.
        2 => json
            .replace(&format!("\"metric\":\"{}\",", r.metric), "")
            .into_bytes(),
        // Not JSON at all.
        _ => (0..24).map(|_| rng.below(256) as u8).collect(),
    }
}

impl Ward {
    /// Generates the run's traffic: deterministic for a given `Ward`.
    pub fn generate(&self) -> Traffic {
        let mut rng = Rng::new(self.seed);
        let mut profiles = Vec::new();
        let mut anomalies = Vec::new();
        let mut events = Vec::new();
        for i in 0..self.devices {
            let device_type = match rng.below(20) {
                0..=9 => DeviceType::PatientMonitor,
                10..=16 => DeviceType::InfusionPump,
                _ => DeviceType::Ventilator,
            };
            let specs = device_type.metrics();
            let baselines: Vec<f64> = specs.iter().map(|m| uniform(&mut rng, m.baseline)).collect();
            let profile = profile_of(i, device_type, &baselines, &mut rng);
            let skew = between(&mut rng, -MAX_SKEW_MS, MAX_SKEW_MS);
            let phase = between(&mut rng, 0, INTERVAL_MS - 1);
            // At most one anomaly per device, late enough for a full window of history and
            // early enough to be over (and a silent device's session closed) before the end.
            let anomaly = rng.chance(self.anomaly_share).then(|| {
                let kind = match rng.below(4) {
                    0 => AnomalyKind::Spike,
                    1 => AnomalyKind::Drift,
                    2 => AnomalyKind::FlatLine,
                    _ => AnomalyKind::Silent,
                };
                let metric = rng.below(specs.len() as u64) as usize;
                let start = self.start + between(&mut rng, 70_000, self.duration_ms - 110_000);
                let length = match kind {
                    AnomalyKind::Spike => 0,
                    AnomalyKind::Drift => between(&mut rng, 40_000, 80_000),
                    AnomalyKind::FlatLine => between(&mut rng, 80_000, 100_000),
                    AnomalyKind::Silent => between(&mut rng, 40_000, 70_000),
                };
                (kind, metric, start, start + length)
            });
            let mut recorded: Option<Anomaly> = None;
            let mut flat_value: Option<f64> = None;
            let mut t = self.start + phase;
            while t < self.start + self.duration_ms {
                let device_time = t + skew;
                if let Some((kind, m, start, end)) = anomaly {
                    // The last reading before the anomaly starts fixes its record.
                    if recorded.is_none() && t + INTERVAL_MS > start {
                        recorded = Some(Anomaly {
                            device: profile.device.clone(),
                            metric: (kind != AnomalyKind::Silent).then(|| specs[m].name.to_string()),
                            kind,
                            start: start + skew,
                            end: end + skew,
                            last_before: device_time,
                        });
                    }
                    if kind == AnomalyKind::Silent && (start..end).contains(&t) {
                        t += INTERVAL_MS;
                        continue;
                    }
                }
                for (m, spec) in specs.iter().enumerate() {
                    let mut value = baselines[m] + spec.noise * gaussian(&mut rng);
                    let mut anomalous = false;
                    if let Some((kind, _, start, end)) = anomaly.filter(|a| a.1 == m) {
                        let limits = &profile.limits[m];
                        match kind {
                            AnomalyKind::Spike if (start..start + INTERVAL_MS).contains(&t) => {
                                let sign = if rng.chance(0.5) { 1.0 } else { -1.0 };
                                value = baselines[m] + sign * spec.noise * uniform(&mut rng, (12.0, 16.0));
                                anomalous = true;
                            }
                            AnomalyKind::Drift if (start..end).contains(&t) => {
                                // Linear from the baseline to 20% of the band past a limit
                                // (SpO2 only ever drifts down).
                                let band = limits.high - limits.low;
                                let past = if spec.name == "spo2" || start % 2 == 0 {
                                    limits.low - band * 0.2
                                } else {
                                    limits.high + band * 0.2
                                };
                                let f = (t - start) as f64 / (end - start) as f64;
                                value = baselines[m] + (past - baselines[m]) * f;
                                anomalous = true;
                            }
                            AnomalyKind::FlatLine if (start..end).contains(&t) => {
                                value = *flat_value.get_or_insert(value);
                                anomalous = true;
                            }
                            _ => {}
                        }
                    }
                    let reading = Reading {
                        device: profile.device.clone(),
                        device_type,
                        metric: spec.name.to_string(),
                        value,
                        timestamp: device_time,
                    };
                    let arrival = t + between(&mut rng, 0, MAX_DELAY_MS);
                    // Injected anomalies are never the malformed records (their alerts are
                    // the ground truth).
                    let payload = if !anomalous && rng.chance(self.malformed_share) {
                        Payload::Malformed(malformed(&mut rng, &reading))
                    } else {
                        Payload::Reading(reading)
                    };
                    events.push(Event {
                        arrival,
                        key: profile.device.clone(),
                        payload,
                    });
                }
                t += INTERVAL_MS;
            }
            anomalies.extend(recorded);
            profiles.push(profile);
        }
        // The topic receives records in arrival order (ties: generation order).
        events.sort_by_key(|e| e.arrival);
        let malformed = events
            .iter()
            .filter(|e| matches!(e.payload, Payload::Malformed(_)))
            .count();
        Traffic {
            profiles,
            events,
            anomalies,
            malformed,
        }
    }
}
