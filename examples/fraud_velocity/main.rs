//! Fraud velocity check (USE-CASES.md §1) on a Kafka cluster: card transactions join the
//! customer-profiles table, are counted per account in 5-minute tumbling windows, scored, and
//! risky payments become alerts on `fin.fraud-alerts`.
//!
//! Without `--bootstrap-servers` it starts librdkafka's in-process mock cluster: nothing to
//! install. It prints the topology, the first alerts and a throughput summary.
//!
//! ```text
//! cargo run --release --example fraud_velocity
//! cargo run --release --example fraud_velocity -- --bootstrap-servers 127.0.0.1:9092 --transactions 200000
//! ```
//!
//! Options: `--bootstrap-servers HOST:PORT`, `--transactions N` (default 50,000: the mock
//! cluster slows down badly past ~100K records), `--accounts N` (2,000), `--partitions N` (4),
//! `--seed N` (42), `--application-id ID` (fraud-velocity), `--topic-prefix P` (none),
//! `--check` (also compute the alerts on the TopologyTestDriver and require the same ones).

mod app;
#[path = "../common/mod.rs"]
mod common;

use app::{Options, Topics};
use std::error::Error;

fn parse_args() -> Result<(Options, bool), Box<dyn Error>> {
    let mut options = Options::default();
    let mut check = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--check" {
            check = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--bootstrap-servers" => options.bootstrap_servers = Some(value),
            "--transactions" => options.transactions = value.parse()?,
            "--accounts" => options.accounts = value.parse()?,
            "--partitions" => options.partitions = value.parse()?,
            "--seed" => options.seed = value.parse()?,
            "--application-id" => options.application_id = value,
            "--topic-prefix" => options.topics = Topics::with_prefix(&value),
            _ => {
                return Err(format!(
                    "unknown option {flag}; see the header of examples/fraud_velocity/main.rs"
                )
                .into())
            }
        }
    }
    Ok((options, check))
}

fn main() -> Result<(), Box<dyn Error>> {
    let (options, check) = parse_args()?;
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
