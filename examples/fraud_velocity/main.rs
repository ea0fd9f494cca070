//! Fraud velocity check on a Kafka cluster: card transactions join the
//! customer-profiles table, are counted per account in 5-minute tumbling windows, scored, and
//! risky payments become alerts on `fin.fraud-alerts`.
//!
//! Without `--bootstrap-servers` it starts librdkafka's in-process mock cluster: nothing to
//! install. It prints the topology, the first alerts and a throughput summary.
//!
//! ```text
//! cargo run --release --example fraud_velocity
//! cargo run --release --example fraud_velocity -- --bootstrap-servers 127.0.0.1:9092 --transactions 200000
//! cargo run --release --example fraud_velocity -- --http 127.0.0.1:9464 --serve-secs 60
//! ```
//!
//! With `--http` the instance serves `/metrics`, `/health/ready`, `/topology` and its stores:
//! `GET /stores/tx-velocity-store/keys/<account>` answers the account's current 5-minute
//! velocity windows (committed counts and the last enriched transaction) as JSON.
//!
//! Options: `cargo run --example fraud_velocity -- --help`.

mod app;
#[path = "../common/mod.rs"]
mod common;

use app::{Options, Topics};
use clap::Parser;
use std::error::Error;

/// Fraud velocity check (transactions joined with profiles, counted per account in 5-minute
/// windows, scored) on Sluice.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    cluster: common::cli::ClusterArgs,
    /// Transactions to generate (the mock cluster slows down badly past ~100K records).
    #[arg(long, default_value_t = 50_000)]
    transactions: usize,
    #[arg(long, default_value_t = 2_000)]
    accounts: u64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value = "fraud-velocity")]
    application_id: String,
    /// Serve metrics, health and interactive queries over HTTP on this address (e.g.
    /// 127.0.0.1:9464), and print one account's velocity windows as the endpoint answers them.
    #[arg(long, value_name = "ADDR")]
    http: Option<String>,
    /// With --http: keep serving this many seconds after the run (try
    /// `curl ADDR/stores/tx-velocity-store/keys/<account>`).
    #[arg(long, default_value_t = 0)]
    serve_secs: u64,
}

fn parse_args() -> (Options, bool) {
    let a = Args::parse();
    let options = Options {
        bootstrap_servers: a.cluster.bootstrap_servers,
        transactions: a.transactions,
        accounts: a.accounts,
        partitions: a.cluster.partitions,
        seed: a.seed,
        application_id: a.application_id,
        topics: Topics::with_prefix(&a.cluster.topic_prefix),
        http_listen: a.http,
        serve_for: std::time::Duration::from_secs(a.serve_secs),
        ..Options::default()
    };
    (options, a.cluster.check)
}

fn main() -> Result<(), Box<dyn Error>> {
    let (options, check) = parse_args();
    println!("{}", app::topology(&options.topics)?.describe());
    let summary = app::run(&options)?;
    for a in summary.alerts.iter().take(10) {
        println!(
            "ALERT {} tx {}: {:.2} EUR (baseline {:.2}) in {} (home {}), {} payments in the window from {} -> score {:.1}",
            a.account,
            a.transaction,
            a.amount_cents as f64 / 100.0,
            a.baseline_cents as f64 / 100.0,
            a.country,
            a.home_country,
            a.velocity,
            a.window_start,
            a.score
        );
    }
    if let Some((url, answer)) = &summary.velocity_query {
        println!("\nGET {url}\n{answer}");
    }
    let cluster = if options.bootstrap_servers.is_some() {
        summary.bootstrap_servers.clone()
    } else {
        "the embedded mock cluster".to_string()
    };
    println!(
        "\n{} profiles and {} transactions on {cluster} ({} partitions) -> {} alerts\n\
         processed {} records; transactions produced and processed in {:.2?}: {:.0} transactions/s",
        summary.profiles,
        summary.transactions,
        options.partitions,
        summary.alerts.len(),
        summary.processed,
        summary.elapsed,
        summary.transactions_per_second()
    );
    if check {
        let (profiles, txs) = app::inputs(options.transactions, options.accounts, options.seed);
        let mut expected = app::reference_alerts(&options.topics, &profiles, &txs);
        let mut got = summary.alerts;
        let order =
            |a: &app::Alert, b: &app::Alert| (&a.account, a.transaction).cmp(&(&b.account, b.transaction));
        expected.sort_by(order);
        got.sort_by(order);
        if got != expected {
            return Err(format!(
                "the cluster raised {} alerts, the TopologyTestDriver {}",
                got.len(),
                expected.len()
            )
            .into());
        }
        println!(
            "check: the same {} alerts as the TopologyTestDriver",
            expected.len()
        );
    }
    Ok(())
}
