//! Windowed aggregations reproduce the examples of Kafka Streams' documentation (the javadoc of
//! `TimeWindows`, `SlidingWindows` and `SessionWindows`), plus out-of-order and late records,
//! grace, retention, suppression and emit-on-close.

use sluice::prelude::*;
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `in` (string -> string) grouped by key, windowed by `windowing`, counted into `counts`.
fn windowed_counts<W>(windowing: W) -> (TopologyTestDriver, TestInputTopic<String, String>)
where
    W: sluice::dsl::WindowedBy<String, String, Output = TimeWindowedKStream<String, String>>,
{
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .windowed_by(windowing)
        // A long retention keeps closed windows queryable for the assertions.
        .count(
            Materialized::as_("counts")
                .with_caching_disabled()
                .with_retention(Duration::from_secs(3600)),
        )
        .to_stream()
        .to("out", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap());
    let input = d.create_input_topic("in", Serde::string(), Serde::string());
    (d, input)
}

fn windows_of(d: &TopologyTestDriver, key: &str) -> Vec<(i64, i64, i64)> {
    d.window_store::<String, i64>("counts")
        .unwrap()
        .fetch(&key.to_string(), 0, i64::MAX / 4)
        .into_iter()
        .map(|(w, n)| (w.start, w.end, n))
        .collect()
}

fn dropped_late(d: &TopologyTestDriver) -> u64 {
    d.metrics()
        .total("sluice_dropped_records_total", &[("reason", "expired_window")])
}

#[test]
fn tumbling_windows_are_aligned_to_the_epoch() {
    let (d, input) = windowed_counts(TimeWindows::of_size_with_no_grace(ms(5000)));
    for t in [1000, 4999, 5000, 12_000] {
        input.pipe_input_at("A".into(), "x".into(), t);
    }
    assert_eq!(
        windows_of(&d, "A"),
        vec![(0, 5000, 2), (5000, 10_000, 1), (10_000, 15_000, 1)]
    );
}

#[test]
fn hopping_windows_follow_the_time_windows_javadoc() {
    // "hopping windows with size of 5000ms and advance of 3000ms, have window boundaries
    // [0;5000),[3000;8000),..."
    let (d, input) = windowed_counts(TimeWindows::of_size_with_no_grace(ms(5000)).advance_by(ms(3000)));
    input.pipe_input_at("A".into(), "x".into(), 4000); // in [0;5000) and [3000;8000)
    input.pipe_input_at("A".into(), "x".into(), 6000); // in [3000;8000) and [6000;11000)
    assert_eq!(
        windows_of(&d, "A"),
        vec![(0, 5000, 1), (3000, 8000, 2), (6000, 11_000, 1)]
    );
    let out = d.create_output_topic(
        "out",
        Serde::time_windowed(Serde::string(), 5000),
        Serde::<i64>::i64(),
    );
    let updates: Vec<(i64, i64)> = out
        .read_key_values_to_list()
        .into_iter()
        .map(|(w, n)| (w.window.start, n))
        .collect();
    assert_eq!(updates, vec![(0, 1), (3000, 1), (3000, 2), (6000, 1)]);
}

#[test]
fn sliding_windows_follow_the_sliding_windows_javadoc() {
    // Time difference 5000ms; records at 8000, 9200, 12400 give exactly five windows.
    let (d, input) = windowed_counts(SlidingWindows::of_time_difference_with_no_grace(ms(5000)));
    for t in [8000, 9200, 12_400] {
        input.pipe_input_at("A".into(), "x".into(), t);
    }
    assert_eq!(
        windows_of(&d, "A"),
        vec![
            (3000, 8000, 1),   // [1]
            (4200, 9200, 2),   // [1, 2]
            (7400, 12_400, 3), // [1, 2, 3]
            (8001, 13_001, 2), // [2, 3]: the first record dropped out
            (9201, 14_201, 1), // [3]: the second record dropped out
        ]
    );
}

#[test]
fn sliding_windows_handle_out_of_order_records() {
    // The same three records in another order make the same five windows.
    let (d, input) = windowed_counts(SlidingWindows::of_time_difference_and_grace(ms(5000), ms(10_000)));
    for t in [12_400, 8000, 9200] {
        input.pipe_input_at("A".into(), "x".into(), t);
    }
    assert_eq!(
        windows_of(&d, "A"),
        vec![
            (3000, 8000, 1),
            (4200, 9200, 2),
            (7400, 12_400, 3),
            (8001, 13_001, 2),
            (9201, 14_201, 1)
        ]
    );
}

#[test]
fn sliding_windows_before_the_time_difference_share_the_first_window() {
    let (d, input) = windowed_counts(SlidingWindows::of_time_difference_with_no_grace(ms(5000)));
    for t in [1000, 3000] {
        input.pipe_input_at("A".into(), "x".into(), t);
    }
    // [0;5000] holds both; [1001;6001] is the first record's right window.
    assert_eq!(windows_of(&d, "A"), vec![(0, 5000, 2), (1001, 6001, 1)]);
}

fn session_counts(gap: u64, grace: u64) -> (TopologyTestDriver, TestInputTopic<String, String>) {
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .windowed_by(SessionWindows::of_inactivity_gap_and_grace(ms(gap), ms(grace)))
        .count(Materialized::as_("sessions").with_caching_disabled())
        .to_stream()
        .to("out", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap());
    let input = d.create_input_topic("in", Serde::string(), Serde::string());
    (d, input)
}

fn sessions_of(d: &TopologyTestDriver, key: &str) -> Vec<(i64, i64, i64)> {
    d.session_store::<String, i64>("sessions")
        .unwrap()
        .fetch(&key.to_string())
        .into_iter()
        .map(|(w, n)| (w.start, w.end, n))
        .collect()
}

#[test]
fn sessions_follow_the_session_windows_javadoc() {
    // Gap 5: A@10, A@12, A@20 make sessions [10,12] and [20,20]; A@16 then merges them into
    // [10,20] holding all four records.
    let (d, input) = session_counts(5, 100);
    for t in [10, 12, 20] {
        input.pipe_input_at("A".into(), "x".into(), t);
    }
    assert_eq!(sessions_of(&d, "A"), vec![(10, 12, 2), (20, 20, 1)]);
    input.pipe_input_at("A".into(), "x".into(), 16);
    assert_eq!(sessions_of(&d, "A"), vec![(10, 20, 4)]);

    // Downstream sees merged-away sessions deleted, then the merged session, timestamped at
    // its end.
    let out = d.create_output_topic(
        "out",
        Serde::session_windowed(Serde::string()),
        Serde::<i64>::i64(),
    );
    let changes: Vec<(i64, i64, Option<i64>, i64)> = out
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key.window.start, r.key.window.end, r.value, r.timestamp))
        .collect();
    assert_eq!(
        changes,
        vec![
            (10, 10, Some(1), 10),
            (10, 10, None, 10),
            (10, 12, Some(2), 12),
            (20, 20, Some(1), 20),
            (10, 12, None, 12),
            (20, 20, None, 20),
            (10, 20, Some(4), 20),
        ]
    );
}

#[test]
fn late_records_are_dropped_after_grace_and_counted() {
    // Windows of 10 with grace 5: [0,10) accepts records until stream time reaches 15.
    let (d, input) = windowed_counts(TimeWindows::of_size_and_grace(ms(10), ms(5)));
    input.pipe_input_at("A".into(), "x".into(), 3);
    input.pipe_input_at("A".into(), "x".into(), 14); // stream time 14
    input.pipe_input_at("A".into(), "x".into(), 8); // out of order, within grace: accepted
    input.pipe_input_at("A".into(), "x".into(), 15); // stream time 15: [0,10) closes
    input.pipe_input_at("A".into(), "x".into(), 9); // late: dropped
    assert_eq!(windows_of(&d, "A"), vec![(0, 10, 2), (10, 20, 2)]);
    assert_eq!(dropped_late(&d), 1);
}

#[test]
fn windows_without_grace_close_at_their_end() {
    let (d, input) = windowed_counts(TimeWindows::of_size_with_no_grace(ms(10)));
    input.pipe_input_at("A".into(), "x".into(), 5);
    input.pipe_input_at("A".into(), "x".into(), 10);
    input.pipe_input_at("A".into(), "x".into(), 9);
    assert_eq!(windows_of(&d, "A"), vec![(0, 10, 1), (10, 20, 1)]);
    assert_eq!(dropped_late(&d), 1);
}

#[test]
fn sliding_records_later_than_every_window_are_dropped() {
    // A record is late when even its right window closed: t + 1 + d <= stream time - grace.
    let (d, input) = windowed_counts(SlidingWindows::of_time_difference_and_grace(ms(10), ms(5)));
    input.pipe_input_at("A".into(), "x".into(), 100);
    input.pipe_input_at("A".into(), "x".into(), 84); // 84 + 11 = 95 = 100 - 5: late
    assert_eq!(dropped_late(&d), 1);
    assert_eq!(windows_of(&d, "A"), vec![(90, 100, 1)]);
}

#[test]
fn session_records_later_than_grace_are_dropped() {
    let (d, input) = session_counts(10, 5);
    input.pipe_input_at("A".into(), "x".into(), 100);
    input.pipe_input_at("A".into(), "x".into(), 94); // joins [100,100]: merged end 100 >= 95
                                                     // A new session ending at 50: late, as it ends before stream time - grace - gap (85).
    input.pipe_input_at("A".into(), "x".into(), 50);
    assert_eq!(sessions_of(&d, "A"), vec![(94, 100, 2)]);
    assert_eq!(dropped_late(&d), 1);
}

/// Found by the conformance suite: a session closes `gap + grace` after its end (a later record
/// within the gap could still extend it), not `grace` after it.
#[test]
fn sessions_close_gap_plus_grace_after_their_end() {
    let (d, input) = session_counts(4_000, 0);
    input.pipe_input_at("B".into(), "x".into(), 13_186);
    // Older than stream time, but a session ending at 12,273 stays open until 16,273 (no grace):
    // a record up to 4 s later could still extend it.
    input.pipe_input_at("A".into(), "x".into(), 12_273);
    input.pipe_input_at("A".into(), "x".into(), 14_000); // extends it
    assert_eq!(sessions_of(&d, "A"), vec![(12_273, 14_000, 2)]);
    assert_eq!(dropped_late(&d), 0);
}

/// Found by the conformance suite: `count()` over time and session windows counts null values,
/// as Kafka Streams' does (it needs no value); sliding windows skip them, as Kafka Streams'.
#[test]
fn windowed_counts_count_null_values() {
    let (d, input) = windowed_counts(TimeWindows::of_size_with_no_grace(ms(10)));
    input.pipe_input_at("A".into(), "x".into(), 1);
    input.pipe_tombstone_at("A".into(), 2);
    assert_eq!(windows_of(&d, "A"), vec![(0, 10, 2)]);

    let (d, input) = session_counts(10, 0);
    input.pipe_input_at("A".into(), "x".into(), 1);
    input.pipe_tombstone_at("A".into(), 2);
    assert_eq!(sessions_of(&d, "A"), vec![(1, 2, 2)]);

    let (d, input) = windowed_counts(SlidingWindows::of_time_difference_with_no_grace(ms(10)));
    input.pipe_input_at("A".into(), "x".into(), 1);
    input.pipe_tombstone_at("A".into(), 2);
    assert_eq!(windows_of(&d, "A"), vec![(0, 10, 1)]);
}

#[test]
fn old_windows_expire_with_retention() {
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(60_000)))
        .count(Materialized::as_("counts").with_retention(Duration::from_secs(600)));
    let d = TopologyTestDriver::new(b.build().unwrap());
    let input = d.create_input_topic("in", Serde::string(), Serde::string());
    input.pipe_input_at("A".into(), "x".into(), 0);
    input.pipe_input_at("A".into(), "x".into(), 300_000);
    assert_eq!(windows_of(&d, "A").len(), 2);
    input.pipe_input_at("A".into(), "x".into(), 1_000_000);
    // Windows are kept 10 minutes after they end: at stream time 1,000,000 the window ending
    // at 360,000 is gone.
    assert_eq!(windows_of(&d, "A"), vec![(960_000, 1_020_000, 1)]);
}

#[test]
fn retention_shorter_than_size_plus_grace_is_a_topology_error() {
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(60_000), ms(10_000)))
        .count(Materialized::as_("c").with_retention(Duration::from_secs(30)));
    let err = b.build().unwrap_err().to_string();
    assert!(
        err.contains("shorter than window size plus grace (70000 ms)"),
        "{err}"
    );

    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(100)).advance_by(ms(200)))
        .count(Materialized::as_("c"));
    assert!(matches!(
        b.build().unwrap_err(),
        TopologyError::InvalidWindows { .. }
    ));
}

fn final_counts_topology(emit_on_close: bool) -> Topology {
    let b = StreamsBuilder::new();
    let windowed = b
        .stream("in", Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)));
    let table = if emit_on_close {
        windowed
            .emit_strategy(EmitStrategy::on_window_close())
            .count(Materialized::as_("counts"))
    } else {
        windowed
            .count(Materialized::as_("counts"))
            .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
    };
    table
        .to_stream()
        .map(|w, n| (format!("{}@{}", w.key, w.window.start), *n))
        .to("final", Produced::with(Serde::string(), Serde::i64()));
    b.build().unwrap()
}

fn final_results(topology: Topology) -> Vec<(String, i64)> {
    let d = TopologyTestDriver::new(topology);
    let input = d.create_input_topic("in", Serde::string(), Serde::string());
    let out = d.create_output_topic("final", Serde::string(), Serde::<i64>::i64());
    let mut seen = Vec::new();
    for (k, t) in [("A", 1), ("B", 2), ("A", 8), ("A", 12), ("B", 14), ("A", 3)] {
        input.pipe_input_at(k.into(), "x".into(), t);
        // Nothing is final before stream time reaches 10 + 5.
        seen.extend(out.read_key_values_to_list());
    }
    assert!(seen.is_empty(), "emitted before the window closed: {seen:?}");
    input.pipe_input_at("A".into(), "x".into(), 15); // [0,10) closes
    seen.extend(out.read_key_values_to_list());
    input.pipe_input_at("B".into(), "x".into(), 30); // [10,20) closes
    seen.extend(out.read_key_values_to_list());
    seen
}

#[test]
fn suppress_until_window_closes_emits_each_window_once() {
    assert_eq!(
        final_results(final_counts_topology(false)),
        vec![
            ("A@0".to_string(), 3),
            ("B@0".to_string(), 1),
            ("A@10".to_string(), 2),
            ("B@10".to_string(), 1),
        ]
    );
}

#[test]
fn emit_on_window_close_emits_each_window_once() {
    assert_eq!(
        final_results(final_counts_topology(true)),
        vec![
            ("A@0".to_string(), 3),
            ("B@0".to_string(), 1),
            ("A@10".to_string(), 2),
            ("B@10".to_string(), 1),
        ]
    );
}

#[test]
fn final_results_are_not_emitted_again_after_a_restart() {
    for emit_on_close in [false, true] {
        let d = TopologyTestDriver::new(final_counts_topology(emit_on_close));
        let input = d.create_input_topic("in", Serde::string(), Serde::string());
        let out = d.create_output_topic("final", Serde::string(), Serde::<i64>::i64());
        input.pipe_input_at("A".into(), "x".into(), 1);
        input.pipe_input_at("A".into(), "x".into(), 16);
        assert_eq!(out.read_key_values_to_list(), vec![("A@0".to_string(), 1)]);
        d.restart().unwrap();
        input.pipe_input_at("A".into(), "x".into(), 17);
        input.pipe_input_at("A".into(), "x".into(), 30);
        assert_eq!(
            out.read_key_values_to_list(),
            vec![("A@10".to_string(), 2)],
            "emit_on_close = {emit_on_close}"
        );
    }
}

#[test]
fn a_bounded_suppression_buffer_fails_when_full() {
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)))
        .count(Materialized::as_("c"))
        .suppress(Suppressed::until_window_closes(BufferConfig::max_records(2)));
    let d = TopologyTestDriver::new(b.build().unwrap());
    let input = d.create_input_topic("in", Serde::string(), Serde::string());
    input.pipe_input_at("A".into(), "x".into(), 1);
    input.pipe_input_at("B".into(), "x".into(), 1);
    input.pipe_input_at("A".into(), "x".into(), 2); // same window: still two buffered
    let err = input.try_pipe_input_at("C".into(), "x".into(), 3).unwrap_err();
    assert!(
        matches!(err, StreamsError::SuppressionBufferFull { max_records: 2, .. }),
        "{err}"
    );
}

#[test]
fn windowed_stores_restore_after_a_crash() {
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .windowed_by(SlidingWindows::of_time_difference_and_grace(ms(5000), ms(60_000)))
        .count(Materialized::as_("counts"));
    let config = StreamsConfig::new("windows", "unused:9092");
    let d = TopologyTestDriver::with_config(b.build().unwrap(), config).unwrap();
    let input = d.create_input_topic("in", Serde::string(), Serde::string());
    for t in [8000, 9200] {
        input.pipe_input_at("A".into(), "x".into(), t);
    }
    d.crash_and_restart().unwrap();
    input.pipe_input_at("A".into(), "x".into(), 12_400);
    assert_eq!(
        windows_of(&d, "A"),
        vec![
            (3000, 8000, 1),
            (4200, 9200, 2),
            (7400, 12_400, 3),
            (8001, 13_001, 2),
            (9201, 14_201, 1)
        ]
    );
}

/// A key codec whose deserialization panics once, on the key "b".
struct FailsOnceOnB(std::sync::atomic::AtomicBool);
impl Codec<String> for FailsOnceOnB {
    fn serialize(&self, v: &String) -> Result<Vec<u8>, SerdeError> {
        Ok(v.as_bytes().to_vec())
    }
    fn deserialize(&self, b: &[u8]) -> Result<String, SerdeError> {
        if b == b"b" && !self.0.swap(true, std::sync::atomic::Ordering::SeqCst) {
            panic!("the first read of key b fails");
        }
        Ok(String::from_utf8_lossy(b).into_owned())
    }
}

/// Final counts over `windowing` keyed `key@start`, from a store whose key serde panics once,
/// when the first final result of key "b" is read; processing errors are logged and skipped.
fn final_counts_failing_once<W>(windowing: W) -> TopologyTestDriver
where
    W: sluice::dsl::WindowedBy<String, String, Output = TimeWindowedKStream<String, String>>,
{
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .windowed_by(windowing)
        .emit_strategy(EmitStrategy::on_window_close())
        .count(Materialized::as_("counts").with_key_serde(Serde::new(FailsOnceOnB(Default::default()))))
        .to_stream()
        .map(|w, n| (format!("{}@{}", w.key, w.window.start), *n))
        .to("final", Produced::with(Serde::string(), Serde::i64()));
    logging_and_continuing(b.build().unwrap())
}

/// A driver whose processing errors are logged and skipped.
fn logging_and_continuing(topology: Topology) -> TopologyTestDriver {
    let mut config = StreamsConfig::new("failing-emission", "unused:9092");
    config
        .set("processing.exception.handler", "log_and_continue")
        .unwrap();
    TopologyTestDriver::with_config(topology, config).unwrap()
}

/// An emission that fails half way (a panic in the aggregation, caught and skipped with
/// everything it forwarded for that record) loses no window: the next emission forwards every
/// window the failed one had, with those that closed since.
#[test]
fn a_failed_emission_is_emitted_again_with_the_next() {
    let tumbling = final_counts_failing_once(TimeWindows::of_size_with_no_grace(ms(10)));
    let sliding = final_counts_failing_once(SlidingWindows::of_time_difference_with_no_grace(ms(10)));
    for (name, d, expected) in [
        (
            "tumbling",
            tumbling,
            vec![("a@0", 1), ("a@10", 1), ("b@10", 1), ("a@20", 1)],
        ),
        (
            "sliding",
            sliding,
            vec![("a@0", 1), ("a@1", 2), ("b@2", 1), ("a@6", 1), ("a@12", 1)],
        ),
    ] {
        let input = d.create_input_topic("in", Serde::string(), Serde::string());
        let out = d.create_output_topic("final", Serde::string(), Serde::<i64>::i64());
        // b's first window closes at 22 with one of a's (tumbling: [10,20) of both; sliding:
        // [2,12] and [6,16]): that emission fails, and the one at 40 forwards them again.
        for (k, t) in [("a", 5), ("a", 11), ("b", 12), ("a", 22), ("a", 40)] {
            input.pipe_input_at(k.into(), "x".into(), t);
        }
        let mut got = out.read_key_values_to_list();
        got.sort();
        let mut expected: Vec<(String, i64)> =
            expected.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
        expected.sort();
        assert_eq!(got, expected, "{name}");
    }
}

/// The same for sessions: a failed emission is forwarded again by the next record, not only
/// once stream time reaches the next session's close.
#[test]
fn a_failed_session_emission_is_emitted_again_with_the_next() {
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serde::string(), Serde::string()))
        .group_by_key()
        .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(ms(10)))
        .emit_strategy(EmitStrategy::on_window_close())
        .count(Materialized::as_("presence").with_key_serde(Serde::new(FailsOnceOnB(Default::default()))))
        .to_stream()
        .map(|w, n| (format!("{}@{}-{}", w.key, w.window.start, w.window.end), *n))
        .to("final", Produced::with(Serde::string(), Serde::i64()));
    let d = logging_and_continuing(b.build().unwrap());
    let input = d.create_input_topic("in", Serde::string(), Serde::string());
    let out = d.create_output_topic("final", Serde::string(), Serde::<i64>::i64());
    // At 45, b's session [31,31] and a's [30,32] close; reading b fails. At 46 (a's session
    // [45,46] far from closing) they come out.
    for (k, t) in [("a", 5), ("a", 30), ("b", 31), ("a", 32), ("a", 45)] {
        input.pipe_input_at(k.into(), "x".into(), t);
    }
    assert_eq!(out.read_key_values_to_list(), vec![("a@5-5".to_string(), 1)]);
    input.pipe_input_at("a".into(), "x".into(), 46);
    assert_eq!(
        out.read_key_values_to_list(),
        vec![("b@31-31".to_string(), 1), ("a@30-32".to_string(), 2)]
    );
}
