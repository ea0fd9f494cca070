//! End-to-end benchmark harness: throughput, latency percentiles, CPU per
//! record and peak memory of Sluice against a Kafka broker, as ratios to a raw rdkafka
//! consume->produce passthrough measured in the same run, with Quix Streams as the peer.
//!
//! ```text
//! cargo bench --bench e2e                                   # full run on Apache Kafka (started here)
//! cargo bench --bench e2e -- --bootstrap-servers HOST:PORT  # any cluster
//! cargo bench --bench e2e -- --quick                        # smoke run (`cargo test` runs it)
//! cargo bench --bench e2e -- --quick --peer                 # smoke run with the Python peer
//! ```
//!
//! Scenarios, 4 partitions, 100-byte and 1 KB records, each at-least-once and exactly-once v2
//! with a 100 ms commit interval: (a) rdkafka passthrough, (b) stateless filter/map,
//! (c) 5-minute tumbling windowed count, (d) stream-table join, (e) sliding-window statistics,
//! and (c) run by Quix Streams. Every engine runs in its own child process (its CPU time and
//! peak RSS are its own) with one processing thread.
//!
//! - Throughput: the input is preloaded; records/s over the window from 5% to 100% of it.
//!   Then the output is read back and checked against a reference computed from the input
//!   (`verify.rs`): a run with a wrong output fails the bench.
//! - Latency: records produced at one fixed rate per record size — half of the slowest Sluice
//!   scenario's throughput, so that every Sluice run sustains it — stamped with the wall clock;
//!   latency = when a `read_committed` reader sees the output - the input's timestamp (outputs
//!   carry their input's time; windowed results the latest of their window).
//!
//! Output: a table on stdout, `target/sluice-bench/e2e.json` and `e2e.svg`; child logs in
//! `target/sluice-bench/logs/`.
//!
//! `cargo bench --bench e2e -- --profile sliding` (or `stateless`, `windowed-count`, `join`,
//! `passthrough`) runs one at-least-once throughput run of that scenario under
//! `perf record` (cpu-clock samples, DWARF call graphs) and prints where the time goes.
//! `--scenarios passthrough,windowed-count,windowed-count-snapshots` runs only those; `--help`
//! lists every flag.

mod alloc;
mod child;
#[path = "../../examples/common/mod.rs"]
mod common;
mod healthcare;
#[path = "../../examples/healthcare_anomaly/app.rs"]
mod healthcare_app;
mod instructions;
mod load;
mod passthrough;
mod peer;
mod report;
mod scaling;
mod scenarios;
mod spec;
mod store_growth;
#[path = "../../tests/support/mod.rs"]
mod support;
mod sys;
#[path = "../../examples/healthcare_anomaly/telemetry.rs"]
mod telemetry;
mod verify;

use clap::Parser;
use report::{Report, Row};
use sluice::engine::client::rdkafka::RdKafkaClient;
use sluice::engine::client::{KafkaClient, NewTopic};
use sluice::engine::StreamsConfig;
use spec::{ChildResult, Guarantee, Kind, Spec, KEYS, PARTITIONS};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::AtomicI64;
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// A child process running one engine.
struct ChildProc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    log: PathBuf,
}

impl ChildProc {
    fn spawn(mut cmd: Command, log: PathBuf) -> ChildProc {
        let stderr = std::fs::File::create(&log).expect("child log");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawning a benchmark child");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ChildProc {
            stdin: child.stdin.take(),
            child,
            lines,
            log,
        }
    }

    /// The first line starting with `prefix`, within `timeout`.
    fn wait_for(&self, prefix: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l,
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                    "no {prefix} from the child within {timeout:?}; see {}",
                    self.log.display()
                ),
                Err(mpsc::RecvTimeoutError::Disconnected) => panic!(
                    "the child exited before printing {prefix}; see {}",
                    self.log.display()
                ),
            }
        }
    }

    fn stop(&mut self) {
        self.stop_after(0);
    }

    /// Stops the child once it processed `n` records.
    fn stop_after(&mut self, n: u64) {
        if let Some(mut s) = self.stdin.take() {
            let _ = writeln!(s, "stop {n}");
        }
    }

    fn result(mut self, timeout: Duration) -> ChildResult {
        let line = self.wait_for("RESULT ", timeout);
        let _ = self.child.wait();
        let json = &line["RESULT ".len()..];
        serde_json::from_str(json).unwrap_or_else(|e| panic!("a child result ({e}): {json}"))
    }
}

struct Harness {
    bootstrap: String,
    out_dir: PathBuf,
    temp: tempfile::TempDir,
    runs: u32,
    /// Record the children with `perf record` into this file.
    perf: Option<PathBuf>,
    /// A command (with its arguments) that runs every Sluice and passthrough child (`--wrap`).
    wrap: Vec<String>,
    /// The Kafka Streams peer's class path, once built.
    kafka_streams: Option<String>,
    /// `--consumer` settings.
    consumer_settings: Vec<(String, String)>,
    /// `--streams` settings.
    streams_settings: Vec<(String, String)>,
}

impl Harness {
    fn create_topics(&self, names: &[&str]) {
        let config = StreamsConfig::new("sluice-bench", &self.bootstrap);
        let admin = RdKafkaClient::new(Arc::new(config)).admin().expect("admin");
        let topics: Vec<NewTopic> = names
            .iter()
            .map(|n| NewTopic {
                name: n.to_string(),
                partitions: PARTITIONS,
                replication_factor: -1,
                configs: vec![],
            })
            .collect();
        admin.create_topics(&topics).expect("creating benchmark topics");
    }

    /// A fresh spec (own topics, group and state directory) for one run.
    fn spec(&mut self, kind: Kind, guarantee: Guarantee, size: usize, expect: u64) -> Spec {
        self.runs += 1;
        let id = format!("bench-{}-{}", std::process::id(), self.runs);
        let profiles = match kind {
            k if k.is_join() => Some(format!("{id}-profiles")),
            Kind::Healthcare => Some(format!("{id}-devices")),
            _ => None,
        };
        let spec = Spec {
            kind,
            guarantee,
            size,
            bootstrap: self.bootstrap.clone(),
            app: id.clone(),
            input: format!("{id}-in"),
            output: format!("{id}-out"),
            profiles,
            expect,
            state_dir: self.temp.path().join(&id).display().to_string(),
            consumer_settings: self.consumer_settings.clone(),
            streams_settings: self.streams_settings.clone(),
            threads: 1,
            measure_from: 0,
        };
        let mut topics = vec![spec.input.clone(), spec.output.clone()];
        topics.extend(spec.profiles.clone());
        if kind == Kind::Healthcare {
            topics.push(healthcare::topics(&spec).dead_letters);
        }
        self.create_topics(&topics.iter().map(String::as_str).collect::<Vec<_>>());
        spec
    }

    fn spawn(&self, spec: &Spec) -> ChildProc {
        let cmd = if spec.kind == Kind::QuixWindowedCount {
            peer::command(spec)
        } else if spec.kind.kafka_streams_scenario().is_some() {
            peer::kafka_streams_command(spec, self.kafka_streams.as_deref().expect("the peer was built"))
        } else if let Some(data) = &self.perf {
            let mut c = Command::new("perf");
            c.args([
                "record",
                "-e",
                "cpu-clock",
                "-F",
                "999",
                "--call-graph",
                "dwarf,32768",
                "-o",
            ])
            .arg(data)
            .arg("--")
            // `--wrap` inside perf: `--profile join --wrap "env LD_PRELOAD=..."` profiles the
            // child with another allocator.
            .args(&self.wrap)
            .arg(std::env::current_exe().expect("own path"))
            .arg("--child")
            .arg(serde_json::to_string(spec).expect("json"));
            c
        } else if let Some((program, args)) = self.wrap.split_first() {
            let mut c = Command::new(program);
            c.args(args)
                .arg(std::env::current_exe().expect("own path"))
                .arg("--child")
                .arg(serde_json::to_string(spec).expect("json"));
            c
        } else {
            let mut c = Command::new(std::env::current_exe().expect("own path"));
            c.arg("--child").arg(serde_json::to_string(spec).expect("json"));
            c
        };
        let logs = self.out_dir.join("logs");
        std::fs::create_dir_all(&logs).expect("log dir");
        // Named after the state directory: the app id, with the instance's number when several
        // instances run one app (the scaling runs).
        let name = std::path::Path::new(&spec.state_dir)
            .file_name()
            .map_or_else(|| spec.app.clone(), |n| n.to_string_lossy().into_owned());
        ChildProc::spawn(cmd, logs.join(format!("{name}.log")))
    }

    /// Writes `layout`'s records of `size` bytes to `spec`'s input (and the join's profiles).
    fn preload(&self, spec: &Spec, layout: &spec::Layout, size: usize) {
        load::preload(
            &self.bootstrap,
            &spec.input,
            spec.profiles.as_deref(),
            layout,
            size,
        );
    }

    /// Preloads `n` records and measures how fast the engine gets through them.
    fn throughput(&mut self, kind: Kind, guarantee: Guarantee, size: usize, n: u64) -> ChildResult {
        let extra = if kind.is_join() { KEYS } else { 0 };
        let spec = self.spec(kind, guarantee, size, n + extra);
        let layout = spec::Layout::ending_now(n);
        self.preload(&spec, &layout, size);
        let child = self.spawn(&spec);
        let result = child.result(Duration::from_secs(1800));
        verified(
            &spec,
            &verify::Input { layout, size },
            &format!("{} {}", kind.label(), guarantee.label()),
        );
        result
    }

    /// Offers `rate` records/s for `warmup` s plus a second unmeasured, then measures latency
    /// for `secs`.
    fn latency(
        &mut self,
        kind: Kind,
        guarantee: Guarantee,
        size: usize,
        rate: f64,
        secs: u64,
        warmup: u64,
    ) -> (ChildResult, Vec<f64>, bool) {
        let spec = self.spec(kind, guarantee, size, 0);
        self.preload(&spec, &spec::Layout::ending_now(0), size);
        let mut child = self.spawn(&spec);
        let mut extra = if kind.is_join() { KEYS } else { 0 };
        if kind == Kind::QuixWindowedCount {
            // The peer says READY once it processed a record.
            load::preload(
                &self.bootstrap,
                &spec.input,
                None,
                &spec::Layout::ending_now(1),
                size,
            );
            extra += 1;
        }
        child.wait_for("READY", Duration::from_secs(180));
        let from = Arc::new(AtomicI64::new(load::now_ms() + 1000 * (1 + warmup as i64)));
        let reader = load::LatencyReader::start(
            &self.bootstrap,
            &spec.output,
            PARTITIONS,
            Arc::clone(&from),
            false,
        );
        let (sent, _) = load::produce_at_rate(
            &self.bootstrap,
            &spec.input,
            rate,
            Duration::from_secs(warmup + secs + 1),
            &mut load::generic(size, kind.latency_keys(rate)),
            false,
        );
        std::thread::sleep(Duration::from_millis(500));
        child.stop();
        let result = child.result(Duration::from_secs(300));
        let (mut samples, _) = reader.finish();
        samples.sort_by(f64::total_cmp);
        let expected = (sent + extra) as f64;
        let sustained = result.records as f64 >= 0.98 * expected - 1.0;
        println!(
            "  latency run: {sent} records offered, {} processed, {} outputs timed",
            result.records,
            samples.len()
        );
        let metrics_off = kind == Kind::StatelessMetricsOff
            || spec
                .streams_settings
                .iter()
                .any(|(k, v)| k == "metrics.recording.level" && v.eq_ignore_ascii_case("off"));
        if kind.is_sluice() && !metrics_off {
            // The summary is read from the engine's metrics page: a page this parser no longer
            // understands must fail the run, not print "no commits".
            assert!(
                result.commits.count > 0,
                "no commit latency read from the metrics page"
            );
            println!("  its commits (whole run): {}", result.commits.describe());
        }
        (result, samples, sustained)
    }
}

/// Checks the output of `run` (see `verify`): says what was verified, or fails the bench.
fn verified(spec: &Spec, input: &verify::Input, run: &str) {
    match verify::check_run(spec, input) {
        Ok(what) => println!("  {run}: output verified ({what})"),
        Err(what) => panic!("{run}: wrong output, the run does not count: {what}"),
    }
}

/// One latency run of scenario (f) at `rate` readings/s.
struct Probe {
    rate: f64,
    sent: u64,
    processed: u64,
    /// Latencies (ms) of the alerts, sorted.
    samples: Vec<f64>,
    sustained: bool,
    peak_rss_bytes: u64,
}

impl Probe {
    fn p(&self, q: f64) -> f64 {
        load::quantile(&self.samples, q)
    }

    /// Within the objective: every reading processed and the p99 under 500 ms.
    fn within(&self) -> bool {
        self.sustained && self.p(0.99) <= healthcare_app::SLA.as_millis() as f64
    }
}

impl Harness {
    /// Offers `rate` readings/s to the healthcare application for `warm_secs` + `secs` (plus a
    /// second) with `devices` profiles loaded, and measures the last `secs`; with `check`,
    /// requires the TopologyTestDriver's alerts for the same readings.
    #[allow(clippy::too_many_arguments)]
    fn healthcare_probe(
        &mut self,
        guarantee: Guarantee,
        rate: f64,
        warm_secs: u64,
        secs: u64,
        devices: u64,
        check: bool,
    ) -> Probe {
        let spec = self.spec(Kind::Healthcare, guarantee, 0, 0);
        let topics = healthcare::topics(&spec);
        healthcare::preload_profiles(&self.bootstrap, &topics.devices, devices);
        let mut readings = healthcare::Readings::new(rate, devices);
        let mut child = self.spawn(&spec);
        child.wait_for("READY", Duration::from_secs(180));
        // The load runs `warm_secs` unmeasured first, so that the windows fill up (steady
        // state: a minute of readings per device), then `secs` (after a second) measured.
        let from = Arc::new(AtomicI64::new(load::now_ms() + 1000 * (warm_secs + 1) as i64));
        let reader = load::LatencyReader::start(
            &self.bootstrap,
            &spec.output,
            PARTITIONS,
            Arc::clone(&from),
            check,
        );
        let (sent, kept) = load::produce_at_rate(
            &self.bootstrap,
            &spec.input,
            rate,
            Duration::from_secs(warm_secs + secs + 1),
            &mut |i, ts| readings.record(i, ts),
            check,
        );
        std::thread::sleep(Duration::from_millis(500));
        // A checked run needs every reading processed before the child stops.
        child.stop_after(if check { sent } else { 0 });
        let result = child.result(Duration::from_secs(300));
        let (mut samples, read) = reader.finish();
        samples.sort_by(f64::total_cmp);
        let sustained = result.records as f64 >= 0.98 * sent as f64 - 1.0;
        let probe = Probe {
            rate,
            sent,
            processed: result.records,
            samples,
            sustained,
            peak_rss_bytes: result.peak_rss_bytes,
        };
        println!(
            "  {} {:>7.0} readings/s ({} devices, {warm_secs} s unmeasured first): {} sent, {} processed, \
             {} alerts timed; p50 {:.0} ms, p99 {:.0} ms",
            guarantee.label(),
            rate,
            readings.active(),
            probe.sent,
            probe.processed,
            probe.samples.len(),
            probe.p(0.5),
            probe.p(0.99)
        );
        if check {
            // The child stops on `stop`, which may come before the last readings were
            // processed: the check needs all of them.
            assert_eq!(probe.processed, sent, "the checked run processed every reading");
            let expected = healthcare::reference(&topics, devices, &kept);
            let got = healthcare::normalise(&read);
            assert!(!expected.is_empty(), "the checked run raises alerts");
            assert!(
                got == expected,
                "scenario (f): {} alerts on the cluster, {} from the TopologyTestDriver",
                got.len(),
                expected.len()
            );
            println!(
                "  checked: the same {} alerts as the TopologyTestDriver",
                got.len()
            );
        }
        probe
    }
}

/// Unmeasured load before each probe of the search: a statistics window's worth.
const WARM_SECS: u64 = 60;

/// Scenario (f): per guarantee, the highest rate whose p99 stays within 500 ms (doubling, then
/// bisecting to within 15%), and the latency percentiles at half that rate (checked against
/// the TopologyTestDriver).
fn healthcare_search(h: &mut Harness, secs: u64) {
    println!(
        "(f) healthcare anomaly: {} device profiles, a reading per active device every {} s; \
         {secs} s per probe",
        healthcare::DEVICES,
        healthcare::READING_INTERVAL_S
    );
    let mut lines = Vec::new();
    for guarantee in [Guarantee::AtLeastOnce, Guarantee::ExactlyOnce] {
        let (mut good, mut bad): (Option<f64>, Option<f64>) = (None, None);
        let mut rate = 1_000.0;
        for _ in 0..10 {
            let probe = h.healthcare_probe(guarantee, rate, WARM_SECS, secs, healthcare::DEVICES, false);
            if probe.within() {
                good = Some(rate);
            } else {
                bad = Some(rate);
            }
            rate = match (good, bad) {
                (Some(g), Some(b)) if b / g <= 1.15 => break,
                (Some(g), Some(b)) => (g + b) / 2.0,
                (Some(g), None) => 2.0 * g,
                (None, Some(b)) if b <= 125.0 => break,
                (None, Some(b)) => b / 2.0,
                (None, None) => unreachable!("a probe ran"),
            };
        }
        let Some(best) = good else {
            lines.push(format!(
                "{}: p99 over 500 ms even at the lowest rate tried",
                guarantee.label()
            ));
            continue;
        };
        let half = h.healthcare_probe(guarantee, best / 2.0, WARM_SECS, secs, healthcare::DEVICES, true);
        lines.push(format!(
            "{}: highest rate with p99 <= 500 ms: {best:.0} readings/s; at {:.0}/s: p50 {:.0} ms, \
             p99 {:.0} ms, p99.9 {:.0} ms ({} alerts timed), peak RSS {:.0} MiB",
            guarantee.label(),
            half.rate,
            half.p(0.5),
            half.p(0.99),
            half.p(0.999),
            half.samples.len(),
            half.peak_rss_bytes as f64 / (1 << 20) as f64
        ));
    }
    println!(
        "
(f) healthcare anomaly on this broker and machine:"
    );
    for l in lines {
        println!("  {l}");
    }
}

/// One throughput run of scenario `kind` under `perf record`, then the hottest symbols.
/// With `store_keys` (the windowed count only), the store-growth run of its first size.
fn profile(h: &mut Harness, kind: Kind, store_keys: &[u64], records: u64) {
    let name = format!("{kind:?}").to_lowercase();
    let data = h.out_dir.join(format!("{name}.perf.data"));
    std::fs::create_dir_all(&h.out_dir).expect("output dir");
    h.perf = Some(data.clone());
    let rate = match store_keys.first() {
        Some(&keys) if kind == Kind::WindowedCount => {
            store_growth::run(h, &[keys], STORE_GROWTH_MEASURED)[0].records_per_second
        }
        Some(_) => panic!("--store-keys profiles the windowed count only"),
        None => {
            let t = h.throughput(kind, Guarantee::AtLeastOnce, 100, records);
            t.records as f64 / t.seconds
        }
    };
    println!(
        "{}: {rate:.0} records/s under perf (sampling slows it); profile in {}",
        kind.label(),
        data.display()
    );
    let status = Command::new("perf")
        .args([
            "report",
            "--stdio",
            "--no-children",
            "--sort",
            "dso,symbol",
            "--percent-limit",
            "1",
            "-g",
            "none",
            "-i",
        ])
        .arg(&data)
        .status();
    if !status.is_ok_and(|s| s.success()) {
        println!(
            "perf report failed: read {} with `perf report -i`",
            data.display()
        );
    }
}

#[derive(Parser, Debug)]
#[command(
    about = "End-to-end throughput, latency, CPU and memory of Sluice on a Kafka broker, \
                   against an rdkafka passthrough and Quix Streams in the same run"
)]
struct Args {
    /// Run on this cluster instead of an Apache Kafka broker started here.
    #[arg(long, value_name = "HOST:PORT")]
    bootstrap_servers: Option<String>,
    /// A smoke run (5,000 records per run, 100-byte records): what `cargo test` runs.
    #[arg(long)]
    quick: bool,
    /// Run the peers (Quix Streams, Kafka Streams) in a smoke run, or with `--scenarios`, too.
    #[arg(long)]
    peer: bool,
    /// Run the Kafka Streams peer (not Quix Streams) in a smoke run, or with `--scenarios`.
    #[arg(long)]
    kafka_streams: bool,
    /// Only these scenarios (comma-separated); ratios need the passthrough.
    #[arg(long, value_enum, value_delimiter = ',')]
    scenarios: Vec<Kind>,
    /// One at-least-once throughput run of this scenario under `perf record` (100 B records,
    /// `--records` of them, default 200,000), then where its time goes.
    #[arg(long, value_enum, value_name = "SCENARIO")]
    profile: Option<Kind>,
    /// Preloaded records per throughput run (default: 200,000 of 100 bytes and 60,000 of
    /// 1 KB; 5,000 in smoke runs).
    #[arg(long)]
    records: Option<u64>,
    /// Record sizes in bytes (default: 100 and 1024; 100 in smoke runs).
    #[arg(long, value_delimiter = ',')]
    sizes: Vec<usize>,
    /// Throughput runs per cell; the table shows the median (default: 3, 1 in smoke runs).
    #[arg(long)]
    runs: Option<usize>,
    /// Offer this many records/s in the latency runs instead of half the slowest Sluice
    /// scenario's throughput: an A/B of a setting at one load, whatever each run's throughput.
    #[arg(long, value_name = "RECORDS_PER_SECOND")]
    latency_rate: Option<f64>,
    /// Only the latency search of scenario (f), the healthcare application.
    #[arg(long)]
    healthcare: bool,
    /// Only the scaling runs: records/s with 1 and 2 stream threads and with 2 instances, of
    /// the Sluice scenarios chosen by `--scenarios` (default: stateless, windowed count, join,
    /// sliding), both guarantees, the first of `--sizes` (default 100 B), `--records` each
    /// (default 1,000,000).
    #[arg(long)]
    scaling: bool,
    /// Only instructions per record: one throughput run per scenario (`--scenarios`, default
    /// all but the peers) and guarantee under callgrind (valgrind), `--records` each (default
    /// 100,000 of 100 B). Repeats within a few percent where CPU time swings by a third: an
    /// A/B of a change or a setting (`--streams`) run by run.
    #[arg(long)]
    instructions: bool,
    /// Only the store-growth runs: the windowed count's CPU per record with its window store
    /// holding each of these numbers of keys (e.g. 10000,100000,1000000,10000000). With
    /// `--profile windowed-count`: profile the run of the first size.
    #[arg(long, value_delimiter = ',', value_name = "KEYS")]
    store_keys: Vec<u64>,
    /// A librdkafka setting (`key=value`, repeatable) for the consumers of Sluice and the
    /// passthrough, to try consumer tuning on both alike.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_setting)]
    consumer: Vec<(String, String)>,
    /// A Sluice setting (`key=value`, its `StreamsConfig` key, repeatable) for every Sluice
    /// child, applied after the scenario's own: an A/B of one setting with one binary.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_setting)]
    streams: Vec<(String, String)>,
    /// Run every Sluice and passthrough child under this command (split at spaces), for
    /// example `--wrap heaptrack` to see where a scenario allocates; with `--profile`, inside
    /// `perf record`.
    #[arg(long, value_name = "COMMAND")]
    wrap: Option<String>,
    /// Runs one engine on one scenario (the harness's child processes).
    #[arg(long, hide = true, value_name = "SPEC_JSON")]
    child: Option<String>,
    /// Passed by `cargo bench`; without it (`cargo test`) the run is `--quick`.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Records measured per store-growth run of a full run, once the store is full.
const STORE_GROWTH_MEASURED: u64 = 500_000;

/// Writes `value` as JSON to `dir/name` and says where.
fn write_json(dir: &std::path::Path, name: &str, value: &impl serde::Serialize) {
    std::fs::create_dir_all(dir).expect("output dir");
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).expect("json")).expect("writing the results");
    println!("wrote {}", path.display());
}

fn parse_setting(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not key=value"))
}

fn main() {
    let args = Args::parse();
    if let Some(spec) = &args.child {
        child::run(serde_json::from_str(spec).expect("a child spec"));
        return;
    }
    let full = args.bench && !args.quick;
    let external = args.bootstrap_servers.clone();
    // The scaling runs start several group members at once: on a broker with Kafka's default
    // initial rebalance delay (the test brokers have none), the group's first assignment
    // waits for all of them instead of handing every partition to the first one.
    let overrides: &[(&str, &str)] = if args.scaling {
        &[("group.initial.rebalance.delay.ms", "3000")]
    } else {
        &[]
    };
    let broker = external.is_none().then(|| support::Broker::start_with(overrides));
    let bootstrap = external
        .clone()
        .unwrap_or_else(|| broker.as_ref().expect("started").bootstrap.clone());
    let out_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/sluice-bench");
    let mut h = Harness {
        bootstrap: bootstrap.clone(),
        out_dir: out_dir.clone(),
        temp: tempfile::tempdir().expect("temp dir"),
        runs: 0,
        perf: None,
        wrap: args
            .wrap
            .as_deref()
            .map(|w| w.split_whitespace().map(String::from).collect())
            .unwrap_or_default(),
        kafka_streams: None,
        consumer_settings: args.consumer.clone(),
        streams_settings: args.streams.clone(),
    };
    if let Some(kind) = args.profile {
        profile(&mut h, kind, &args.store_keys, args.records.unwrap_or(200_000));
        return;
    }
    if args.healthcare {
        healthcare_search(&mut h, 10);
        return;
    }
    if args.scaling {
        let kinds: Vec<Kind> = if args.scenarios.is_empty() {
            vec![Kind::Stateless, Kind::WindowedCount, Kind::Join, Kind::Sliding]
        } else {
            args.scenarios.iter().copied().filter(|k| k.is_sluice()).collect()
        };
        let size = args.sizes.first().copied().unwrap_or(100);
        let n = args.records.unwrap_or(if full { 1_000_000 } else { 20_000 });
        let cells = scaling::run(&mut h, &kinds, size, n, args.runs.unwrap_or(1), full);
        write_json(&out_dir, "scaling.json", &cells);
        return;
    }
    if args.instructions {
        let kinds: Vec<Kind> = if args.scenarios.is_empty() {
            vec![
                Kind::Passthrough,
                Kind::Stateless,
                Kind::WindowedCount,
                Kind::Join,
                Kind::Sliding,
            ]
        } else {
            args.scenarios.clone()
        };
        let n = args.records.unwrap_or(if full { 100_000 } else { 2_000 });
        let cells = instructions::run(&mut h, &kinds, n);
        write_json(&out_dir, "instructions.json", &cells);
        return;
    }
    if !args.store_keys.is_empty() {
        let measured = if full { STORE_GROWTH_MEASURED } else { 5_000 };
        let cells = store_growth::run(&mut h, &args.store_keys, measured);
        write_json(&out_dir, "store-growth.json", &cells);
        return;
    }

    let sizes: &[usize] = match (&args.sizes[..], full) {
        ([], true) => &[100, 1024],
        ([], false) => &[100],
        (chosen, _) => chosen,
    };
    let records = |size: usize| -> u64 {
        match (args.records, full, size) {
            (Some(n), _, _) => n,
            (None, false, _) => 5_000,
            (None, true, 100) => 200_000,
            (None, true, _) => 60_000,
        }
    };
    let runs = args.runs.unwrap_or(if full { 3 } else { 1 }).max(1);
    let latency_secs = if full { 10 } else { 2 };
    let mut notes = Vec::new();
    let peer = if (full && args.scenarios.is_empty()) || args.peer {
        peer::available()
    } else {
        Err("the peer runs in full runs of every scenario (or with --peer) only".to_string())
    };
    if let Err(why) = &peer {
        notes.push(format!("Quix Streams peer not run: {why}"));
    }
    let kinds: Vec<Kind> = [
        Kind::Passthrough,
        Kind::Stateless,
        Kind::StatelessMetricsOff,
        Kind::WindowedCount,
        Kind::WindowedCountSnapshots,
        Kind::Join,
        Kind::Sliding,
    ]
    .into_iter()
    .filter(|k| args.scenarios.is_empty() || args.scenarios.contains(k))
    .collect();
    println!(
        "end-to-end benchmark ({}) on {}: {PARTITIONS} partitions, one processing thread per engine",
        if full { "full" } else { "quick" },
        external
            .as_deref()
            .unwrap_or("Apache Kafka 4.4.0 (single-node KRaft, started by the harness)")
    );

    let mut rows: Vec<Row> = Vec::new();
    let mut all_kinds = kinds.to_vec();
    if peer.is_ok() {
        all_kinds.push(Kind::QuixWindowedCount);
    }
    // Kafka Streams runs the scenarios chosen (with the peers).
    if (full && args.scenarios.is_empty()) || args.peer || args.kafka_streams {
        match peer::kafka_streams_classpath(&out_dir.join("kafka-streams-peer")) {
            Ok(classpath) => {
                h.kafka_streams = Some(classpath);
                all_kinds.extend(kinds.iter().filter_map(|k| k.kafka_streams_peer()));
            }
            Err(why) => notes.push(format!("Kafka Streams peer not run: {why}")),
        }
    }
    let guarantees = [Guarantee::AtLeastOnce, Guarantee::ExactlyOnce];
    for &size in sizes {
        let n = records(size);
        println!("{size}-byte records: throughput over {n} preloaded records per run");
        // Per cell: kind, guarantee, the median run, and the slowest and fastest records/s.
        let mut throughputs = Vec::new();
        for guarantee in guarantees {
            for &kind in &all_kinds {
                let mut all: Vec<spec::ChildResult> = (0..runs)
                    .map(|_| h.throughput(kind, guarantee, size, n))
                    .collect();
                let rate = |t: &spec::ChildResult| t.records as f64 / t.seconds;
                all.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
                let (slowest, fastest) = (rate(&all[0]), rate(&all[all.len() - 1]));
                let spread = format!("{slowest:.0}-{fastest:.0}");
                let t = all.swap_remove(all.len() / 2);
                let allocations = if kind.is_sluice() || kind == Kind::Passthrough {
                    format!(
                        ", {:.1} allocations per record",
                        t.allocations as f64 / t.records.max(1) as f64
                    )
                } else {
                    String::new()
                };
                let sent = t
                    .sent_per_record
                    .map_or(String::new(), |x| format!(", {x:.2} records written per record"));
                println!(
                    "  {:<27}{:>4}{:>11.0} records/s (median of {runs}: {spread}), {:.2} us CPU per record{allocations}{sent}",
                    kind.label(),
                    guarantee.label(),
                    rate(&t),
                    1e6 * t.cpu_seconds / t.records.max(1) as f64
                );
                if kind == Kind::WindowedCountSnapshots {
                    println!(
                        "    {} snapshots published during the run; the stream thread spent {} ms of {:.1} s checkpointing",
                        t.snapshots, t.checkpoint_ms, t.seconds
                    );
                    // Otherwise this row measured nothing.
                    assert!(t.snapshots > 0, "no snapshot published during the run");
                }
                throughputs.push((kind, guarantee, t, (slowest, fastest)));
            }
            let rate_of = |kind: Kind| {
                throughputs
                    .iter()
                    .find(|(k, g, _, _)| (*k, *g) == (kind, guarantee))
                    .map(|(_, _, t, _)| (t.records as f64 / t.seconds, t.snapshots))
            };
            // What metrics cost: records per CPU-second with them over without (CPU, not wall
            // time: the broker and the load share the machine).
            let per_cpu = |kind: Kind| {
                throughputs
                    .iter()
                    .find(|(k, g, _, _)| (*k, *g) == (kind, guarantee))
                    .map(|(_, _, t, _)| t.records as f64 / t.cpu_seconds)
            };
            if let (Some(on), Some(off)) = (per_cpu(Kind::Stateless), per_cpu(Kind::StatelessMetricsOff)) {
                let note = format!(
                    "{size} B {}: stateless records per CPU-second with metrics / without = {:.3} (goal: cost under 3%, at least 0.970)",
                    guarantee.label(),
                    on / off
                );
                println!("  {note}");
                notes.push(note);
            }
            if let (Some((without, _)), Some((with, taken))) = (
                rate_of(Kind::WindowedCount),
                rate_of(Kind::WindowedCountSnapshots),
            ) {
                let note = format!(
                    "{size} B {}: windowed count with snapshots every {} ms / without = {:.2} ({taken} snapshots)",
                    guarantee.label(),
                    spec::SNAPSHOT_INTERVAL_MS,
                    with / without
                );
                println!("  {note}");
                notes.push(note);
            }
        }
        // One offered load for every latency run of this size: half of the slowest Sluice
        // scenario's throughput, so that each Sluice run can sustain it (half of (a) would
        // overload every engine on this broker). The peer is flagged if it falls behind.
        // Without a Sluice scenario in the run (`--scenarios`), the slowest of what ran: the
        // load must stay finite, or the generator fills the broker's disk.
        let rate_of =
            |(_, _, t, _): &(Kind, Guarantee, spec::ChildResult, (f64, f64))| t.records as f64 / t.seconds;
        let sluice: Vec<f64> = throughputs
            .iter()
            .filter(|(k, _, _, _)| k.is_sluice())
            .map(rate_of)
            .collect();
        let slowest = if sluice.is_empty() {
            throughputs.iter().map(rate_of).fold(f64::INFINITY, f64::min)
        } else {
            sluice.into_iter().fold(f64::INFINITY, f64::min)
        };
        let mut rate = args.latency_rate.unwrap_or(0.5 * slowest);
        if !full && args.latency_rate.is_none() {
            // Smoke runs are debug builds: keep the load modest.
            rate = rate.min(2_000.0);
        }
        println!(
            "{size}-byte records: latency at {rate:.0} records/s offered, {latency_secs} s per run{}",
            if full {
                format!(
                    " (sliding-window statistics: after {} s unmeasured)",
                    Kind::Sliding.latency_warmup_secs()
                )
            } else {
                String::new()
            }
        );
        for (kind, guarantee, t, (min, max)) in throughputs {
            let warmup = if full { kind.latency_warmup_secs() } else { 0 };
            let (l, samples, sustained) = h.latency(kind, guarantee, size, rate, latency_secs, warmup);
            let rps = t.records as f64 / t.seconds;
            let row = Row {
                kind,
                scenario: kind.label().to_string(),
                guarantee,
                size,
                records_per_second: rps,
                records_per_second_min: min,
                records_per_second_max: max,
                megabytes_per_second: rps * size as f64 / 1e6,
                ratio_to_passthrough: f64::NAN,
                eos_over_alo: None,
                cpu_microseconds_per_record: 1e6 * t.cpu_seconds / t.records.max(1) as f64,
                allocations_per_record: (kind.is_sluice() || kind == Kind::Passthrough)
                    .then(|| t.allocations as f64 / t.records.max(1) as f64),
                sent_per_record: if kind == Kind::Passthrough {
                    Some(1.0)
                } else {
                    t.sent_per_record
                },
                peak_rss_mib: t.peak_rss_bytes.max(l.peak_rss_bytes) as f64 / (1 << 20) as f64,
                offered_load: rate,
                latency_p50_ms: load::quantile(&samples, 0.5),
                latency_p99_ms: load::quantile(&samples, 0.99),
                latency_p999_ms: load::quantile(&samples, 0.999),
                latency_samples: samples.len(),
                sustained,
            };
            rows.push(row);
        }
    }
    // Ratios to figures of the same run: (a) under the same guarantee and size; EOS over ALO.
    let rates: Vec<(Kind, Guarantee, usize, f64)> = rows
        .iter()
        .map(|r| (r.kind, r.guarantee, r.size, r.records_per_second))
        .collect();
    let find = |kind: Kind, guarantee: Guarantee, size: usize| {
        rates
            .iter()
            .find(|(k, g, s, _)| (*k, *g, *s) == (kind, guarantee, size))
            .map(|(_, _, _, rps)| *rps)
    };
    for r in &mut rows {
        r.ratio_to_passthrough =
            find(Kind::Passthrough, r.guarantee, r.size).map_or(f64::NAN, |p| r.records_per_second / p);
        if r.guarantee == Guarantee::ExactlyOnce {
            r.eos_over_alo = find(r.kind, Guarantee::AtLeastOnce, r.size).map(|a| r.records_per_second / a);
        }
    }
    // Sluice against Kafka Streams, scenario by scenario (goals: >= 3x its records per
    // CPU-second, <= 1/4 of its peak RSS).
    for r in &rows {
        let Some(theirs) = r.kind.kafka_streams_peer().and_then(|peer| {
            rows.iter()
                .find(|o| (o.kind, o.guarantee, o.size) == (peer, r.guarantee, r.size))
        }) else {
            continue;
        };
        let per_cpu = theirs.cpu_microseconds_per_record / r.cpu_microseconds_per_record;
        let rss = r.peak_rss_mib / theirs.peak_rss_mib;
        let note = format!(
            "{} {} {} B vs Kafka Streams: records/s {:.2}x, records per CPU-second {per_cpu:.2}x (goal >= 3: {}), peak RSS {rss:.3} of its (goal <= 0.25: {})",
            r.kind.label(),
            r.guarantee.label(),
            r.size,
            r.records_per_second / theirs.records_per_second,
            report::verdict(per_cpu >= 3.0),
            report::verdict(rss <= 0.25),
        );
        println!("{note}");
        notes.push(note);
    }
    notes.push(format!(
        "records/s are medians of {runs} throughput runs per cell"
    ));
    let mut report = Report {
        mode: if full { "full" } else { "quick" }.into(),
        broker: external.unwrap_or_else(|| "Apache Kafka 4.4.0, single-node KRaft, same machine".into()),
        records: sizes.iter().map(|&s| (s, records(s))).collect(),
        latency_seconds: latency_secs,
        rows,
        notes,
        goals: Vec::new(),
    };
    report.goals = report::goals(&report);
    println!("\n{}", report::table(&report));
    for n in &report.notes {
        println!("note: {n}");
    }
    println!("\ngoals (Sluice against the passthrough, same run):");
    for g in &report.goals {
        println!("  {g}");
    }
    report::write(&report, &out_dir).expect("writing the report");
    println!(
        "wrote {} and {}",
        out_dir.join("e2e.json").display(),
        out_dir.join("e2e.svg").display()
    );
    if full && args.scenarios.is_empty() {
        healthcare_search(&mut h, latency_secs);
    } else if full {
        println!("(f) healthcare anomaly: not run (--scenarios chose others)");
    } else {
        // Smoke: one checked probe of scenario (f) at a low rate.
        println!("(f) healthcare anomaly, smoke probe:");
        h.healthcare_probe(Guarantee::AtLeastOnce, 200.0, 0, latency_secs, 2_000, true);
        // Smoke runs of the other modes: their outputs are verified like every run's; two
        // instances of the windowed count also check that a rebalance loses and duplicates
        // nothing.
        scaling::run(&mut h, &[Kind::WindowedCount], 100, 20_000, 1, false);
        store_growth::run(&mut h, &[1_000, 10_000], 5_000);
    }
    drop(broker);
}
