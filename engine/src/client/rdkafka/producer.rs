//! A producer over `BaseProducer`, reporting each record's delivery with its tag.

use super::classify;
use crate::client::{
    ClientError, ClientErrorKind, Delivery, GroupMetadata, OffsetAndMetadata, Producer, TopicPartition,
};
use crate::record::OutputRecord;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long `send` waits for room in librdkafka's queue before giving up.
const QUEUE_FULL_TIMEOUT: Duration = Duration::from_secs(60);

/// How long one wait for deliveries lasts while flushing.
const FLUSH_SLICE: Duration = Duration::from_millis(1);

/// Waits until every record sent by `producer` is delivered (its delivery reports served), or
/// `timeout` passes.
///
/// Why not `BaseProducer::flush`: in rdkafka 0.39 it waits in 100 ms slices of `poll`, and
/// `poll` serves events until its timeout ends rather than returning after the first one, so a
/// flush with any record in flight takes at least 100 ms however fast the broker acknowledges.
/// At-least-once commits flush every `commit.interval.ms` (100 ms by default), which made half
/// of every interval idle. Sleeping 1 ms between serving deliveries costs one wake-up per
/// millisecond instead.
///
/// ```no_run
/// use rdkafka::config::ClientConfig;
/// use rdkafka::producer::BaseProducer;
/// use std::time::Duration;
///
/// let producer: BaseProducer = ClientConfig::new()
///     .set("bootstrap.servers", "127.0.0.1:9092")
///     .create()
///     .unwrap();
/// sluice_engine::client::rdkafka::flush_promptly(&producer, Duration::from_secs(30)).unwrap();
/// ```
pub fn flush_promptly<C: ProducerContext>(
    producer: &BaseProducer<C>,
    timeout: Duration,
) -> Result<(), KafkaError> {
    let deadline = Instant::now() + timeout;
    loop {
        producer.poll(Duration::ZERO);
        // Counts records not yet acknowledged and delivery reports not yet served.
        if producer.in_flight_count() == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut));
        }
        // Not `poll(FLUSH_SLICE)`: its sub-millisecond remainder rounds to a zero timeout, so
        // it would spin for the whole slice.
        std::thread::sleep(FLUSH_SLICE);
    }
}

pub(crate) struct Context {
    delivered: Mutex<Vec<Delivery>>,
}

impl ClientContext for Context {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(target: "librdkafka", %error, reason, "producer error");
    }
}

impl ProducerContext for Context {
    /// The record's tag, carried in librdkafka's opaque pointer itself (a boxed tag cost an
    /// allocation per record). Tags are `1 + (task << 16) + store`; they fit a `usize` on the
    /// 64-bit targets Sluice runs on, and `send` refuses one that does not.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, tag: usize) {
        let tag = tag as u64;
        let result = match result {
            Ok(m) => {
                use rdkafka::message::Message;
                Ok((m.partition(), m.offset()))
            }
            Err((e, _)) => Err(classify("deliver record", e.clone())),
        };
        if tag == 0 && result.is_ok() {
            return;
        }
        self.delivered
            .lock()
            .expect("delivery lock poisoned")
            .push(Delivery { tag, result });
    }
}

pub(crate) struct RdProducer {
    producer: BaseProducer<Context>,
}

impl RdProducer {
    pub(crate) fn create(config: ClientConfig) -> Result<Self, ClientError> {
        let producer = config
            .create_with_context(Context {
                delivered: Mutex::new(Vec::new()),
            })
            .map_err(|e| classify("create producer", e))?;
        Ok(RdProducer { producer })
    }
}

impl Producer for RdProducer {
    fn send(&mut self, record: &OutputRecord, tag: u64) -> Result<(), ClientError> {
        let opaque = usize::try_from(tag).map_err(|_| {
            ClientError::new(
                ClientErrorKind::Fatal,
                "send record",
                "delivery tag wider than a pointer",
            )
        })?;
        let mut base = BaseRecord::with_opaque_to(&record.topic, opaque).timestamp(record.timestamp);
        // librdkafka allocates a header list even for none: only records with headers get one.
        if !record.headers.is_empty() {
            let mut headers = OwnedHeaders::new();
            for (k, v) in record.headers.iter() {
                headers = headers.insert(Header { key: k, value: v });
            }
            base = base.headers(headers);
        }
        if let Some(k) = &record.key {
            base = base.key(k.as_slice());
        }
        if let Some(v) = &record.value {
            base = base.payload(v.as_slice());
        }
        if let Some(p) = record.partition {
            base = base.partition(p);
        }
        // Read the clock only once the queue is full: not on every record.
        let mut started: Option<Instant> = None;
        loop {
            match self.producer.send(base) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned))
                    if started.get_or_insert_with(Instant::now).elapsed() < QUEUE_FULL_TIMEOUT =>
                {
                    // Backpressure: serve deliveries until there is room.
                    self.producer.poll(Duration::from_millis(10));
                    base = returned;
                }
                Err((e, _)) => return Err(classify("send record", e)),
            }
        }
    }

    fn serve_deliveries(&mut self) {
        self.producer.poll(Duration::ZERO);
    }

    fn flush(&mut self, timeout: Duration) -> Result<Vec<Delivery>, ClientError> {
        flush_promptly(&self.producer, timeout).map_err(|e| classify("flush producer", e))?;
        Ok(std::mem::take(
            &mut *self
                .producer
                .context()
                .delivered
                .lock()
                .expect("delivery lock poisoned"),
        ))
    }

    fn init_transactions(&mut self, timeout: Duration) -> Result<(), ClientError> {
        self.producer
            .init_transactions(timeout)
            .map_err(|e| classify("init transactions", e))
    }

    fn begin_transaction(&mut self) -> Result<(), ClientError> {
        self.producer
            .begin_transaction()
            .map_err(|e| classify("begin transaction", e))
    }

    fn send_offsets_to_transaction(
        &mut self,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
        group: &GroupMetadata,
        timeout: Duration,
    ) -> Result<(), ClientError> {
        let mut tpl = TopicPartitionList::new();
        for (tp, om) in offsets {
            tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(om.offset))
                .map_err(|e| classify("send offsets to transaction", e))?;
            if let Some(mut e) = tpl.find_partition(&tp.topic, tp.partition) {
                e.set_metadata(om.metadata.clone());
            }
        }
        let metadata = Arc::clone(&group.0)
            .downcast::<Mutex<ConsumerGroupMetadata>>()
            .map_err(|_| {
                ClientError::new(
                    ClientErrorKind::Fatal,
                    "send offsets to transaction",
                    "group metadata of another client",
                )
            })?;
        let metadata = metadata.lock().expect("group metadata lock poisoned");
        self.producer
            .send_offsets_to_transaction(&tpl, &metadata, timeout)
            .map_err(|e| classify("send offsets to transaction", e))
    }

    fn commit_transaction(&mut self, timeout: Duration) -> Result<(), ClientError> {
        // Duration::MAX: wait as long as it takes.
        let timeout = if timeout == Duration::MAX {
            rdkafka::util::Timeout::Never
        } else {
            rdkafka::util::Timeout::After(timeout)
        };
        self.producer
            .commit_transaction(timeout)
            .map_err(|e| classify("commit transaction", e))
    }

    fn abort_transaction(&mut self, timeout: Duration) -> Result<(), ClientError> {
        self.producer
            .abort_transaction(timeout)
            .map_err(|e| classify("abort transaction", e))
    }
}
