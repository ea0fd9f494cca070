//! Starts a real Kafka broker, crashes it, restarts it on the same directory and ports, and
//! stops it cleanly. Needs Java 17+ and the jars from scripts/kafka/fetch.sh (run on demand).

use std::time::{Duration, Instant};

use sluice_testkit::protocol;
use sluice_testkit::KafkaBroker;

#[test]
fn broker_starts_crashes_restarts_and_stops() {
    let t = Instant::now();
    let broker = KafkaBroker::start().expect("start the Kafka broker");
    eprintln!(
        "broker {} ready in {:.1} s",
        broker.bootstrap(),
        t.elapsed().as_secs_f64()
    );
    let port = broker.port();
    assert_eq!(broker.bootstrap(), format!("127.0.0.1:{port}"));

    let md = broker.metadata().expect("metadata");
    assert_eq!(md.brokers.len(), 1, "{md:?}");
    assert_eq!(md.brokers[0].node_id, 1);
    assert_eq!(md.brokers[0].host, "127.0.0.1");
    assert_eq!(md.brokers[0].port, i32::from(port));
    assert_eq!(md.controller_id, 1);
    let cluster_id = md.cluster_id.clone().expect("cluster id");
    assert_eq!(cluster_id.len(), 22);

    let apis = protocol::api_versions(broker.bootstrap(), Duration::from_secs(2)).expect("api versions");
    // Transactions need InitProducerId (22), AddPartitionsToTxn (24), EndTxn (26).
    for key in [0, 1, 3, 18, 22, 24, 26] {
        assert!(
            apis.iter().any(|a| a.api_key == key),
            "api {key} missing: {apis:?}"
        );
    }

    // Crash: the port closes, nothing answers.
    broker.kill();
    assert!(!broker.is_running());
    assert!(broker.metadata().is_err(), "a killed broker must not answer");

    // Same directory and ports: same cluster.
    let t = Instant::now();
    broker.restart().expect("restart after kill");
    eprintln!(
        "restart after kill -9 ready in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(broker.port(), port);
    let md = broker.metadata().expect("metadata after restart");
    assert_eq!(
        md.cluster_id.as_deref(),
        Some(cluster_id.as_str()),
        "restart must reuse the log dir"
    );
    assert_eq!(md.brokers.len(), 1);

    // Clean shutdown, then up again.
    let t = Instant::now();
    broker.stop();
    eprintln!("clean stop took {:.1} s", t.elapsed().as_secs_f64());
    assert!(broker.metadata().is_err());
    broker.restart().expect("restart after stop");
    assert_eq!(
        broker.metadata().expect("metadata").cluster_id.as_deref(),
        Some(cluster_id.as_str())
    );

    let log = std::fs::read_to_string(broker.log_path()).expect("broker log");
    assert!(log.contains("Kafka Server started"), "{log}");

    let dir = broker.dir().to_path_buf();
    drop(broker);
    assert!(!dir.exists(), "drop removes the broker's directory");
}

#[test]
fn start_with_overrides_and_two_brokers_side_by_side() {
    let a = KafkaBroker::start_with(&[("log.segment.bytes", "1048576")]).expect("start a");
    let b = KafkaBroker::start().expect("start b");
    assert_ne!(a.bootstrap(), b.bootstrap());
    let props = std::fs::read_to_string(a.dir().join("server.properties")).unwrap();
    assert!(props.contains("log.segment.bytes=1048576"));
    assert_ne!(a.metadata().unwrap().cluster_id, b.metadata().unwrap().cluster_id);
}
