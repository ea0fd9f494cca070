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
    assert_eq!(sorted(summary.alerts), expected);
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
        ..Options::default()
    });
}
