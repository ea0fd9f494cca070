//! Healthcare telemetry anomaly detection on a Kafka cluster: bedside devices send readings
//! (heart rate, SpO2, infusion flow, respiratory rate) as JSON on `med.telemetry`; device
//! profiles (type, ward, limits) are a global table on `med.devices`; per device, sliding
//! 60-second window statistics score every reading (clinical limits, flat line, z-score), and
//! session windows notice devices that go silent for 30 s. Alerts go to `med.clinical-alerts`,
//! malformed readings to `med.telemetry.dlq`.
//!
//! Without `--bootstrap-servers` it starts librdkafka's in-process mock cluster: nothing to
//! install.
//!
//! ```text
//! cargo run --release --example healthcare_anomaly
//! cargo run --release --example healthcare_anomaly -- --check
//! cargo run --release --example healthcare_anomaly -- --bootstrap-servers 127.0.0.1:9092 --real-time --devices 5000
//! cargo run --release --example healthcare_anomaly -- --help
//! ```

mod app;
#[path = "../common/mod.rs"]
mod common;
mod telemetry;

use app::{Options, Topics};
use clap::Parser;
use std::error::Error;
use std::time::Duration;
use telemetry::Ward;

/// Healthcare telemetry anomaly detection (sliding-window z-scores, clinical limits, offline
/// devices) on Sluice.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    cluster: common::cli::ClusterArgs,
    /// Devices [default: 85,000 on a cluster; 1,000 on the mock cluster, which slows down badly
    /// past ~100K records].
    #[arg(long)]
    devices: Option<u64>,
    /// Minutes of telemetry (at least 4: anomalies start after a full window of history and end
    /// before the last 110 s).
    #[arg(long, default_value_t = 4)]
    minutes: i64,
    /// Share of devices with one injected anomaly (spike, drift, flat line or silence).
    #[arg(long, default_value_t = 0.05)]
    anomaly_share: f64,
    /// Share of telemetry records replaced by malformed bytes.
    #[arg(long, default_value_t = 0.001)]
    malformed_share: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value = "healthcare-anomaly")]
    application_id: String,
    /// Exactly-once (exactly_once_v2) instead of at-least-once.
    #[arg(long)]
    exactly_once: bool,
    /// Write each reading when it arrives in real time (device clock = wall clock) instead of
    /// replaying the backlog as fast as possible; latency figures need it.
    #[arg(long)]
    real_time: bool,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    if args.minutes < 4 {
        return Err("--minutes must be at least 4".into());
    }
    let devices = args
        .devices
        .unwrap_or(if args.cluster.bootstrap_servers.is_some() {
            85_000
        } else {
            1_000
        });
    let options = Options {
        bootstrap_servers: args.cluster.bootstrap_servers.clone(),
        application_id: args.application_id.clone(),
        topics: Topics::with_prefix(&args.cluster.topic_prefix),
        partitions: args.cluster.partitions,
        exactly_once: args.exactly_once,
        real_time: args.real_time,
    };
    println!("{}", app::topology(&options.topics)?.describe());
    // The run's clock: in real time, now; replayed, the backlog ends now (timestamps within
    // the topics' retention either way).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let duration_ms = args.minutes * 60_000;
    let ward = Ward {
        devices,
        duration_ms,
        start: if args.real_time { now } else { now - duration_ms },
        seed: args.seed,
        anomaly_share: args.anomaly_share,
        malformed_share: args.malformed_share,
    };
    let traffic = ward.generate();
    println!(
        "{devices} devices, {} minutes: {} readings and {} malformed records, {} injected anomalies",
        args.minutes,
        traffic.readings(),
        traffic.malformed,
        traffic.anomalies.len()
    );
    let summary = app::run(&options, &traffic)?;
    for a in summary.alerts.iter().take(8) {
        println!("ALERT {}", serde_json::to_string(a)?);
    }
    let cluster = if options.bootstrap_servers.is_some() {
        summary.bootstrap_servers.clone()
    } else {
        "the embedded mock cluster".to_string()
    };
    let guarantee = if args.exactly_once {
        "exactly-once"
    } else {
        "at-least-once"
    };
    println!(
        "\n{} telemetry records on {cluster} ({} partitions, {guarantee}) in {:.2?}: {:.0} records/s; \
         {} processed, {} dead-lettered ({} on {}); {} alerts",
        traffic.events.len(),
        options.partitions,
        summary.elapsed,
        traffic.events.len() as f64 / summary.elapsed.as_secs_f64(),
        summary.processed,
        summary.dead_lettered,
        summary.dead_letter_records,
        options.topics.dead_letters,
        summary.alerts.len()
    );
    let e = app::evaluate(&summary.alerts, &traffic.anomalies);
    for (kind, (n, found)) in &e.injected {
        println!("  {kind:?}: {found} of {n} injected alerted");
    }
    println!(
        "precision {:.3} ({} of {} alerts explained by an injected anomaly), recall {:.3}",
        e.precision(),
        e.true_alerts,
        e.alerts,
        e.recall()
    );
    let l = &summary.latencies;
    if args.real_time {
        let within = l.iter().filter(|d| **d <= app::SLA).count();
        println!(
            "latency (reading written -> alert visible to read_committed), {} reading alerts: p50 {:.0} ms, \
             p99 {:.0} ms, p99.9 {:.0} ms, max {:.0} ms; {:.2}% within the {} ms SLA",
            l.len(),
            ms(app::percentile(l, 50.0)),
            ms(app::percentile(l, 99.0)),
            ms(app::percentile(l, 99.9)),
            ms(app::percentile(l, 100.0)),
            100.0 * within as f64 / l.len().max(1) as f64,
            app::SLA.as_millis()
        );
    } else {
        println!("(replayed as fast as possible: run with --real-time for latency figures)");
    }
    if args.cluster.check {
        let (mut expected, dead) = app::reference(&options.topics, &traffic);
        let mut got = summary.alerts;
        expected.sort_by_key(app::ClinicalAlert::sort_key);
        got.sort_by_key(app::ClinicalAlert::sort_key);
        if got != expected || dead != summary.dead_letter_records {
            return Err(format!(
                "the cluster raised {} alerts and dead-lettered {} records, the TopologyTestDriver {} and {}",
                got.len(),
                summary.dead_letter_records,
                expected.len(),
                dead
            )
            .into());
        }
        println!(
            "check: the same {} alerts and {} dead letters as the TopologyTestDriver",
            expected.len(),
            dead
        );
    }
    Ok(())
}
