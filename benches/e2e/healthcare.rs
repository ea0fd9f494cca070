//! Scenario (f): the healthcare example's application under load, to find the highest rate at
//! which its p99 end-to-end latency stays within the 500 ms objective.
//!
//! Devices are patient monitors sending a heart rate every 5 s (so the active devices grow with
//! the rate, up to the 85,000 of the field deployment), stamped with the wall clock. A probe
//! runs a minute unmeasured first, so that every window is as full as in steady state. Their profiles' upper heart-rate limit is 88, so that about one
//! reading in ten raises an alert and the alerts give latency samples all along (a ward alerts
//! far less). The run at half the highest rate is checked against the TopologyTestDriver: the
//! same alerts.

use crate::common::cluster::{client_config, send};
use crate::healthcare_app::{self as app, ClinicalAlert, Topics};
use crate::load;
use crate::spec::Spec;
use crate::telemetry::{gaussian, DeviceProfile, DeviceType, Limits, Reading};
use rdkafka::producer::{BaseProducer, Producer};
use sluice::prelude::*;
use std::time::Duration;

/// Profiles in the global table (the field's device count).
pub const DEVICES: u64 = 85_000;
/// Each active device reads every this often.
pub const READING_INTERVAL_S: f64 = 5.0;

/// The application's topics for a run.
pub fn topics(spec: &Spec) -> Topics {
    Topics {
        telemetry: spec.input.clone(),
        devices: spec
            .profiles
            .clone()
            .expect("the healthcare run has a devices topic"),
        alerts: spec.output.clone(),
        dead_letters: format!("{}-dlq", spec.app),
    }
}

pub fn device(i: u64) -> String {
    format!("dev-{i:06}")
}

fn profile(i: u64) -> DeviceProfile {
    DeviceProfile {
        device: device(i),
        device_type: DeviceType::PatientMonitor,
        ward: ["icu-1", "icu-2", "cardiology", "surgery"][(i % 4) as usize].to_string(),
        z_threshold: 6.0,
        limits: vec![Limits {
            metric: "heart_rate".into(),
            low: 40.0,
            high: 88.0,
        }],
    }
}

/// Timestamp of the profiles: before every reading, history included.
fn profile_time(now_ms: i64) -> i64 {
    now_ms - 60_000
}

/// Writes `devices` profiles.
pub fn preload_profiles(bootstrap: &str, topic: &str, devices: u64) {
    let ts = profile_time(load::now_ms());
    let records: Vec<(String, Vec<u8>, i64)> = (0..devices)
        .map(|i| (device(i), serde_json::to_vec(&profile(i)).expect("JSON"), ts))
        .collect();
    write(bootstrap, topic, &records);
}

/// Writes records (key, value, timestamp) in order.
pub fn write(bootstrap: &str, topic: &str, records: &[(String, Vec<u8>, i64)]) {
    let p: BaseProducer = client_config(bootstrap)
        .set("partitioner", "murmur2_random")
        // In order and once, as the reference assumes, even if a batch is retried.
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "500000")
        .create()
        .expect("a producer");
    for (key, value, ts) in records {
        send(&p, topic, key, value, *ts);
    }
    p.flush(Duration::from_secs(120)).expect("records flushed");
}

/// Heart-rate readings at `rate`/s: reading `i` comes from device `i mod active`.
pub struct Readings {
    rng: crate::common::Rng,
    active: u64,
}

impl Readings {
    pub fn new(rate: f64, devices: u64) -> Readings {
        Readings {
            rng: crate::common::Rng::new(7),
            active: ((rate * READING_INTERVAL_S) as u64).clamp(1, devices),
        }
    }

    pub fn active(&self) -> u64 {
        self.active
    }

    /// Key and JSON of reading `i`, taken at `now_ms`.
    pub fn record(&mut self, i: u64, now_ms: i64) -> (String, Vec<u8>) {
        let d = i % self.active;
        let r = Reading {
            device: device(d),
            device_type: DeviceType::PatientMonitor,
            metric: "heart_rate".into(),
            value: 60.0 + (d % 30) as f64 + 2.0 * gaussian(&mut self.rng),
            timestamp: now_ms,
        };
        (r.device.clone(), serde_json::to_vec(&r).expect("JSON"))
    }
}

/// The alerts the TopologyTestDriver computes for `devices` profiles and the readings sent,
/// as (key, JSON) sorted.
pub fn reference(topics: &Topics, devices: u64, sent: &[(String, Vec<u8>, i64)]) -> Vec<(String, String)> {
    let config = app::config("bench-reference", "unused:9092", topics, false).expect("config");
    let driver =
        TopologyTestDriver::with_config(app::topology(topics).expect("topology"), config).expect("driver");
    let profiles =
        driver.create_input_topic(&topics.devices, Serde::string(), Serde::<DeviceProfile>::json());
    let telemetry = driver.create_input_topic(&topics.telemetry, Serde::string(), Serde::bytes());
    let alerts = driver.create_output_topic(&topics.alerts, Serde::string(), Serde::<ClinicalAlert>::json());
    let ts = profile_time(sent.last().map_or(0, |s| s.2));
    for i in 0..devices {
        profiles.pipe_input_at(device(i), profile(i), ts);
    }
    for (k, v, ts) in sent {
        telemetry.pipe_input_at(k.clone(), v.clone(), *ts);
    }
    let mut out: Vec<(String, String)> = alerts
        .read_key_values_to_list()
        .into_iter()
        .map(|(k, a)| (k, serde_json::to_string(&a).expect("JSON")))
        .collect();
    out.sort();
    out
}

/// Alerts as read from the topic, as (key, JSON) sorted (re-encoded, so that both sides
/// print numbers alike).
pub fn normalise(read: &[(Vec<u8>, Vec<u8>)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = read
        .iter()
        .map(|(k, v)| {
            let alert: ClinicalAlert = serde_json::from_slice(v).expect("an alert");
            (
                String::from_utf8_lossy(k).into_owned(),
                serde_json::to_string(&alert).expect("JSON"),
            )
        })
        .collect();
    out.sort();
    out
}
