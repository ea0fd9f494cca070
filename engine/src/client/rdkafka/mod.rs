//! The seam implemented with rdkafka (librdkafka): real clusters, and librdkafka's in-process
//! mock cluster for demos.

mod admin;
mod assignment;
mod consumer;
mod errors;
mod producer;

use super::{Admin, ClientError, Consumer, ConsumerRole, KafkaClient, Producer};
use crate::config::{ProcessingGuarantee, StreamsConfig};
use ::rdkafka::config::ClientConfig;
use std::sync::Arc;

pub(crate) use errors::classify;
pub use producer::flush_promptly;

/// Makes rdkafka clients from a [`StreamsConfig`]: consumers in the application's group with
/// the range assignor and manual commits, producers with the `murmur2_random` partitioner
/// (Java clients' key placement) and, under exactly-once, transactions.
#[derive(Debug, Clone)]
pub struct RdKafkaClient {
    config: Arc<StreamsConfig>,
}

impl RdKafkaClient {
    /// Clients for `config`.
    pub fn new(config: Arc<StreamsConfig>) -> Self {
        RdKafkaClient { config }
    }

    fn exactly_once(&self) -> bool {
        self.config.processing_guarantee == ProcessingGuarantee::ExactlyOnceV2
    }

    /// Base settings plus pass-through client settings: unprefixed client keys everywhere, then
    /// the prefixes in `prefixes` (later ones win).
    fn settings(&self, client_id: &str, prefixes: &[&str]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.config.bootstrap_servers);
        c.set("client.id", client_id);
        for (k, v) in &self.config.client_overrides {
            if crate::config::is_client_key(k) {
                c.set(k, v);
            }
        }
        for prefix in prefixes {
            for (k, v) in &self.config.client_overrides {
                if let Some(key) = k.strip_prefix(prefix) {
                    c.set(key, v);
                }
            }
        }
        c
    }

    /// The librdkafka settings of a consumer in `role`: Sluice's defaults, then the user's.
    fn consumer_config(&self, role: &ConsumerRole) -> ClientConfig {
        let isolation = if self.exactly_once() {
            "read_committed"
        } else {
            "read_uncommitted"
        };
        let mut c = match role {
            ConsumerRole::Main { client_id } => {
                let mut c = self.settings(client_id, &["consumer.", "main.consumer."]);
                c.set("group.id", &self.config.application_id);
                c.set("partition.assignment.strategy", "range");
                // A paused partition (a full buffer, or a task waiting for a lagging input)
                // is fetched again only after the consumer's in-flight fetch returns: with
                // librdkafka's 500 ms long poll, a stream-table join started on a backlog lost
                // about 0.8 s at the start (1 KB join over 60,000 records: 51k records/s,
                // against 125k at 100 ms; e2e bench, same machine, runs back to back).
                c.set_if_absent("fetch.wait.max.ms", "100");
                // librdkafka prefetches until each partition holds `queued.min.messages`
                // (default 100,000) records, bounded only by `queued.max.messages.kbytes`
                // (64 MiB) for the whole queue: on a backlog of small records the prefetch was
                // most of the process's memory (e2e bench, stateless, 200,000 records of
                // 100 B: peak RSS 83-89 MiB, 47-57 with 10,000; 1 KB: 87-135, 62-67), and the
                // records/s did not change (the thread buffers at most 3,000 per partition).
                c.set_if_absent("queued.min.messages", "10000");
                // The consumer lag metric, and the idle flush's knowledge of the partitions'
                // ends (`Consumer::behind`), come from librdkafka's statistics.
                if self.config.metrics_recording_level != crate::config::MetricsLevel::Off
                    || self.config.flushes_when_idle()
                {
                    c.set_if_absent("statistics.interval.ms", "1000");
                }
                c
            }
            ConsumerRole::Restore { client_id } => {
                let mut c = self.settings(client_id, &["consumer.", "restore.consumer."]);
                // Restoration polls until a changelog runs dry: librdkafka's default 500 ms
                // fetch long-poll made every store's restore take 0.5-1 s even when empty.
                c.set_if_absent("fetch.wait.max.ms", "10");
                c
            }
            ConsumerRole::Global { client_id } => {
                self.settings(client_id, &["consumer.", "global.consumer."])
            }
        };
        // Offsets are committed by the runtime, with the task's stream time as metadata.
        c.set("enable.auto.commit", "false");
        c.set("enable.auto.offset.store", "false");
        // Partitions without a committed offset start at the beginning; the runtime moves those
        // of `latest` sources to their end itself (per source, as `Consumed` says).
        c.set("auto.offset.reset", "earliest");
        c.set("isolation.level", isolation);
        c.set("enable.partition.eof", "false");
        // Internal topics are created at start: learn of them quickly.
        c.set_if_absent("topic.metadata.refresh.interval.ms", "5000");
        // When librdkafka's prefetch queue is full (`queued.max.messages.kbytes`, 64 MiB), it
        // waits `fetch.queue.backoff.ms` (default 1 s) before fetching again, though the queue
        // drains in a fraction of that: on a backlog (benches/e2e, 1M preloaded records) the
        // consumer sat idle about half the time. At 10 ms the stateless scenario ran 4x as fast
        // and the passthrough 7.6x (both with fetch.queue.backoff.ms=1, same CPU per record).
        c.set_if_absent("fetch.queue.backoff.ms", "10");
        c
    }
}

impl KafkaClient for RdKafkaClient {
    fn consumer(&self, role: ConsumerRole) -> Result<Box<dyn Consumer>, ClientError> {
        let c = self.consumer_config(&role);
        let needs_group = matches!(role, ConsumerRole::Main { .. });
        consumer::RdConsumer::create(c, needs_group).map(|c| Box::new(c) as Box<dyn Consumer>)
    }

    fn producer(
        &self,
        client_id: &str,
        transactional_id: Option<String>,
    ) -> Result<Box<dyn Producer>, ClientError> {
        let mut c = self.settings(client_id, &["producer."]);
        c.set("partitioner", "murmur2_random");
        c.set_if_absent("enable.idempotence", "true");
        c.set_if_absent("acks", "all");
        c.set_if_absent("linger.ms", "5");
        if let Some(id) = transactional_id {
            c.set("transactional.id", id);
            c.set_if_absent(
                "transaction.timeout.ms",
                &crate::config::DEFAULT_TRANSACTION_TIMEOUT_MS.to_string(),
            );
        }
        producer::RdProducer::create(c).map(|p| Box::new(p) as Box<dyn Producer>)
    }

    fn admin(&self) -> Result<Box<dyn Admin>, ClientError> {
        let c = self.settings("admin", &["admin."]);
        admin::RdAdmin::create(c).map(|a| Box::new(a) as Box<dyn Admin>)
    }
}

/// `ClientConfig::set` unless the key was given by the user.
trait SetIfAbsent {
    fn set_if_absent(&mut self, key: &str, value: &str) -> &mut Self;
}

impl SetIfAbsent for ClientConfig {
    fn set_if_absent(&mut self, key: &str, value: &str) -> &mut Self {
        if self.get(key).is_none() {
            self.set(key, value);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(settings: &[(&str, &str)]) -> RdKafkaClient {
        let mut config = StreamsConfig::new("app", "127.0.0.1:9092");
        for (k, v) in settings {
            config.set(k, v).expect("a valid setting");
        }
        RdKafkaClient::new(Arc::new(config))
    }

    fn main_role() -> ConsumerRole {
        ConsumerRole::Main {
            client_id: "app-StreamThread-1-consumer".into(),
        }
    }

    #[test]
    fn group_consumer_bounds_its_prefetch_unless_told_otherwise() {
        let c = client(&[]).consumer_config(&main_role());
        assert_eq!(c.get("queued.min.messages"), Some("10000"));
        assert_eq!(c.get("fetch.wait.max.ms"), Some("100"));
        assert_eq!(c.get("fetch.queue.backoff.ms"), Some("10"));
        assert_eq!(c.get("group.id"), Some("app"));

        for key in [
            "main.consumer.queued.min.messages",
            "consumer.queued.min.messages",
        ] {
            let c = client(&[(key, "500")]).consumer_config(&main_role());
            assert_eq!(c.get("queued.min.messages"), Some("500"), "{key}");
        }
    }

    #[test]
    fn restore_consumer_keeps_librdkafkas_prefetch() {
        let restore = ConsumerRole::Restore {
            client_id: "app-restore-consumer".into(),
        };
        let c = client(&[]).consumer_config(&restore);
        // Restoration reads a changelog to its end as fast as it can: no bound of ours.
        assert_eq!(c.get("queued.min.messages"), None);
        assert_eq!(c.get("fetch.wait.max.ms"), Some("10"));
        assert_eq!(c.get("group.id"), None);
        assert_eq!(c.get("isolation.level"), Some("read_uncommitted"));

        let c = client(&[("processing.guarantee", "exactly_once_v2")]).consumer_config(&restore);
        assert_eq!(c.get("isolation.level"), Some("read_committed"));
    }
}
