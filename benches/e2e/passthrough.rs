//! Scenario (a): consume -> produce with rdkafka alone, committing every 100 ms like the
//! engines (at-least-once: flush then commit offsets; exactly-once: offsets in a transaction).
//! No deserialization, no state: the ceiling any engine can reach on this broker.

use crate::spec::{Guarantee, Spec, COMMIT_INTERVAL_MS};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use sluice::engine::client::rdkafka::flush_promptly;
use std::time::{Duration, Instant};

pub struct Passthrough {
    consumer: BaseConsumer,
    producer: BaseProducer,
    exactly_once: bool,
    output: String,
    in_transaction: bool,
    last_commit: Instant,
    /// Records produced so far.
    pub produced: u64,
}

impl Passthrough {
    pub fn new(spec: &Spec) -> Result<Self, KafkaError> {
        let exactly_once = spec.guarantee == Guarantee::ExactlyOnce;
        let mut consumer_config = ClientConfig::new();
        // As Sluice's group consumers (see its rdkafka client): librdkafka's 1 s backoff left
        // the consumer idle half the time on a backlog, and its 100,000-record prefetch per
        // partition was most of the process's memory.
        consumer_config.set("fetch.queue.backoff.ms", "10");
        consumer_config.set("queued.min.messages", "10000");
        for (key, value) in &spec.consumer_settings {
            consumer_config.set(key, value);
        }
        let consumer: BaseConsumer = consumer_config
            .set("bootstrap.servers", &spec.bootstrap)
            .set("group.id", &spec.app)
            .set("partition.assignment.strategy", "range")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set(
                "isolation.level",
                if exactly_once {
                    "read_committed"
                } else {
                    "read_uncommitted"
                },
            )
            .create()?;
        consumer.subscribe(&[&spec.input])?;
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &spec.bootstrap)
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .set("acks", "all")
            .set("enable.idempotence", "true");
        if exactly_once {
            config.set("transactional.id", format!("{}-passthrough", spec.app));
        }
        let producer: BaseProducer = config.create()?;
        if exactly_once {
            producer.init_transactions(Duration::from_secs(30))?;
        }
        Ok(Passthrough {
            consumer,
            producer,
            exactly_once,
            output: spec.output.clone(),
            in_transaction: false,
            last_commit: Instant::now(),
            produced: 0,
        })
    }

    /// True once the group assigned partitions.
    pub fn assigned(&self) -> bool {
        self.consumer.assignment().is_ok_and(|a| a.count() > 0)
    }

    /// Polls a batch, forwards it, commits when due.
    pub fn step(&mut self) -> Result<(), KafkaError> {
        let mut wait = Duration::from_millis(50);
        for _ in 0..2000 {
            let Some(m) = self.consumer.poll(wait) else { break };
            wait = Duration::ZERO;
            let m = m?;
            if self.exactly_once && !self.in_transaction {
                self.producer.begin_transaction()?;
                self.in_transaction = true;
            }
            let mut record = BaseRecord::<[u8], [u8]>::to(&self.output);
            if let Some(k) = m.key() {
                record = record.key(k);
            }
            if let Some(v) = m.payload() {
                record = record.payload(v);
            }
            if let Some(ts) = m.timestamp().to_millis() {
                record = record.timestamp(ts);
            }
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        self.producer.poll(Duration::from_millis(1));
                        record = back;
                    }
                    Err((e, _)) => return Err(e),
                }
            }
            self.produced += 1;
        }
        self.producer.poll(Duration::ZERO);
        if self.last_commit.elapsed() >= Duration::from_millis(COMMIT_INTERVAL_MS) {
            self.commit()?;
        }
        Ok(())
    }

    fn positions(&self) -> Result<TopicPartitionList, KafkaError> {
        let mut tpl = TopicPartitionList::new();
        for e in self.consumer.position()?.elements() {
            if let Offset::Offset(o) = e.offset() {
                tpl.add_partition_offset(e.topic(), e.partition(), Offset::Offset(o))?;
            }
        }
        Ok(tpl)
    }

    pub fn commit(&mut self) -> Result<(), KafkaError> {
        self.last_commit = Instant::now();
        let offsets = self.positions()?;
        if offsets.count() == 0 {
            return Ok(());
        }
        if self.exactly_once {
            if self.in_transaction {
                // As Sluice does: deliver first, so that the commit does not wait on its own
                // (librdkafka's flush inside `commit_transaction` costs ~100 ms here).
                flush_promptly(&self.producer, Duration::from_secs(60))?;
                let group = self.consumer.group_metadata().expect("a group member");
                self.producer
                    .send_offsets_to_transaction(&offsets, &group, Duration::from_secs(30))?;
                self.producer.commit_transaction(Duration::from_secs(60))?;
                self.in_transaction = false;
            }
        } else {
            // Not `BaseProducer::flush`, which takes at least 100 ms (see `flush_promptly`).
            flush_promptly(&self.producer, Duration::from_secs(60))?;
            self.consumer.commit(&offsets, CommitMode::Sync)?;
        }
        Ok(())
    }
}
