//! Sluice's topologies for scenarios (b) to (e).

use crate::spec::{reading, Kind, Spec};
use serde::{Deserialize, Serialize};
use sluice::prelude::*;
use std::time::Duration;

/// Running statistics of a device's readings (scenario e).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Stats {
    count: u64,
    sum: f64,
    sum_sq: f64,
}

impl Stats {
    fn add(mut self, x: f64) -> Self {
        self.count += 1;
        self.sum += x;
        self.sum_sq += x * x;
        self
    }

    fn summary(&self) -> String {
        let n = self.count.max(1) as f64;
        let mean = self.sum / n;
        let std = (self.sum_sq / n - mean * mean).max(0.0).sqrt();
        format!("{},{mean:.2},{std:.2}", self.count)
    }
}

/// The topology of `spec.kind` (not the passthrough, which is no topology).
pub fn topology(spec: &Spec) -> Topology {
    let b = StreamsBuilder::new();
    let input = b.stream(&spec.input, Consumed::with(Serde::string(), Serde::bytes()));
    let out = Produced::with(Serde::string(), Serde::bytes());
    match spec.kind {
        Kind::Stateless | Kind::StatelessMetricsOff => {
            input
                .filter(|_, v| reading(v) >= 64.0)
                .map_values(|v| {
                    let mut v = v.clone();
                    v[8..].make_ascii_uppercase();
                    v
                })
                .to(&spec.output, out);
        }
        Kind::WindowedCount | Kind::WindowedCountSnapshots => {
            input
                .group_by_key()
                .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(300)))
                .count(Materialized::as_("tx-velocity-store"))
                .to_stream()
                .map(|w, n| (format!("{}@{}", w.key, w.window.start), n.to_be_bytes().to_vec()))
                .to(&spec.output, out);
        }
        Kind::Join => {
            let profiles = b.table(
                spec.profiles.as_deref().expect("the join reads a profiles topic"),
                Consumed::with(Serde::string(), Serde::bytes()),
            );
            input
                .join_table(&profiles, |v, p| {
                    let mut joined = Vec::with_capacity(v.len() + 16);
                    joined.extend_from_slice(v);
                    joined.extend_from_slice(&p[..p.len().min(16)]);
                    joined
                })
                .to(&spec.output, out);
        }
        Kind::Sliding => {
            input
                .group_by_key()
                .windowed_by(SlidingWindows::of_time_difference_and_grace(
                    Duration::from_secs(30),
                    Duration::from_secs(1),
                ))
                .aggregate(
                    Stats::default,
                    |_, v, s: Stats| s.add(reading(v)),
                    Materialized::as_("device-stats"),
                )
                .to_stream()
                .map(|w, s| (format!("{}@{}", w.key, w.window.start), s.summary().into_bytes()))
                .to(&spec.output, out);
        }
        Kind::Passthrough
        | Kind::QuixWindowedCount
        | Kind::Healthcare
        | Kind::KafkaStreamsStateless
        | Kind::KafkaStreamsWindowedCount
        | Kind::KafkaStreamsJoin
        | Kind::KafkaStreamsSliding => {
            unreachable!("no topology of this module (the healthcare one is the example's)")
        }
    }
    b.build().expect("a valid benchmark topology")
}
