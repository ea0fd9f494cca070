//! The built-in HTTP endpoint (`http.server.listen`) on a real broker, through a real HTTP
//! client: Prometheus metrics that parse and count what was processed, consumer lag that
//! drains to 0, readiness, the topology, and 4xx answers to bad requests.

mod support;

use std::time::{Duration, Instant};
use support::{broker, count_topology, state_dir, unique};

const WAIT: Duration = Duration::from_secs(60);

/// `GET url`: (status, body), whatever the status.
fn get(url: &str) -> (u16, String) {
    match ureq::get(url).timeout(Duration::from_secs(10)).call() {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(status, r)) => (status, r.into_string().unwrap()),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

/// Every sample of the `/metrics` page, parsed as Prometheus text.
fn scrape(base: &str) -> prometheus_parse::Scrape {
    let (status, body) = get(&format!("{base}/metrics"));
    assert_eq!(status, 200, "{body}");
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text")
}

fn value(s: &prometheus_parse::Sample) -> f64 {
    match s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        ref other => panic!("{}: not a number: {other:?}", s.metric),
    }
}

fn sum(scrape: &prometheus_parse::Scrape, metric: &str) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .map(value)
        .sum()
}

/// Observations of histogram `metric` over all its series (their `+Inf` buckets).
fn histogram_count(scrape: &prometheus_parse::Scrape, metric: &str) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .map(|s| match &s.value {
            prometheus_parse::Value::Histogram(buckets) => buckets
                .iter()
                .find(|b| b.less_than.is_infinite())
                .map_or(0.0, |b| b.count),
            other => panic!("{metric}: not a histogram: {other:?}"),
        })
        .sum()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Polls until `ok` holds (or fails with `what`).
fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !ok() {
        assert!(Instant::now() < deadline, "not within {WAIT:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn metrics_lag_health_and_topology_over_http() {
    let b = broker();
    let (input, output) = b.topic_pair("http", 2);
    let app = unique("http");
    let dir = state_dir();
    let mut config = b.config(&app);
    config.state_dir = dir.path().to_path_buf();
    config.set("commit.interval.ms", "100").unwrap();
    // No record cache: every input record's count reaches the sink.
    config.set("statestore.cache.max.bytes", "0").unwrap();
    config.set("http.server.listen", "127.0.0.1:0").unwrap();
    let streams = sluice::engine::Streams::new(count_topology(&input, &output), config).unwrap();
    assert_eq!(streams.http_address(), None, "no endpoint before start");
    streams.start().unwrap();
    let base = format!(
        "http://{}",
        streams.http_address().expect("listening once started")
    );
    assert_eq!(get(&format!("{base}/health/live")).0, 200);

    let start = now_ms() - 1_000;
    let records: Vec<(String, String, i64)> = (0..500)
        .map(|i| (format!("k{}", i % 17), format!("v{i}"), start + i))
        .collect();
    b.produce(&input, &records);
    eventually("every record processed, as /metrics says", || {
        sum(&scrape(&base), "sluice_records_processed_total") == 500.0
    });
    eventually("ready: running, nothing restoring", || {
        get(&format!("{base}/health/ready")).0 == 200
    });
    // Lag per assigned input partition, from the consumer's positions and high watermarks.
    eventually("lag of both input partitions reported, and 0", || {
        let s = scrape(&base);
        let lags: Vec<_> = s
            .samples
            .iter()
            .filter(|s| s.metric == "sluice_consumer_lag" && s.labels.get("topic") == Some(input.as_str()))
            .collect();
        lags.len() == 2 && lags.iter().all(|s| value(s) == 0.0)
    });

    // End-to-end latency: one observation per record the sink wrote, all of them within the
    // minute this test takes (finite buckets, not only +Inf); commit latency per commit.
    let s = scrape(&base);
    assert_eq!(b.consume(&output, 500, WAIT).len(), 500, "500 counts written");
    assert_eq!(histogram_count(&s, "sluice_record_e2e_latency_seconds"), 500.0);
    // Per series (one per task), the observations under the 65.536 s bound.
    let under_a_minute: f64 = s
        .samples
        .iter()
        .filter(|s| s.metric == "sluice_record_e2e_latency_seconds")
        .map(|s| match &s.value {
            prometheus_parse::Value::Histogram(buckets) => buckets
                .iter()
                .filter(|b| b.less_than <= 65.536)
                .map(|b| b.count)
                .fold(0.0, f64::max),
            other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(under_a_minute, 500.0, "every latency under a minute");
    // The counter and the histogram render apart: a commit between them could show in one
    // only, so compare once the thread is idle (no new commit without new input).
    eventually("one commit latency per commit", || {
        let s = scrape(&base);
        let commits = histogram_count(&s, "sluice_commit_latency_seconds");
        commits >= 1.0 && commits == sum(&s, "sluice_commits_total")
    });

    let (status, topology) = get(&format!("{base}/topology"));
    assert_eq!(status, 200);
    assert!(topology.contains(&input), "{topology}");
    // Interactive queries over HTTP: key k3 was counted 30 times (i % 17 == 3 for 30 of
    // 0..500), as JSON, once committed.
    // States as state sets, and RocksDB's memory against the instance's bound.
    let s = scrape(&base);
    let sample = |metric: &str, labels: &[(&str, &str)]| -> Option<f64> {
        s.samples
            .iter()
            .find(|x| x.metric == metric && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
            .map(value)
    };
    assert_eq!(
        sample("sluice_instance_state", &[("state", "Running")]),
        Some(1.0)
    );
    assert_eq!(
        sample("sluice_instance_state", &[("state", "Rebalancing")]),
        Some(0.0)
    );
    assert_eq!(
        sample(
            "sluice_stream_thread_state",
            &[("thread", "0"), ("state", "Running")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample("sluice_rocksdb_memory_bound_bytes", &[]),
        Some((64u64 << 20) as f64),
        "the default rocksdb.block.cache.bytes"
    );
    assert!(sample("sluice_rocksdb_block_cache_usage_bytes", &[]).is_some());
    assert!(sample("sluice_rocksdb_memtable_usage_bytes", &[]).is_some());
    // On by default: the count read its 17 keys through its store's read cache.
    assert!(
        sample("sluice_rocksdb_row_cache_usage_bytes", &[]).is_some_and(|bytes| bytes > 17.0 * 64.0),
        "the stores' read caches hold the counted keys"
    );

    let (status, stores) = get(&format!("{base}/stores"));
    assert_eq!(status, 200);
    assert!(
        stores.contains(r#"{"kind":"key-value","name":"counts"}"#),
        "{stores}"
    );
    eventually("k3's committed count served over HTTP", || {
        get(&format!("{base}/stores/counts/keys/k3")) == (200, "{\"key\":\"k3\",\"value\":30}\n".to_string())
    });
    // Keys from k1 to k2, both included, in byte order: k1, k10..k16, k2.
    let (status, range) = get(&format!("{base}/stores/counts/range?from=k1&to=k2"));
    assert_eq!(status, 200, "{range}");
    let range: serde_json::Value = serde_json::from_str(&range).unwrap();
    let keys: Vec<&str> = range["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["k1", "k10", "k11", "k12", "k13", "k14", "k15", "k16", "k2"]
    );
    // One record in 64 is timed for the process latency.
    let sampled = histogram_count(&scrape(&base), "sluice_process_latency_seconds");
    assert!(
        (4.0..=8.0).contains(&sampled),
        "500 records over two tasks: {sampled} samples"
    );
    let (status, page) = get(&format!("{base}/stores/counts/all?limit=5"));
    assert_eq!(status, 200);
    let page: serde_json::Value = serde_json::from_str(&page).unwrap();
    assert_eq!(page["entries"].as_array().unwrap().len(), 5, "{page}");
    assert_eq!(page["entries"][0], serde_json::json!({"key": "k0", "value": 30}));
    for (path, status) in [
        ("/stores/counts/keys/absent", 404),
        ("/stores/nope/keys/k3", 404),
        ("/stores/counts/all?limit=20000", 400),
        ("/stores/counts/all?limit=many", 400),
        ("/stores/counts/sideways", 404),
    ] {
        let (got, body) = get(&format!("{base}{path}"));
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.contains("error"), "{path}: a reason: {body}");
    }
    let (status, body) = get(&format!("{base}/nope"));
    assert_eq!(status, 404);
    assert!(body.contains("/metrics"), "a 404 says what there is: {body}");
    let posted = ureq::post(&format!("{base}/metrics")).call();
    assert!(matches!(posted, Err(ureq::Error::Status(405, _))), "{posted:?}");

    streams.close().unwrap();
    assert!(
        ureq::get(&format!("{base}/health/live"))
            .timeout(Duration::from_secs(5))
            .call()
            .is_err(),
        "the endpoint stops with the instance"
    );
}

#[test]
fn a_taken_port_fails_the_start() {
    let b = broker();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (input, output) = b.topic_pair("http-taken", 1);
    let dir = state_dir();
    let mut config = b.config(&unique("http-taken"));
    config.state_dir = dir.path().to_path_buf();
    config
        .set("http.server.listen", &taken.local_addr().unwrap().to_string())
        .unwrap();
    let streams = sluice::engine::Streams::new(count_topology(&input, &output), config).unwrap();
    let err = streams.start().expect_err("the port is taken");
    assert!(err.to_string().contains("HTTP endpoint"), "{err}");
}

#[test]
fn application_server_must_be_host_and_port() {
    let mut config = sluice::engine::StreamsConfig::new("app", "localhost:9092");
    config.set("application.server", "queries.internal:9464").unwrap();
    for bad in ["queries.internal", "host:port", ":9464", "a@b:1"] {
        let err = config.set("application.server", bad).unwrap_err();
        assert!(err.to_string().contains("application.server"), "{bad}: {err}");
    }
}

#[test]
fn a_bad_listen_address_is_a_config_error() {
    let mut config = sluice::engine::StreamsConfig::new("app", "localhost:9092");
    let err = config.set("http.server.listen", "localhost").unwrap_err();
    assert!(err.to_string().contains("http.server.listen"), "{err}");
}
