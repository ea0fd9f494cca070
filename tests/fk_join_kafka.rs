//! A foreign-key table join on a real broker (Apache Kafka), exactly-once, over four
//! partitions: subscriptions travel to the partition of the customer row they point at, and
//! responses back to the partition of the order that asked (not the one its key would hash to
//! on another topic). Orders are created, moved to other customers and deleted, customers
//! renamed and deleted, while the application runs; every order's last result must be its
//! final join.

mod support;

use rdkafka::message::Message;
use sluice::engine::Streams;
use sluice::prelude::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::{broker, state_dir, unique};

const CUSTOMERS: usize = 200;
const ORDERS: usize = 2_000;

#[test]
fn orders_are_joined_with_their_customers_across_partitions() {
    let b = broker();
    let orders = unique("fk-orders");
    let customers = unique("fk-customers");
    let output = unique("fk-enriched");
    for t in [&orders, &customers, &output] {
        b.create_topic(t, 4);
    }
    let builder = StreamsBuilder::new();
    let order_table = builder.table(&orders, Consumed::with(Serde::string(), Serde::string()));
    let customer_table = builder.table(&customers, Consumed::with(Serde::string(), Serde::string()));
    order_table
        .join_on_foreign_key(
            &customer_table,
            |order: &String| order.split(':').next().unwrap().to_string(),
            |order, name| format!("{} for {name}", order.split(':').nth(1).unwrap()),
        )
        .to_stream()
        .to(&output, Produced::with(Serde::string(), Serde::string()));
    let dir = state_dir();
    let mut config = b.config(&unique("fk-join"));
    config.state_dir = dir.path().to_path_buf();
    config.set("processing.guarantee", "exactly_once_v2").unwrap();
    config.set("commit.interval.ms", "100").unwrap();
    // No record cache: with one, a customer created and deleted within one commit interval
    // (the application may start on the whole backlog) is never forwarded to the join, while
    // an order that subscribed in between already met it; its result then stays (Kafka
    // Streams' caching store drops such a pair the same way). See the README's note.
    config.set("statestore.cache.max.bytes", "0").unwrap();
    let streams = Streams::new(builder.build().unwrap(), config).unwrap();
    streams.start().unwrap();

    // The model: the final rows of both tables.
    let mut customer_rows: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut order_rows: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut ts = 1_000;
    let mut produce =
        |topic: &str, rows: Vec<(String, Option<String>)>, model: &mut BTreeMap<String, Option<String>>| {
            let mut records = Vec::new();
            for (k, v) in rows {
                ts += 1;
                model.insert(k.clone(), v.clone());
                records.push((k, v.unwrap_or_else(|| "\u{0}tombstone".into()), ts));
            }
            // Tombstones go through the producer as null payloads.
            produce_with_tombstones(b, topic, &records);
        };
    produce(
        &customers,
        (0..CUSTOMERS)
            .map(|c| (format!("c{c}"), Some(format!("name-{c}"))))
            .collect(),
        &mut customer_rows,
    );
    produce(
        &orders,
        (0..ORDERS)
            .map(|o| (format!("o{o}"), Some(format!("c{}:item-{o}", o % CUSTOMERS))))
            .collect(),
        &mut order_rows,
    );
    // While it runs: orders move, customers are renamed or deleted, orders are deleted.
    produce(
        &orders,
        (0..ORDERS)
            .step_by(7)
            .map(|o| {
                (
                    format!("o{o}"),
                    Some(format!("c{}:item-{o}b", (o * 31 + 5) % CUSTOMERS)),
                )
            })
            .collect(),
        &mut order_rows,
    );
    produce(
        &customers,
        (0..CUSTOMERS)
            .step_by(4)
            .map(|c| (format!("c{c}"), Some(format!("renamed-{c}"))))
            .collect(),
        &mut customer_rows,
    );
    produce(
        &customers,
        (1..CUSTOMERS)
            .step_by(10)
            .map(|c| (format!("c{c}"), None))
            .collect(),
        &mut customer_rows,
    );
    produce(
        &orders,
        (3..ORDERS).step_by(20).map(|o| (format!("o{o}"), None)).collect(),
        &mut order_rows,
    );
    let expected: BTreeMap<String, Option<String>> = order_rows
        .iter()
        .map(|(o, row)| {
            let joined = row.as_ref().and_then(|row| {
                let (customer, item) = row.split_once(':').unwrap();
                let name = customer_rows.get(customer).cloned().flatten()?;
                Some(format!("{item} for {name}"))
            });
            (o.clone(), joined)
        })
        .collect();

    // Read the results (read_committed) until every order's last one is its final join.
    let reader = b.reader(&output);
    let mut last: BTreeMap<String, Option<String>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let settled = |last: &BTreeMap<String, Option<String>>| {
        expected
            .iter()
            .all(|(o, want)| last.get(o).cloned().flatten() == *want)
    };
    while !settled(&last) && Instant::now() < deadline {
        if let Some(Ok(m)) = reader.poll(Duration::from_millis(100)) {
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            let value = m.payload().map(|v| String::from_utf8_lossy(v).into_owned());
            last.insert(key, value);
        }
    }
    // Then nothing may undo it: read on until the output is quiet for 3 s.
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(3) && Instant::now() < deadline {
        if let Some(Ok(m)) = reader.poll(Duration::from_millis(100)) {
            quiet_since = Instant::now();
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            last.insert(key, m.payload().map(|v| String::from_utf8_lossy(v).into_owned()));
        }
    }
    streams.close().unwrap();
    let wrong: Vec<_> = expected
        .iter()
        .filter(|(o, want)| last.get(*o).cloned().flatten() != **want)
        .take(5)
        .map(|(o, want)| (o, want, last.get(o)))
        .collect();
    assert!(
        wrong.is_empty(),
        "orders whose last result is not their final join (first 5: order, wanted, got): {wrong:?}"
    );
    let joined = expected.values().filter(|v| v.is_some()).count();
    assert!(joined > ORDERS / 2, "most orders end joined ({joined})");
}

/// Writes records whose value `"\0tombstone"` stands for a null payload.
fn produce_with_tombstones(b: &support::Broker, topic: &str, records: &[(String, String, i64)]) {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &b.bootstrap)
        .set("partitioner", "murmur2_random")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for (k, v, ts) in records {
        let mut r = BaseRecord::<str, str>::to(topic).key(k.as_str()).timestamp(*ts);
        if v != "\u{0}tombstone" {
            r = r.payload(v.as_str());
        }
        support::send_retrying(&producer, r);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}
