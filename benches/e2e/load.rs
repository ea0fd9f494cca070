//! The parent's side of the traffic: preloading input, producing at a fixed rate with the
//! wall clock as record timestamp, and reading the output `read_committed` to measure latency.

use crate::spec::{key, key_among, payload, Layout, KEYS};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn producer(bootstrap: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("partitioner", "murmur2_random")
        // The references assume the input as generated: a retried batch of a non-idempotent
        // producer can land after later ones (out of order, late for a window) or twice.
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "500000")
        .create()
        .expect("a producer")
}

fn send(p: &BaseProducer, topic: &str, key: &str, value: &[u8], ts: i64) {
    let mut r = BaseRecord::to(topic).key(key).payload(value).timestamp(ts);
    loop {
        match p.send(r) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                p.poll(Duration::from_millis(1));
                r = back;
            }
            Err((e, _)) => panic!("producing to {topic}: {e}"),
        }
    }
}

/// Writes the records of `layout`, `size` bytes each; and for the join, one profile per key
/// before them.
pub fn preload(bootstrap: &str, input: &str, profiles: Option<&str>, layout: &Layout, size: usize) {
    let p = producer(bootstrap);
    if let Some(topic) = profiles {
        for k in 0..KEYS {
            send(&p, topic, &key(k), &payload(k, 100), layout.start_ms - 1);
        }
    }
    for i in 0..layout.n {
        send(&p, input, &layout.key(i), &payload(i, size), layout.timestamp(i));
        if i % 1000 == 0 {
            p.poll(Duration::ZERO);
        }
    }
    p.flush(Duration::from_secs(120)).expect("preload flushed");
}

/// Produces `rate` records/s for `duration`, each stamped with the wall clock: record `i` is
/// `record(i, now_ms)` (key, value), or the scenario's generic record of `size` bytes. Returns
/// how many were sent, and the records themselves when `keep`.
pub fn produce_at_rate(
    bootstrap: &str,
    input: &str,
    rate: f64,
    duration: Duration,
    record: &mut dyn FnMut(u64, i64) -> (String, Vec<u8>),
    keep: bool,
) -> (u64, Vec<(String, Vec<u8>, i64)>) {
    let p = producer(bootstrap);
    let start = Instant::now();
    let mut sent = 0u64;
    let mut kept = Vec::new();
    while start.elapsed() < duration {
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        while sent < due {
            let ts = now_ms();
            let (k, v) = record(sent, ts);
            send(&p, input, &k, &v, ts);
            if keep {
                kept.push((k, v, ts));
            }
            sent += 1;
        }
        p.poll(Duration::ZERO);
        std::thread::sleep(Duration::from_micros(500));
    }
    p.flush(Duration::from_secs(60)).expect("load flushed");
    (sent, kept)
}

/// The generic record `i` of `size` bytes, its key one of `keys`.
pub fn generic(size: usize, keys: u64) -> impl FnMut(u64, i64) -> (String, Vec<u8>) {
    move |i, _| (key_among(i, keys), payload(i, size))
}

/// Reads every partition of `topic` from the start (`read_committed`) and records, for each
/// output stamped at or after `from_ms`, how long ago its timestamp was.
/// Records as read: (key, value).
pub type KeyValues = Vec<(Vec<u8>, Vec<u8>)>;

pub struct LatencyReader {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<(Vec<f64>, KeyValues)>,
}

impl LatencyReader {
    pub fn start(
        bootstrap: &str,
        topic: &str,
        partitions: i32,
        from_ms: Arc<std::sync::atomic::AtomicI64>,
        keep: bool,
    ) -> Self {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "sluice-bench-latency-reader")
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .set("fetch.wait.max.ms", "5")
            .create()
            .expect("a consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .expect("partition");
        }
        consumer.assign(&tpl).expect("assign");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut samples = Vec::new();
            let mut records = Vec::new();
            let mut quiet_since: Option<Instant> = None;
            loop {
                match consumer.poll(Duration::from_millis(20)) {
                    Some(Ok(m)) => {
                        quiet_since = None;
                        let now = now_ms();
                        if keep {
                            let k = m.key().unwrap_or_default().to_vec();
                            records.push((k, m.payload().unwrap_or_default().to_vec()));
                        }
                        if let Some(ts) = m.timestamp().to_millis() {
                            if ts >= from_ms.load(Ordering::Relaxed) {
                                samples.push((now - ts) as f64);
                            }
                        }
                    }
                    Some(Err(e)) => panic!("reading outputs: {e}"),
                    None => {
                        // After stop: drain until quiet for a second.
                        if flag.load(Ordering::Relaxed) {
                            let q = *quiet_since.get_or_insert_with(Instant::now);
                            if q.elapsed() > Duration::from_secs(1) {
                                return (samples, records);
                            }
                        }
                    }
                }
            }
        });
        LatencyReader { stop, handle }
    }

    /// Stops after draining; returns the latencies (ms) and, if kept, every record read (key,
    /// value).
    pub fn finish(self) -> (Vec<f64>, KeyValues) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("latency reader")
    }
}

/// The `q` quantile (0..=1) of sorted samples.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}
