//! The fraud velocity check as an application: its topology, and a run
//! against a Kafka cluster (librdkafka's in-process mock cluster unless bootstrap servers are
//! given) that produces generated profiles and transactions and collects the alerts.
//!
//! Shared by the example's `main` and by the test that runs it on a real broker.

#![allow(dead_code)]

use crate::common::cluster::{client_config, ends, send, Cluster};
use crate::common::{profiles, Profile, Transaction, TransactionGenerator};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::{Message, TopicPartitionList};
use serde::{Deserialize, Serialize};
use sluice::engine::{Streams, StreamsState};
use sluice::prelude::*;
use std::error::Error;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Velocity window: payments per account in 5-minute tumbling windows.
pub const WINDOW: Duration = Duration::from_secs(300);
/// Alerts are raised at this risk score or above.
pub const THRESHOLD: f64 = 0.7;

/// A payment joined with its account's baseline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Enriched {
    pub tx: Transaction,
    pub profile: Profile,
}

/// The velocity aggregate of one account and window: the count and the payment that last
/// updated it (scored as it arrives).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Velocity {
    pub count: u64,
    pub last: Option<Enriched>,
}

/// What lands on `fin.fraud-alerts`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Alert {
    pub account: String,
    pub transaction: u64,
    pub amount_cents: i64,
    pub baseline_cents: i64,
    pub country: String,
    pub home_country: String,
    pub window_start: i64,
    pub velocity: u64,
    pub score: f64,
}

/// Risk of a payment: large against the account's baseline, abroad, and part of a burst.
pub fn score(e: &Enriched, velocity: u64) -> f64 {
    let mut s = 0.0;
    if e.tx.amount_cents > 5 * e.profile.avg_amount_cents {
        s += 0.4;
    }
    if e.tx.country != e.profile.home_country {
        s += 0.2;
    }
    if velocity >= 4 {
        s += 0.4;
    }
    s
}

/// Topic names (a prefix keeps runs on a shared cluster apart).
#[derive(Debug, Clone)]
pub struct Topics {
    pub transactions: String,
    pub profiles: String,
    pub alerts: String,
}

impl Topics {
    pub fn with_prefix(prefix: &str) -> Self {
        Topics {
            transactions: format!("{prefix}fin.transactions.raw"),
            profiles: format!("{prefix}fin.customer-profiles"),
            alerts: format!("{prefix}fin.fraud-alerts"),
        }
    }
}

/// Transactions join the profiles table, are counted per account in 5-minute tumbling
/// windows (`tx-velocity-store`), scored, and the risky ones go to the alerts topic.
pub fn topology(topics: &Topics) -> Result<Topology, TopologyError> {
    let builder = StreamsBuilder::new();
    let profiles = builder.table(
        &topics.profiles,
        Consumed::with(Serde::string(), Serde::<Profile>::json()),
    );
    builder
        .stream(
            &topics.transactions,
            Consumed::with(Serde::string(), Serde::<Transaction>::json()),
        )
        .join_table(&profiles, |tx, profile| Enriched {
            tx: tx.clone(),
            profile: profile.clone(),
        })
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(WINDOW))
        .aggregate(
            Velocity::default,
            |_, e, v| Velocity {
                count: v.count + 1,
                last: Some(e.clone()),
            },
            // JSON values: an operator reads them as they are over HTTP
            // (`GET /stores/tx-velocity-store/keys/<account>`).
            Materialized::as_("tx-velocity-store").with_value_serde(Serde::json()),
        )
        .to_stream()
        .flat_map(|window, v| {
            let e = v.last.as_ref()?;
            let score = score(e, v.count);
            (score >= THRESHOLD).then(|| {
                let alert = Alert {
                    account: window.key.clone(),
                    transaction: e.tx.id,
                    amount_cents: e.tx.amount_cents,
                    baseline_cents: e.profile.avg_amount_cents,
                    country: e.tx.country.clone(),
                    home_country: e.profile.home_country.clone(),
                    window_start: window.window.start,
                    velocity: v.count,
                    score,
                };
                (window.key.clone(), alert)
            })
        })
        .to(&topics.alerts, Produced::with(Serde::string(), Serde::json()));
    builder.build()
}

/// Every input of a run, in the order it is produced: profiles (timestamped before the first
/// payment), then transactions.
pub fn inputs(transactions: usize, accounts: u64, seed: u64) -> (Vec<Profile>, Vec<Transaction>) {
    let txs: Vec<Transaction> = TransactionGenerator::new(accounts, 5, seed)
        .take(transactions)
        .collect();
    (profiles(accounts, seed), txs)
}

/// Timestamp of the profile records: just before the first payment.
pub fn profile_time(txs: &[Transaction]) -> i64 {
    txs.first().map_or(0, |t| t.timestamp - 1)
}

/// The alerts the topology raises for these inputs, computed on the TopologyTestDriver: the
/// reference a cluster run must match.
pub fn reference_alerts(topics: &Topics, profiles: &[Profile], txs: &[Transaction]) -> Vec<Alert> {
    let driver = TopologyTestDriver::new(topology(topics).expect("valid topology"));
    let p = driver.create_input_topic(&topics.profiles, Serde::string(), Serde::<Profile>::json());
    let t = driver.create_input_topic(
        &topics.transactions,
        Serde::string(),
        Serde::<Transaction>::json(),
    );
    let alerts = driver.create_output_topic(&topics.alerts, Serde::string(), Serde::<Alert>::json());
    let ts = profile_time(txs);
    for profile in profiles {
        p.pipe_input_at(profile.account.clone(), profile.clone(), ts);
    }
    for tx in txs {
        t.pipe_input_at(tx.account.clone(), tx.clone(), tx.timestamp);
    }
    alerts.read_values_to_list()
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// A Kafka cluster; `None` starts librdkafka's in-process mock cluster.
    pub bootstrap_servers: Option<String>,
    pub transactions: usize,
    pub accounts: u64,
    pub partitions: i32,
    pub seed: u64,
    pub application_id: String,
    pub topics: Topics,
    /// Where the stores live (a temporary directory when `None`).
    pub state_dir: Option<PathBuf>,
    /// `http.server.listen`: serve metrics, health and the stores over HTTP (port 0: any
    /// free port), and ask the velocity store for one account once the run is processed.
    pub http_listen: Option<String>,
    /// How long to keep serving (and processing) after the run, before closing.
    pub serve_for: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bootstrap_servers: None,
            // The mock cluster slows down badly past ~100K records.
            transactions: 50_000,
            accounts: 2_000,
            partitions: 4,
            seed: 42,
            application_id: "fraud-velocity".into(),
            topics: Topics::with_prefix(""),
            state_dir: None,
            http_listen: None,
            serve_for: Duration::ZERO,
        }
    }
}

/// What a run did.
#[derive(Debug)]
pub struct Summary {
    pub bootstrap_servers: String,
    pub profiles: usize,
    pub transactions: usize,
    /// Records the application processed (profiles and transactions).
    pub processed: u64,
    /// From the first transaction produced to the last one processed.
    pub elapsed: Duration,
    pub alerts: Vec<Alert>,
    /// With `http_listen`: the velocity query asked over HTTP, and its JSON answer.
    pub velocity_query: Option<(String, String)>,
}

impl Summary {
    pub fn transactions_per_second(&self) -> f64 {
        self.transactions as f64 / self.elapsed.as_secs_f64()
    }
}

/// Writes JSON records keyed by account, partitioned like Kafka Streams' producers.
fn produce<T: Serialize>(
    producer: &BaseProducer,
    topic: &str,
    records: impl Iterator<Item = (String, T, i64)>,
) {
    for (key, value, ts) in records {
        let payload = serde_json::to_vec(&value).expect("JSON");
        send(producer, topic, &key, &payload, ts);
    }
}

/// Reads the alerts topic from `start` until nothing new arrives for a second.
fn drain_alerts(
    bootstrap: &str,
    topic: &str,
    start: &TopicPartitionList,
) -> Result<Vec<Alert>, Box<dyn Error>> {
    let consumer: BaseConsumer = client_config(bootstrap)
        .set("group.id", "fraud-velocity-alert-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()?;
    consumer.assign(start)?;
    let mut alerts = Vec::new();
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(1) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let payload = m.payload().ok_or("an alert without a value")?;
                alerts.push(serde_json::from_slice(payload).map_err(|e| format!("alert on {topic}: {e}"))?);
                quiet_since = Instant::now();
            }
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
    }
    Ok(alerts)
}

/// Waits until the application processed `n` records in all.
fn wait_processed(streams: &Streams, n: u64, timeout: Duration) -> Result<u64, Box<dyn Error>> {
    let deadline = Instant::now() + timeout;
    loop {
        let processed = streams.metrics().total("sluice_records_processed_total", &[]);
        if processed >= n {
            return Ok(processed);
        }
        if streams.state() == StreamsState::Error || Instant::now() > deadline {
            return Err(format!(
                "processed {processed} of {n} records; state {:?}, errors {:?}",
                streams.state(),
                streams.errors()
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the application on a cluster: creates the topics, loads the profiles, then streams
/// the transactions through it and collects the alerts raised.
pub fn run(options: &Options) -> Result<Summary, Box<dyn Error>> {
    let cluster = Cluster::new(options.bootstrap_servers.as_deref())?;
    let bootstrap = cluster.bootstrap();
    let topics = &options.topics;
    let topology = topology(topics)?;
    let names = vec![
        topics.transactions.clone(),
        topics.profiles.clone(),
        topics.alerts.clone(),
    ];
    cluster.create_topics(&options.application_id, &topology, names, options.partitions)?;
    let alerts_from = ends(&bootstrap, &topics.alerts, options.partitions)?;

    let temp = tempfile::tempdir()?;
    let mut config = StreamsConfig::new(&options.application_id, &bootstrap);
    config.state_dir = options
        .state_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    for (key, value) in [
        ("commit.interval.ms", "1000"),
        // Every payment is scored: updates of the velocity table must not be coalesced.
        ("statestore.cache.max.bytes", "0"),
        ("consumer.session.timeout.ms", "10000"),
        ("consumer.heartbeat.interval.ms", "1000"),
    ] {
        config.set(key, value)?;
    }
    if let Some(listen) = &options.http_listen {
        config.set("http.server.listen", listen)?;
    }
    let streams = Streams::new(topology, config)?;
    streams.start()?;

    let producer: BaseProducer = client_config(&bootstrap)
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .create()?;
    let (profiles, txs) = inputs(options.transactions, options.accounts, options.seed);
    let profile_ts = profile_time(&txs);
    let processed_before = streams.metrics().total("sluice_records_processed_total", &[]);
    // The profiles are in the table before the first payment: a payment of an account whose
    // profile is not there yet would not join.
    produce(
        &producer,
        &topics.profiles,
        profiles
            .iter()
            .map(|p| (p.account.clone(), p.clone(), profile_ts)),
    );
    producer.flush(Duration::from_secs(60))?;
    wait_processed(
        &streams,
        processed_before + profiles.len() as u64,
        Duration::from_secs(120),
    )?;

    let started = Instant::now();
    produce(
        &producer,
        &topics.transactions,
        txs.iter().map(|t| (t.account.clone(), t.clone(), t.timestamp)),
    );
    producer.flush(Duration::from_secs(60))?;
    let total = (profiles.len() + txs.len()) as u64;
    let processed = wait_processed(&streams, processed_before + total, Duration::from_secs(600))?;
    let elapsed = started.elapsed();
    let velocity_query = match streams.http_address() {
        Some(address) => Some(ask_velocity(&address.to_string(), &txs)?),
        None => None,
    };
    std::thread::sleep(options.serve_for);
    streams.close()?;
    let alerts = drain_alerts(&bootstrap, &topics.alerts, &alerts_from)?;
    Ok(Summary {
        bootstrap_servers: bootstrap,
        profiles: profiles.len(),
        transactions: txs.len(),
        processed: processed - processed_before,
        elapsed,
        alerts,
        velocity_query,
    })
}

/// Asks the running instance, over HTTP, for the velocity windows of the account of the last
/// transaction (`GET /stores/tx-velocity-store/keys/<account>`), once its last commit holds
/// them; returns the URL and the JSON answer.
fn ask_velocity(address: &str, txs: &[Transaction]) -> Result<(String, String), Box<dyn Error>> {
    let last = txs.last().ok_or("no transactions")?;
    let url = format!("http://{address}/stores/tx-velocity-store/keys/{}", last.account);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Committed state only: the answer includes the last transaction after a commit.
        let answer = match ureq::get(&url).call() {
            Ok(r) => r.into_string()?,
            Err(e) => e.to_string(),
        };
        if answer.contains(&format!("\"id\":{},", last.id)) {
            return Ok((url, answer));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{url} never showed transaction {}; last answer: {answer}",
                last.id
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
