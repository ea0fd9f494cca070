//! What one run of one scenario is, as the parent hands it to a child process.

use serde::{Deserialize, Serialize};

/// The scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Kind {
    /// (a) Raw rdkafka consume -> produce: the most any engine can reach on this broker.
    Passthrough,
    /// (b) Stateless filter + map.
    Stateless,
    /// (b) with `metrics.recording.level=OFF` (no latency histograms, no lag statistics):
    /// what Sluice's metrics cost.
    StatelessMetricsOff,
    /// (c) Windowed count, 5-minute tumbling windows per key (fraud velocity shape).
    WindowedCount,
    /// (c) with snapshots of its RocksDB stores to a local `file://` snapshot store every
    /// `SNAPSHOT_INTERVAL_MS`: what taking snapshots costs.
    WindowedCountSnapshots,
    /// (d) Stream-table join against a 10,000-key table.
    Join,
    /// (e) Sliding-window statistics per key (healthcare telemetry shape).
    Sliding,
    /// (c) run by Quix Streams, the Python peer (with `--peer`, or in full runs).
    #[value(skip)]
    QuixWindowedCount,
    /// (b) run by Kafka Streams (benches/peers/kafka-streams), same settings.
    #[value(skip)]
    KafkaStreamsStateless,
    /// (c) run by Kafka Streams.
    #[value(skip)]
    KafkaStreamsWindowedCount,
    /// (d) run by Kafka Streams.
    #[value(skip)]
    KafkaStreamsJoin,
    /// (e) run by Kafka Streams.
    #[value(skip)]
    KafkaStreamsSliding,
    /// (f) The healthcare example's application (`examples/healthcare_anomaly/`): JSON
    /// readings joined with a global table of device profiles, sliding-window scoring, session
    /// windows for offline devices (its own mode: `--healthcare`).
    #[value(skip)]
    Healthcare,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Passthrough => "(a) rdkafka passthrough",
            Kind::Stateless => "(b) stateless filter/map",
            Kind::StatelessMetricsOff => "(b) with metrics off",
            Kind::WindowedCount => "(c) windowed count",
            Kind::WindowedCountSnapshots => "(c) + snapshots every 1 s",
            Kind::Join => "(d) stream-table join",
            Kind::Sliding => "(e) sliding-window stats",
            Kind::QuixWindowedCount => "(c) Quix Streams peer",
            Kind::KafkaStreamsStateless => "(b) Kafka Streams",
            Kind::KafkaStreamsWindowedCount => "(c) Kafka Streams",
            Kind::KafkaStreamsJoin => "(d) Kafka Streams",
            Kind::KafkaStreamsSliding => "(e) Kafka Streams",
            Kind::Healthcare => "(f) healthcare anomaly",
        }
    }
}

impl Kind {
    /// The Kafka Streams peer of a Sluice scenario.
    pub fn kafka_streams_peer(self) -> Option<Kind> {
        match self {
            Kind::Stateless => Some(Kind::KafkaStreamsStateless),
            Kind::WindowedCount => Some(Kind::KafkaStreamsWindowedCount),
            Kind::Join => Some(Kind::KafkaStreamsJoin),
            Kind::Sliding => Some(Kind::KafkaStreamsSliding),
            _ => None,
        }
    }

    /// The scenario name a Kafka Streams peer kind runs (`--kind` of the Java program).
    pub fn kafka_streams_scenario(self) -> Option<&'static str> {
        match self {
            Kind::KafkaStreamsStateless => Some("stateless"),
            Kind::KafkaStreamsWindowedCount => Some("windowed-count"),
            Kind::KafkaStreamsJoin => Some("join"),
            Kind::KafkaStreamsSliding => Some("sliding"),
            _ => None,
        }
    }

    /// A scenario run by Sluice (not the passthrough, not a peer).
    pub fn is_sluice(self) -> bool {
        !matches!(self, Kind::Passthrough | Kind::QuixWindowedCount)
            && self.kafka_streams_scenario().is_none()
    }

    /// The stream-table join, by either engine: its table's records count as processed.
    pub fn is_join(self) -> bool {
        matches!(self, Kind::Join | Kind::KafkaStreamsJoin)
    }

    /// Keys of the latency load offered at `rate` records/s.
    ///
    /// The throughput input is 1 ms of event time per record over [`KEYS`] keys, so each key
    /// recurs every 10 s of event time. The latency load is stamped with the wall clock: over
    /// [`KEYS`] keys at 10,000 records/s a key would recur every second. The sliding-window
    /// statistics pay per record for every window of the key that the record falls in (about
    /// 3 of 30 s each in the throughput input, 30 at that rate), so their latency load spreads
    /// over as many keys as keep the throughput input's 10 s between a key's records, after a
    /// warm-up of one window ([`Kind::latency_warmup_secs`]) that fills the windows as in the
    /// throughput run. The other scenarios keep [`KEYS`]: the join's table has that many rows,
    /// and the windowed count's cost does not depend on how often a key recurs.
    pub fn latency_keys(self, rate: f64) -> u64 {
        match self {
            Kind::Sliding | Kind::KafkaStreamsSliding => {
                KEYS.max((rate * KEY_RECURRENCE_MS as f64 / 1000.0) as u64)
            }
            _ => KEYS,
        }
    }

    /// Seconds the latency load runs unmeasured before a full run's measured 10 s: one 30 s
    /// window for the sliding-window statistics, so that a record meets as many earlier
    /// records of its key as in the throughput run (see [`Kind::latency_keys`]); none for the
    /// others, whose cost per record does not grow with the records before it.
    pub fn latency_warmup_secs(self) -> u64 {
        match self {
            Kind::Sliding | Kind::KafkaStreamsSliding => 30,
            _ => 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Guarantee {
    AtLeastOnce,
    ExactlyOnce,
}

impl Guarantee {
    pub fn label(self) -> &'static str {
        match self {
            Guarantee::AtLeastOnce => "ALO",
            Guarantee::ExactlyOnce => "EOS",
        }
    }

    pub fn config_value(self) -> &'static str {
        match self {
            Guarantee::AtLeastOnce => "at_least_once",
            Guarantee::ExactlyOnce => "exactly_once_v2",
        }
    }
}

/// Keys of the generated records (and rows of the join's table).
pub const KEYS: u64 = 10_000;
/// Event time between two records of a key in the throughput input (1 ms per record).
const KEY_RECURRENCE_MS: u64 = KEYS;
/// Partitions of every topic.
pub const PARTITIONS: i32 = 4;
/// Commit interval of every engine, both guarantees.
pub const COMMIT_INTERVAL_MS: u64 = 100;
/// `state.snapshot.interval.ms` of the snapshot scenario: 30 times more often than the default,
/// so that a run of a few seconds takes several.
pub const SNAPSHOT_INTERVAL_MS: u64 = 1000;

/// One run: the child runs `kind` from `input` to `output` until it processed `expect`
/// records (throughput) or the parent says stop (`expect` = 0: latency).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    pub kind: Kind,
    pub guarantee: Guarantee,
    pub size: usize,
    pub bootstrap: String,
    pub app: String,
    pub input: String,
    pub output: String,
    pub profiles: Option<String>,
    pub expect: u64,
    pub state_dir: String,
    /// librdkafka settings for the consumers of Sluice and the passthrough (`--consumer`).
    #[serde(default)]
    pub consumer_settings: Vec<(String, String)>,
    /// Sluice settings of every Sluice child (`--streams`).
    #[serde(default)]
    pub streams_settings: Vec<(String, String)>,
    /// `num.stream.threads` of a Sluice child (the scaling runs).
    #[serde(default = "one")]
    pub threads: usize,
    /// Records processed before the throughput window opens; 0: 5% of `expect`.
    #[serde(default)]
    pub measure_from: u64,
}

fn one() -> usize {
    1
}

impl Spec {
    /// Records processed before the throughput window opens.
    pub fn warm_up(&self) -> u64 {
        if self.measure_from > 0 {
            self.measure_from
        } else {
            self.expect.div_ceil(20)
        }
    }
}

/// How a preloaded input is laid out: record `i` has key `key(i)` and timestamp `timestamp(i)`,
/// ascending.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Records.
    pub n: u64,
    /// Distinct keys, cycled through.
    pub keys: u64,
    /// The first record's timestamp.
    pub start_ms: i64,
    /// The last record's timestamp is `start_ms + span_ms * (n - 1) / n`.
    pub span_ms: i64,
}

/// Tumbling windows of the windowed count: 5 minutes.
pub const WINDOW_MS: i64 = 300_000;

impl Layout {
    /// `n` records over `KEYS` keys, 1 ms apart, the last one stamped now: the usual input.
    pub fn ending_now(n: u64) -> Layout {
        Layout {
            n,
            keys: KEYS,
            start_ms: crate::load::now_ms() - n as i64,
            span_ms: n as i64,
        }
    }

    /// `n` records over `keys` keys, all inside the last whole 5-minute window before now: a
    /// windowed count's store then holds exactly `keys` entries once each key was seen.
    pub fn one_window(n: u64, keys: u64) -> Layout {
        let last = crate::load::now_ms() - WINDOW_MS;
        Layout {
            n,
            keys,
            start_ms: last - last.rem_euclid(WINDOW_MS),
            span_ms: WINDOW_MS - 1,
        }
    }

    pub fn key(&self, i: u64) -> String {
        key_among(i, self.keys)
    }

    pub fn timestamp(&self, i: u64) -> i64 {
        self.start_ms + (i as i128 * self.span_ms as i128 / self.n.max(1) as i128) as i64
    }
}

/// What a child measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChildResult {
    /// Records processed in the measured window.
    pub records: u64,
    /// Wall time of the window (throughput: from 5% to 100% of the input).
    pub seconds: f64,
    /// Process CPU time (all threads, librdkafka's included) in the window.
    pub cpu_seconds: f64,
    /// Peak resident set size of the process.
    pub peak_rss_bytes: u64,
    /// Snapshots published during the run (the snapshot scenario).
    #[serde(default)]
    pub snapshots: u64,
    /// Milliseconds the stream thread spent checkpointing for them.
    #[serde(default)]
    pub checkpoint_ms: u64,
    /// Rust heap allocations in the window (this binary's engines only).
    #[serde(default)]
    pub allocations: u64,
    /// Sluice's commits over the child's whole life (`sluice_commit_latency_seconds`, every
    /// stream thread), for latency runs: where a record may wait before it is visible.
    #[serde(default)]
    pub commits: CommitLatency,
    /// Records Sluice handed to its producer (outputs and changelog records) per record
    /// processed, over the child's whole life (`sluice_records_sent_total`).
    #[serde(default)]
    pub sent_per_record: Option<f64>,
}

/// A summary of the engine's commit-latency histogram.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CommitLatency {
    /// Successful commits.
    pub count: u64,
    /// Their total duration, seconds.
    pub sum_seconds: f64,
    /// Cumulative counts by upper bound in seconds (the histogram's finite buckets).
    pub buckets: Vec<(f64, u64)>,
}

impl CommitLatency {
    /// Reads `sluice_commit_latency_seconds` from a Prometheus text page, summed over threads.
    pub fn from_prometheus(page: &str) -> Self {
        const NAME: &str = "sluice_commit_latency_seconds";
        let mut c = CommitLatency::default();
        for line in page.lines().filter(|l| l.starts_with(NAME)) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else { continue };
            let rest = &series[NAME.len()..];
            if rest.starts_with("_sum") {
                c.sum_seconds += value;
            } else if rest.starts_with("_count") {
                c.count += value as u64;
            } else if let Some(le) = rest.split("le=\"").nth(1).and_then(|s| s.split('"').next()) {
                // `+Inf` is the count (and JSON has no infinity).
                let Some(bound) = le.parse::<f64>().ok().filter(|b| b.is_finite()) else {
                    continue;
                };
                match c.buckets.iter_mut().find(|(b, _)| *b == bound) {
                    Some((_, n)) => *n += value as u64,
                    None => c.buckets.push((bound, value as u64)),
                }
            }
        }
        c.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        c
    }

    /// The upper bound (ms) of the bucket holding quantile `q` (infinite past the last
    /// bucket): the histogram's resolution is a factor of 2.
    pub fn quantile_bound_ms(&self, q: f64) -> f64 {
        let rank = (q * self.count as f64).ceil() as u64;
        self.buckets
            .iter()
            .find(|(_, n)| *n >= rank.max(1))
            .map_or(f64::INFINITY, |(b, _)| 1000.0 * b)
    }

    /// One line: count, mean and the bucket bounds of p50 and p99.
    pub fn describe(&self) -> String {
        if self.count == 0 {
            return "no commits recorded".to_string();
        }
        format!(
            "{} commits, mean {:.1} ms, p50 <= {:.0} ms, p99 <= {:.0} ms",
            self.count,
            1000.0 * self.sum_seconds / self.count as f64,
            self.quantile_bound_ms(0.5),
            self.quantile_bound_ms(0.99)
        )
    }
}

/// The key of record `i`.
pub fn key(i: u64) -> String {
    key_among(i, KEYS)
}

/// The key of record `i` when `keys` keys are cycled through.
pub fn key_among(i: u64, keys: u64) -> String {
    format!("k{:05}", i % keys)
}

/// A payload of `size` bytes: a reading (f64, big-endian) then filler.
pub fn payload(i: u64, size: usize) -> Vec<u8> {
    let mut v = vec![b'x'; size.max(8)];
    let reading = 60.0 + (i % 80) as f64;
    v[..8].copy_from_slice(&reading.to_be_bytes());
    v
}

/// The reading in a payload.
pub fn reading(payload: &[u8]) -> f64 {
    payload
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0.0, f64::from_be_bytes)
}
