//! The Kafka cluster an example runs on (librdkafka's in-process mock cluster, or a real one)
//! and the small client chores every example needs: creating topics, writing records, finding
//! where a topic ends.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord};
use rdkafka::{Offset, TopicPartitionList};
use sluice::engine::client::rdkafka::RdKafkaClient;
use sluice::engine::client::{KafkaClient, NewTopic};
use sluice::prelude::*;
use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The Kafka cluster of a run. The mock cluster lives as long as this value.
pub enum Cluster {
    Embedded(MockCluster<'static, rdkafka::producer::DefaultProducerContext>),
    External(String),
}

impl Cluster {
    /// The cluster at `bootstrap_servers`, or a new mock cluster.
    pub fn new(bootstrap_servers: Option<&str>) -> Result<Cluster, Box<dyn Error>> {
        Ok(match bootstrap_servers {
            Some(s) => Cluster::External(s.to_string()),
            None => Cluster::Embedded(MockCluster::new(1)?),
        })
    }

    pub fn bootstrap(&self) -> String {
        match self {
            Cluster::Embedded(m) => m.bootstrap_servers(),
            Cluster::External(s) => s.clone(),
        }
    }

    /// Creates `names` and the application's internal topics, `partitions` each. The mock
    /// cluster does not implement the CreateTopics request, so there every topic is created
    /// through its own API (the application then finds its internal topics present); a real
    /// cluster gets the named ones, and the application creates its internal topics itself.
    pub fn create_topics(
        &self,
        application_id: &str,
        topology: &Topology,
        mut names: Vec<String>,
        partitions: i32,
    ) -> Result<(), Box<dyn Error>> {
        match self {
            Cluster::Embedded(mock) => {
                names.extend(
                    topology
                        .internal_topics()
                        .iter()
                        .map(|t| t.topic.resolve(application_id)),
                );
                for name in names {
                    mock.create_topic(&name, partitions, 1)?;
                }
            }
            Cluster::External(bootstrap) => {
                let config = StreamsConfig::new(application_id, bootstrap);
                let admin = RdKafkaClient::new(Arc::new(config)).admin()?;
                let new: Vec<NewTopic> = names
                    .into_iter()
                    .map(|name| NewTopic {
                        name,
                        partitions,
                        replication_factor: -1,
                        configs: vec![],
                    })
                    .collect();
                admin.create_topics(&new)?;
            }
        }
        Ok(())
    }
}

pub fn client_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    c
}

/// Queues one record, serving deliveries while the producer's queue is full (the broker is
/// behind).
pub fn send(producer: &BaseProducer, topic: &str, key: &str, payload: &[u8], ts: i64) {
    let mut record = BaseRecord::to(topic).key(key).payload(payload).timestamp(ts);
    while let Err((_, back)) = producer.send(record) {
        producer.poll(Duration::from_millis(5));
        record = back;
    }
    producer.poll(Duration::ZERO);
}

/// The end offsets of `topic`, as the place to read new records from. A topic created a
/// moment ago may have no partition leader yet (`NotLeaderForPartition`, unknown partition):
/// asked again for up to 30 s.
pub fn ends(bootstrap: &str, topic: &str, partitions: i32) -> Result<TopicPartitionList, Box<dyn Error>> {
    let consumer: BaseConsumer = client_config(bootstrap).create()?;
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        let deadline = Instant::now() + Duration::from_secs(30);
        let high = loop {
            match consumer.fetch_watermarks(topic, p, Duration::from_secs(10)) {
                Ok((_, high)) => break high,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("{topic} [{p}]: {e}; asking again");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(format!("the end of {topic} [{p}]: {e}").into()),
            }
        };
        list.add_partition_offset(topic, p, Offset::Offset(high))?;
    }
    Ok(list)
}
