//! Quick start: a card-activity topology run on the TopologyTestDriver — no broker needed.
//!
//! Transactions (JSON, keyed by account) are aggregated per account into running activity
//! statistics; accounts whose latest payment is over three times their running average and that have
//! been busy are flagged on an alerts topic. The example prints the topology, the alerts, and
//! a throughput summary.
//!
//! ```text
//! cargo run --release --example quickstart [-- <transactions> <accounts>]
//! ```

mod common;

use common::{Transaction, TransactionGenerator};
use serde::{Deserialize, Serialize};
use sluice::prelude::*;
use std::time::Instant;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Activity {
    count: u64,
    total_cents: i64,
    last_cents: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Alert {
    account: String,
    payments: u64,
    last_cents: i64,
    average_cents: i64,
}

fn topology() -> Result<Topology, TopologyError> {
    let builder = StreamsBuilder::new();
    builder
        .stream(
            "fin.transactions.raw",
            Consumed::with(Serde::string(), Serde::<Transaction>::json()),
        )
        .filter(|_, tx| tx.amount_cents > 0)
        .group_by_key()
        .aggregate(
            Activity::default,
            |_, tx, a| Activity {
                count: a.count + 1,
                total_cents: a.total_cents + tx.amount_cents,
                last_cents: tx.amount_cents,
            },
            Materialized::as_("account-activity"),
        )
        .to_stream()
        .filter(|_, a| a.count >= 5 && a.last_cents > 3 * (a.total_cents / a.count as i64))
        .map_values_with_key(|account, a| Alert {
            account: account.clone(),
            payments: a.count,
            last_cents: a.last_cents,
            average_cents: a.total_cents / a.count as i64,
        })
        .to(
            "fin.activity-alerts",
            Produced::with(Serde::string(), Serde::json()),
        );
    builder.build()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let transactions: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(200_000);
    let accounts: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2_000);

    let topology = topology()?;
    println!("{}", topology.describe());

    let driver = TopologyTestDriver::new(topology);
    let input = driver.create_input_topic(
        "fin.transactions.raw",
        Serde::string(),
        Serde::<Transaction>::json(),
    );
    let alerts = driver.create_output_topic("fin.activity-alerts", Serde::string(), Serde::<Alert>::json());

    let started = Instant::now();
    let mut alert_count = 0usize;
    for tx in TransactionGenerator::new(accounts, 5, 42).take(transactions) {
        let ts = tx.timestamp;
        input.pipe_input_at(tx.account.clone(), tx, ts);
        for alert in alerts.read_values_to_list() {
            alert_count += 1;
            if alert_count <= 10 {
                println!(
                    "ALERT {}: payment {:.2} EUR vs average {:.2} EUR over {} payments",
                    alert.account,
                    alert.last_cents as f64 / 100.0,
                    alert.average_cents as f64 / 100.0,
                    alert.payments
                );
            }
        }
    }
    let elapsed = started.elapsed();
    let store = driver.key_value_store::<String, Activity>("account-activity")?;
    println!(
        "\n{transactions} transactions over {} accounts -> {alert_count} alerts in {:.2?} ({:.0} records/s on the test driver)",
        store.approximate_num_entries(),
        elapsed,
        transactions as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
