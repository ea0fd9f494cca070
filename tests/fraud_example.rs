//! The fraud velocity example (`cargo run --example fraud_velocity`) runs on the embedded mock
//! cluster and on Apache Kafka, and raises exactly the alerts the TopologyTestDriver
//! computes for the same inputs.

#[path = "../examples/fraud_velocity/app.rs"]
mod app;
#[path = "../examples/common/mod.rs"]
mod common;
mod support;

use app::{Alert, Options, Topics};

fn sorted(mut alerts: Vec<Alert>) -> Vec<Alert> {
    alerts.sort_by(|a, b| (&a.account, a.transaction).cmp(&(&b.account, b.transaction)));
    alerts
}

fn check(options: Options) {
    let summary = app::run(&options).expect("the example runs");
    let (profiles, txs) = app::inputs(options.transactions, options.accounts, options.seed);
    let expected = sorted(app::reference_alerts(&options.topics, &profiles, &txs));
    assert!(!expected.is_empty(), "the generated data raises alerts");
    assert_eq!(summary.processed, (profiles.len() + txs.len()) as u64);
    assert_eq!(sorted(summary.alerts.clone()), expected);
    if options.http_listen.is_some() {
        // An operator's question over HTTP: the velocity windows of the last transaction's
        // account, with its count, from the committed store.
        let (url, answer) = summary.velocity_query.expect("asked over HTTP");
        let last = txs.last().unwrap();
        assert!(url.ends_with(&format!("/stores/tx-velocity-store/keys/{}", last.account)));
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        let windows = answer["windows"].as_array().expect("windows");
        let window = windows
            .iter()
            .find(|w| w["value"]["last"]["tx"]["id"] == serde_json::json!(last.id))
            .unwrap_or_else(|| panic!("no window with the last transaction: {answer}"));
        assert!(window["value"]["count"].as_u64().unwrap() >= 1, "{answer}");
        let start = window["start"].as_i64().unwrap();
        assert!(start <= last.timestamp && last.timestamp < window["end"].as_i64().unwrap());
    }
}

#[test]
fn fraud_example_runs_on_the_embedded_mock_cluster() {
    check(Options {
        transactions: 5_000,
        accounts: 500,
        ..Options::default()
    });
}

#[test]
fn fraud_example_runs_on_kafka() {
    let broker = support::broker();
    check(Options {
        bootstrap_servers: Some(broker.bootstrap.clone()),
        transactions: 5_000,
        accounts: 500,
        application_id: support::unique("fraud-velocity"),
        topics: Topics::with_prefix(&format!("{}.", support::unique("fraud"))),
        http_listen: Some("127.0.0.1:0".into()),
        ..Options::default()
    });
}
