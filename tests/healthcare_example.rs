//! The healthcare anomaly example (`cargo run --example healthcare_anomaly`) on the embedded
//! mock cluster and on Apache Kafka (exactly-once): its alerts equal the TopologyTestDriver's,
//! every injected anomaly is alerted, malformed records are dead-lettered and counted, and
//! every record is accounted for.

#[path = "../examples/healthcare_anomaly/app.rs"]
mod app;
#[path = "../examples/common/mod.rs"]
mod common;
mod support;
#[path = "../examples/healthcare_anomaly/telemetry.rs"]
mod telemetry;

use app::{ClinicalAlert, Options, Topics};
use telemetry::{AnomalyKind, Ward};

fn ward(seed: u64) -> Ward {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let duration_ms = 4 * 60_000;
    Ward {
        devices: 300,
        duration_ms,
        start: now - duration_ms,
        seed,
        anomaly_share: 0.15,
        malformed_share: 0.003,
    }
}

fn sorted(mut alerts: Vec<ClinicalAlert>) -> Vec<ClinicalAlert> {
    alerts.sort_by_key(ClinicalAlert::sort_key);
    alerts
}

fn check(options: Options, seed: u64) {
    let traffic = ward(seed).generate();
    assert!(
        traffic.malformed > 0,
        "the generated traffic has malformed records"
    );
    let kinds: std::collections::BTreeSet<AnomalyKind> = traffic.anomalies.iter().map(|a| a.kind).collect();
    assert_eq!(kinds.len(), 4, "every kind of anomaly is injected: {kinds:?}");

    let summary = app::run(&options, &traffic).expect("the example runs");
    // Nothing lost: every reading processed, every malformed record dead-lettered (counted and
    // on the dead-letter topic).
    assert_eq!(summary.processed, traffic.readings() as u64);
    assert_eq!(summary.dead_lettered, traffic.malformed as u64);
    assert_eq!(summary.dead_letter_records, traffic.malformed);

    let (expected, dead) = app::reference(&options.topics, &traffic);
    assert_eq!(
        dead, traffic.malformed,
        "the driver dead-letters the same records"
    );
    assert_eq!(
        sorted(summary.alerts.clone()),
        sorted(expected),
        "the driver's alerts"
    );

    let e = app::evaluate(&summary.alerts, &traffic.anomalies);
    assert!(
        e.missed.is_empty(),
        "injected anomalies without an alert: {:#?}",
        e.missed
    );
    assert!(e.precision() >= 0.8, "precision {:.3}: {e:?}", e.precision());
    println!(
        "{} alerts, precision {:.3}, recall {:.3}, {:?}",
        e.alerts,
        e.precision(),
        e.recall(),
        e.injected
    );
}

#[test]
fn healthcare_example_runs_on_the_embedded_mock_cluster() {
    check(
        Options {
            bootstrap_servers: None,
            application_id: "healthcare-anomaly".into(),
            topics: Topics::with_prefix(""),
            partitions: 4,
            exactly_once: false,
            real_time: false,
        },
        7,
    );
}

#[test]
fn healthcare_example_runs_on_kafka_exactly_once() {
    let broker = support::broker();
    check(
        Options {
            bootstrap_servers: Some(broker.bootstrap.clone()),
            application_id: support::unique("healthcare-anomaly"),
            topics: Topics::with_prefix(&format!("{}.", support::unique("med"))),
            partitions: 4,
            exactly_once: true,
            real_time: false,
        },
        11,
    );
}
