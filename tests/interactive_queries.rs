//! Interactive queries on a real broker: `Streams::key_value_store` reads the committed counts
//! of every local task, pages ranges, refuses wrong types and unknown stores, and says
//! "unavailable" while the instance is not running.

mod support;

use sluice::engine::{Streams, StreamsError};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::{Duration, Instant};
use support::{broker, count_topology, state_dir, unique};

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn counts_are_queried_across_tasks_and_paged() {
    let b = broker();
    let (input, output) = b.topic_pair("iq", 3);
    let dir = state_dir();
    let mut config = b.config(&unique("iq"));
    config.state_dir = dir.path().to_path_buf();
    config.set("commit.interval.ms", "100").unwrap();
    let streams = Streams::new(count_topology(&input, &output), config).unwrap();

    // Before start: a clear "unavailable", not an empty answer.
    let counts = streams.key_value_store::<String, i64>("counts").unwrap();
    match counts.get(&"k0".to_string()) {
        Err(StreamsError::StoreUnavailable { reason, .. }) => assert!(reason.contains("Created"), "{reason}"),
        other => panic!("query before start: {other:?}"),
    }
    // Wrong types and unknown stores are refused up front.
    let wrong = streams.key_value_store::<String, String>("counts");
    assert!(
        matches!(wrong, Err(StreamsError::StoreAccess { .. })),
        "{:?}",
        wrong.err()
    );
    let unknown = streams.key_value_store::<String, i64>("no-such-store");
    assert!(
        matches!(unknown, Err(StreamsError::StoreAccess { .. })),
        "{:?}",
        unknown.err()
    );

    streams.start().unwrap();
    // 30 keys over 3 partitions (3 tasks), key i counted i + 1 times.
    let mut reference: BTreeMap<String, i64> = BTreeMap::new();
    let mut records = Vec::new();
    for i in 0..30i64 {
        for _ in 0..=i {
            records.push((format!("k{i:02}"), "v".to_string(), 1_000));
        }
        reference.insert(format!("k{i:02}"), i + 1);
    }
    b.produce(&input, &records);

    // Committed state catches up with the input (commits every 100 ms).
    let deadline = Instant::now() + WAIT;
    loop {
        match counts.all(1_000) {
            Ok(all) if all == reference.clone().into_iter().collect::<Vec<_>>() => break,
            Ok(_) | Err(StreamsError::StoreUnavailable { .. }) => {}
            Err(e) => panic!("{e}"),
        }
        assert!(
            Instant::now() < deadline,
            "counts never matched: {:?}",
            counts.all(1_000)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for (k, n) in &reference {
        assert_eq!(counts.get(k).unwrap(), Some(*n), "{k}");
    }
    assert_eq!(counts.get(&"absent".to_string()).unwrap(), None);
    assert!(counts.approximate_num_entries().unwrap() > 0);

    // Pages of 7 across the three tasks' stores, in key order, cover every key once.
    let mut paged = Vec::new();
    let mut from: Option<String> = None;
    loop {
        let lower = from.as_ref().map_or(Bound::Unbounded, Bound::Excluded);
        let page = counts.range(lower, Bound::Unbounded, 7).unwrap();
        assert!(page.len() <= 7);
        let Some((last, _)) = page.last() else { break };
        from = Some(last.clone());
        paged.extend(page);
    }
    assert_eq!(paged, reference.clone().into_iter().collect::<Vec<_>>());
    let middle = counts
        .range(
            Bound::Included(&"k10".to_string()),
            Bound::Excluded(&"k13".to_string()),
            100,
        )
        .unwrap();
    assert_eq!(
        middle,
        vec![
            ("k10".to_string(), 11),
            ("k11".to_string(), 12),
            ("k12".to_string(), 13)
        ]
    );
    // A huge limit is capped.
    assert!(counts.all(usize::MAX).unwrap().len() <= sluice::engine::query::MAX_RANGE_ENTRIES);

    streams.close().unwrap();
    assert!(matches!(
        counts.get(&"k01".to_string()),
        Err(StreamsError::StoreUnavailable { .. })
    ));
}

#[test]
fn windowed_counts_are_fetched_by_key_and_time() {
    use sluice::prelude::*;
    let b = broker();
    let (input, output) = b.topic_pair("iq-windows", 2);
    let dir = state_dir();
    let mut config = b.config(&unique("iq-windows"));
    config.state_dir = dir.path().to_path_buf();
    config.set("commit.interval.ms", "100").unwrap();
    let builder = StreamsBuilder::new();
    builder
        .stream(&input, Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(300)))
        // An hour of windows stay queryable (the default keeps only the open window's span).
        .count(Materialized::as_("tx-velocity-store").with_retention(Duration::from_secs(3600)))
        .to_stream()
        .map(|w, n| (format!("{}@{}", w.key, w.window.start), n.to_string()))
        .to(&output, Produced::with(Serde::string(), Serde::string()));
    let streams = Streams::new(builder.build().unwrap(), config).unwrap();
    streams.start().unwrap();

    // 8 cards; card i has i + 1 transactions in the window at 0 and 2 in the one at 300 s.
    // A multiple of 5 minutes: a window starts there.
    let base: i64 = 1_700_000_100_000;
    let mut records = Vec::new();
    for i in 0..8i64 {
        for j in 0..=i {
            records.push((format!("card-{i}"), "tx".to_string(), base + j * 1_000));
        }
        records.push((format!("card-{i}"), "tx".to_string(), base + 300_000));
        records.push((format!("card-{i}"), "tx".to_string(), base + 301_000));
    }
    // In time order: a record behind its partition's stream time by more than the grace
    // (none here) would be dropped as late.
    records.sort_by_key(|r| r.2);
    b.produce(&input, &records);

    let velocity = streams.window_store::<String, i64>("tx-velocity-store").unwrap();
    let expected = |i: i64| {
        vec![
            (Window::new(base, base + 300_000), i + 1),
            (Window::new(base + 300_000, base + 600_000), 2),
        ]
    };
    let deadline = Instant::now() + WAIT;
    while !(0..8)
        .all(|i| velocity.fetch(&format!("card-{i}"), base, base + 300_000).ok() == Some(expected(i)))
    {
        assert!(
            Instant::now() < deadline,
            "windowed counts never matched: card-3 has {:?}",
            velocity.fetch(&"card-3".to_string(), base, base + 300_000)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Time bounds select windows by start.
    assert_eq!(
        velocity
            .fetch(&"card-3".to_string(), base + 1, base + 300_000)
            .unwrap(),
        vec![(Window::new(base + 300_000, base + 600_000), 2)]
    );
    assert!(velocity
        .fetch(&"card-9".to_string(), base, base + 300_000)
        .unwrap()
        .is_empty());
    // Every window of every card, by start then key; a limit caps them.
    let all = velocity.fetch_all(base, base + 300_000, 100).unwrap();
    assert_eq!(all.len(), 16);
    assert!(all[..8].iter().all(|(w, _)| w.window.start == base));
    assert_eq!(velocity.fetch_all(base, base + 300_000, 5).unwrap().len(), 5);
    // A window store is not a key-value store.
    assert!(matches!(
        streams.key_value_store::<String, i64>("tx-velocity-store"),
        Err(StreamsError::StoreAccess { .. })
    ));
    streams.close().unwrap();
}

/// A free loopback port (bound, read, released: the instance binds it again right after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn keys_are_found_on_the_instance_that_holds_them_and_move_with_a_rebalance() {
    let b = broker();
    let (input, output) = b.topic_pair("iq-two", 4);
    let app = unique("iq-two");
    let dirs = [state_dir(), state_dir()];
    let start = |i: usize| {
        let address = format!("127.0.0.1:{}", free_port());
        let mut config = b.config(&app);
        config.state_dir = dirs[i].path().to_path_buf();
        config.set("commit.interval.ms", "100").unwrap();
        config.set("http.server.listen", &address).unwrap();
        config.set("application.server", &address).unwrap();
        let streams = Streams::new(count_topology(&input, &output), config).unwrap();
        streams.start().unwrap();
        (streams, address)
    };
    let (a, a_host) = start(0);
    let (bb, b_host) = start(1);

    let mut reference: BTreeMap<String, i64> = BTreeMap::new();
    let mut records = Vec::new();
    for i in 0..40i64 {
        for _ in 0..(i % 3 + 1) {
            records.push((format!("key-{i}"), "v".to_string(), 1_000));
        }
        reference.insert(format!("key-{i}"), i % 3 + 1);
    }
    b.produce(&input, &records);

    // Both instances own some keys; each key is answered by its owner, found through the
    // group's membership from either instance.
    let deadline = Instant::now() + WAIT;
    loop {
        let located: Vec<_> = reference
            .keys()
            .map(|k| a.query_metadata_for_key("counts", k).ok())
            .collect();
        let answered = reference.iter().zip(&located).all(|((k, n), m)| {
            let Some(m) = m else { return false };
            let owner = if m.active_host.as_deref() == Some(a_host.as_str()) {
                &a
            } else {
                &bb
            };
            owner
                .key_value_store::<String, i64>("counts")
                .and_then(|s| s.get(k))
                .ok()
                == Some(Some(*n))
        });
        let hosts: std::collections::BTreeSet<_> =
            located.iter().flatten().map(|m| m.active_host.clone()).collect();
        if answered && hosts.len() == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "keys never answered by their owners: {located:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for k in reference.keys() {
        let (ma, mb) = (
            a.query_metadata_for_key("counts", k).unwrap(),
            bb.query_metadata_for_key("counts", k).unwrap(),
        );
        assert_eq!(
            (ma.active_host.clone(), ma.partition),
            (mb.active_host.clone(), mb.partition),
            "{k}"
        );
        assert_ne!(ma.local, mb.local, "{k}: exactly one of them holds it");
        // The other instance does not have it locally...
        let other = if ma.local { &bb } else { &a };
        assert_eq!(
            other
                .key_value_store::<String, i64>("counts")
                .unwrap()
                .get(k)
                .unwrap(),
            None
        );
    }
    // ... and over HTTP it points to the owner (307), which answers.
    let k = reference
        .keys()
        .find(|k| a.query_metadata_for_key("counts", *k).unwrap().local)
        .unwrap();
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    // (Without redirects, ureq hands back the 307 itself.)
    let r = agent
        .get(&format!("http://{b_host}/stores/counts/keys/{k}"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(
        r.header("location"),
        Some(format!("http://{a_host}/stores/counts/keys/{k}").as_str())
    );
    assert!(r.into_string().unwrap().contains(&a_host));
    let followed = ureq::get(&format!("http://{b_host}/stores/counts/keys/{k}"))
        .call()
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&followed.into_string().unwrap()).unwrap();
    assert_eq!(body["value"], serde_json::json!(reference[k]));

    // B leaves: after the rebalance every key is A's, restored from the changelog.
    bb.close().unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let all_local = reference.iter().all(|(k, n)| {
            a.query_metadata_for_key("counts", k)
                .is_ok_and(|m| m.local && m.active_host.as_deref() == Some(a_host.as_str()))
                && a.key_value_store::<String, i64>("counts").unwrap().get(k).ok() == Some(Some(*n))
        });
        if all_local {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "keys never moved to the remaining instance"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    a.close().unwrap();
}

#[test]
fn sessions_are_fetched_by_key_typed_and_over_http() {
    use sluice::prelude::*;
    let b = broker();
    let (input, output) = b.topic_pair("iq-sessions", 2);
    let dir = state_dir();
    let mut config = b.config(&unique("iq-sessions"));
    config.state_dir = dir.path().to_path_buf();
    config.set("commit.interval.ms", "100").unwrap();
    config.set("http.server.listen", "127.0.0.1:0").unwrap();
    let builder = StreamsBuilder::new();
    builder
        .stream(&input, Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(
            Duration::from_secs(300),
        ))
        // Closed sessions stay queryable for an hour (the default keeps gap plus grace).
        .count(Materialized::as_("visits").with_retention(Duration::from_secs(3600)))
        .to_stream()
        .map(|w, n| (format!("{}@{}", w.key, w.window.start), n.to_string()))
        .to(&output, Produced::with(Serde::string(), Serde::string()));
    let streams = Streams::new(builder.build().unwrap(), config).unwrap();
    streams.start().unwrap();

    // user-a: three clicks a minute apart (one session), then one 20 minutes later.
    let t = 1_700_000_000_000i64;
    let clicks = [0, 60_000, 120_000, 1_200_000].map(|d| ("user-a".to_string(), "click".to_string(), t + d));
    b.produce(&input, &clicks);
    let visits = streams.session_store::<String, i64>("visits").unwrap();
    let expected = vec![
        (Window::new(t, t + 120_000), 3),
        (Window::new(t + 1_200_000, t + 1_200_000), 1),
    ];
    let deadline = Instant::now() + WAIT;
    while visits.fetch(&"user-a".to_string()).ok() != Some(expected.clone()) {
        assert!(
            Instant::now() < deadline,
            "sessions never matched: {:?}",
            visits.fetch(&"user-a".to_string())
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(visits.fetch(&"user-b".to_string()).unwrap().is_empty());
    let base = format!("http://{}", streams.http_address().unwrap());
    let answer: serde_json::Value = serde_json::from_str(
        &ureq::get(&format!("{base}/stores/visits/keys/user-a"))
            .call()
            .unwrap()
            .into_string()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        answer["sessions"],
        serde_json::json!([
            {"start": t, "end": t + 120_000, "value": 3},
            {"start": t + 1_200_000, "end": t + 1_200_000, "value": 1}
        ])
    );
    assert!(matches!(
        streams.window_store::<String, i64>("visits"),
        Err(StreamsError::StoreAccess { .. })
    ));
    streams.close().unwrap();
}
