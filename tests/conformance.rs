//! Differential conformance: every topology of the catalogue runs on Kafka Streams' own
//! TopologyTestDriver (Apache Kafka 4.4 from Maven Central, built by this test into the build
//! directory) and on Sluice's, with the same seeded inputs; every output record (key, value,
//! timestamp, headers), the final contents of every named store and the topology description
//! must be identical.
//!
//! ```text
//! cargo test --test conformance                       # every case, 200 seeds each
//! SLUICE_CONFORMANCE_SEEDS=2000 cargo test --test conformance
//! SLUICE_CONFORMANCE_SEED=17 cargo test --test conformance -- --exact outputs::session_count
//! ```
//!
//! A difference prints the seed, the input shrunk to the fewest records that still differ, both
//! outputs side by side and the command that replays it.

#[path = "conformance/catalogue.rs"]
mod catalogue;
#[path = "conformance/compare.rs"]
mod compare;
#[path = "conformance/generator.rs"]
mod generator;
#[path = "conformance/oracle.rs"]
mod oracle;
#[path = "conformance/sluice_side.rs"]
mod sluice_side;

use catalogue::{Case, CATALOGUE};
use generator::Event;
use oracle::{Outcome, Request, StoreRequest};

/// Seeds per case in CI.
const DEFAULT_SEEDS: u64 = 200;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?}: expected a number"))
    })
}

/// How Sluice runs one seed: the record cache and how often the driver commits.
#[derive(Clone, Copy, Debug)]
struct Run {
    /// Caching on for even seeds, off for odd ones: both paths for every case (off only for
    /// the cases whose Kafka Streams results depend on its cache, see `Case::cache_off_only`).
    cache: bool,
    /// Kafka Streams' driver commits after every record. With the cache off, Sluice's also
    /// commits after batches of 2, 7 or 1,000 records, as the runtime does on a backlog: the
    /// outputs must not change. (With the cache on, batches coalesce updates, as they should.)
    commit_every: usize,
}

fn run_for(case: &Case, seed: u64) -> Run {
    let cache = seed.is_multiple_of(2) && !case.cache_off_only;
    let commit_every = if cache {
        1
    } else {
        [1, 2, 7, 1_000][(seed / 2 % 4) as usize]
    };
    Run { cache, commit_every }
}

/// Output differences this suite found that are not settled yet. Each case listed here must
/// still differ on some seed (the test fails once it matches, so that its entry goes); its
/// other seeds are not checked until it is settled. See README, "Conformance".
const OPEN_OUTPUT_DIFFERENCES: &[(&str, &str)] = &[
    ("sliding_count", SLIDING_ORDER),
    ("sliding_aggregate", SLIDING_ORDER),
    ("stream_stream_join", STREAM_JOIN_LATENESS),
    ("stream_stream_left_join", STREAM_JOIN_OUTER_EMIT),
    ("stream_stream_outer_join", STREAM_JOIN_OUTER_EMIT),
    ("table_filter_map_values", TABLE_FILTER_TOMBSTONES),
    ("table_table_join", TABLE_JOIN_RESULTS),
    ("table_table_left_join", TABLE_JOIN_RESULTS),
];

const SLIDING_ORDER: &str = "an out-of-order record that updates several sliding windows: \
    Kafka Streams forwards the updates in another order";
const STREAM_JOIN_LATENESS: &str = "Kafka Streams has no lateness check in stream-stream joins: a \
    record joins whatever the other side's window store still holds (retention counted from the \
    newest record that store received), and null values advance the join's stream time; Sluice \
    drops records older than the task's stream time minus window and grace";
const STREAM_JOIN_OUTER_EMIT: &str = "when non-joined records are emitted: Kafka Streams only while \
    processing a record at the current stream time, after a quick check on the oldest waiting \
    record, in its outer store's order";
const TABLE_FILTER_TOMBSTONES: &str = "an update that KTable::filter filters out: Kafka Streams \
    forwards a tombstone even for a key it never forwarded (unless a downstream operator asked \
    for old values); Sluice forwards nothing";
const TABLE_JOIN_RESULTS: &str = "Kafka Streams does not materialize a table-table join: an update \
    produces a result only when the other side has a value (a deletion then forwards a \
    tombstone, even for a result never forwarded); Sluice materializes the join and forwards \
    the changes of that table";

/// Description differences not settled yet (node and store names and shapes); as above, each
/// listed case must still differ.
const OPEN_DESCRIBE_DIFFERENCES: &[(&str, &str)] = &[
    ("global_join", GLOBAL_DESCRIBE),
    ("global_left_join", GLOBAL_DESCRIBE),
    ("group_by_count", REPARTITION_FILTER),
    ("repartition_count", REPARTITION_FILTER),
    (
        "split",
        "split(): Kafka Streams names the branch processor after the prefix itself",
    ),
    (
        "split_no_default",
        "split(): Kafka Streams names the branch processor after the prefix itself",
    ),
    ("stream_stream_join", STREAM_JOIN_NODES),
    ("stream_stream_left_join", STREAM_JOIN_NODES),
    ("stream_stream_outer_join", STREAM_JOIN_NODES),
    (
        "table_filter_map_values",
        "a source table read only through operators: Kafka Streams \
        does not materialize it",
    ),
    ("table_table_join", TABLE_JOIN_NODES),
    ("table_table_left_join", TABLE_JOIN_NODES),
    ("table_table_outer_join", TABLE_JOIN_NODES),
    (
        "tumbling_emit_on_close",
        "emit on window close: Sluice lists its last-emitted store",
    ),
    (
        "tumbling_reduce_suppress",
        "suppress: Kafka Streams lists the suppression buffer's store",
    ),
];

const GLOBAL_DESCRIBE: &str = "global tables: Kafka Streams describes them as sub-topology 0 \
    (source and KTABLE-SOURCE nodes, store <topic>-STATE-STORE-<n>), the stream sub-topologies after";
const REPARTITION_FILTER: &str = "repartitioning: Kafka Streams puts a <name>-repartition-filter \
    node (dropping null keys) before the repartition sink";
const STREAM_JOIN_NODES: &str = "stream-stream joins: Kafka Streams puts a KSTREAM-WINDOWED node \
    per side, holding that side's store KSTREAM-JOINTHIS/JOINOTHER-<n>-store";
const TABLE_JOIN_NODES: &str = "table-table joins: no result store and materialize node unless \
    one is asked for, and the merge node takes its index first";

fn open_difference(list: &[(&str, &'static str)], name: &str) -> Option<&'static str> {
    list.iter().find(|(case, _)| *case == name).map(|(_, why)| *why)
}

fn both(case: &Case, events: &[Event], run: Run) -> (Outcome, Outcome) {
    let keys = generator::keys(events);
    let request = Request {
        topology: case.name,
        cache: run.cache,
        continue_on_bad_input: case.continue_on_bad_input,
        events,
        outputs: case.outputs,
        stores: case
            .stores
            .iter()
            .map(|s| StoreRequest {
                name: s.name,
                kind: s.kind.wire_name(),
            })
            .collect(),
        keys: keys.clone(),
    };
    let mut kafka = oracle::run(&request);
    let mut sluice = sluice_side::run(case, events, run, &keys);
    let stream_time = events
        .iter()
        .filter_map(|e| match e {
            Event::Record { ts, .. } => Some(*ts),
            Event::WallClock { .. } => None,
        })
        .max()
        .unwrap_or(0);
    compare::keep_retained(&mut kafka, case.stores, stream_time);
    compare::keep_retained(&mut sluice, case.stores, stream_time);
    (kafka, sluice)
}

/// Runs case `name` over its seeds; panics with a shrunk, replayable report on a difference.
fn check(name: &str) {
    let case = CATALOGUE
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name} in the catalogue"));
    let seeds: Vec<u64> = match env_u64("SLUICE_CONFORMANCE_SEED") {
        Some(seed) => vec![seed],
        None => (0..env_u64("SLUICE_CONFORMANCE_SEEDS").unwrap_or(DEFAULT_SEEDS)).collect(),
    };
    let open = open_difference(OPEN_OUTPUT_DIFFERENCES, name);
    let mut records = 0;
    let mut outputs = 0;
    for &seed in &seeds {
        let events = generator::generate(&case.inputs, seed);
        let run = run_for(case, seed);
        let (kafka, sluice) = both(case, &events, run);
        if let (Some(what), Some(why)) = (compare::difference(&kafka, &sluice), open) {
            eprintln!("case {name}, seed {seed}: {what} (open difference: {why})");
            return;
        }
        if let Some(what) = compare::difference(&kafka, &sluice) {
            let shrunk = compare::shrink(&events, |candidate| {
                let (k, s) = both(case, candidate, run);
                compare::difference(&k, &s).is_some()
            });
            let (k, s) = both(case, &shrunk, run);
            panic!(
                "case {name}, seed {seed} (record cache {}, commit every {} records): {what}\n\
                 input shrunk from {} to {} events:\n{}\
                 outputs for the shrunk input:\n{}\
                 replay: SLUICE_CONFORMANCE_SEED={seed} cargo test --test conformance -- --exact outputs::{name}",
                if run.cache { "on" } else { "off" },
                run.commit_every,
                events.len(),
                shrunk.len(),
                compare::show_events(&shrunk),
                compare::side_by_side(&k, &s),
            );
        }
        records += events.len();
        outputs += kafka.outputs.values().map(Vec::len).sum::<usize>();
    }
    assert!(
        open.is_none(),
        "case {name} now matches Kafka Streams on {} seeds: remove it from OPEN_OUTPUT_DIFFERENCES",
        seeds.len()
    );
    // The generator must exercise the case: a case whose outputs stay empty proves nothing.
    assert!(
        outputs > 0 || seeds.len() < 20,
        "case {name}: {} seeds produced no output at all",
        seeds.len()
    );
    eprintln!(
        "case {name}: {} seeds, {records} input events, {outputs} output records, identical",
        seeds.len()
    );
}

/// Compares case `name`'s `describe()` with Kafka Streams' `TopologyDescription`: the same
/// sub-topologies, node names, topics, stores and edges (so changelog and repartition topics are
/// named as a Kafka Streams application's would be).
fn check_describe(name: &str) {
    let case = CATALOGUE.iter().find(|c| c.name == name).unwrap();
    let (kafka, sluice) = both(case, &[], run_for(case, 0));
    let diff = compare::describe_difference(&kafka.describe, &sluice.describe);
    match (diff, open_difference(OPEN_DESCRIBE_DIFFERENCES, name)) {
        (Some(diff), None) => panic!("case {name}: {diff}"),
        (None, Some(_)) => {
            panic!("case {name}: descriptions now match: remove it from OPEN_DESCRIBE_DIFFERENCES")
        }
        (Some(_), Some(why)) => eprintln!("case {name}: open description difference: {why}"),
        (None, None) => {}
    }
}

/// Sluice's typed keys cannot be null: a null key on a topic read with `Serde::string()` is a
/// deserialization error (handled by `deserialization.exception.handler`: log and fail by
/// default, or log and continue, or dead-letter), where Kafka Streams passes the null key on.
/// Keys that may be null are read with `Serde::optional`.
#[test]
fn null_key_with_string_serde_is_a_deserialization_error() {
    let case = CATALOGUE.iter().find(|c| c.name == "filter").unwrap();
    let events = [Event::Record {
        topic: "s1".into(),
        key: None,
        value: Some(b"a1".to_vec()),
        ts: 5,
    }];
    let (kafka, sluice) = both(case, &events, run_for(case, 0));
    assert_eq!(kafka.error, None);
    assert_eq!(
        kafka.outputs["out"].len(),
        1,
        "Kafka Streams forwards the null key"
    );
    let error = sluice.error.expect("Sluice rejects the null key");
    assert!(error.contains("cannot deserialize the key"), "{error}");
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        /// Same inputs, same outputs and stores.
        mod outputs {
            $(
                #[test]
                fn $name() {
                    super::check(stringify!($name));
                }
            )*
        }

        /// Same topology description.
        mod describe {
            $(
                #[test]
                fn $name() {
                    super::check_describe(stringify!($name));
                }
            )*
        }

        /// Every case of the catalogue has a test above, and no test names a missing case.
        #[test]
        fn every_case_has_a_test() {
            let tests = [$(stringify!($name)),*];
            let cases: Vec<&str> = CATALOGUE.iter().map(|c| c.name).collect();
            assert_eq!(tests.to_vec(), cases);
            assert!(cases.len() >= 30, "the catalogue has {} cases", cases.len());
        }
    };
}

cases!(
    filter,
    filter_not,
    map_values,
    map_values_with_key,
    map,
    select_key,
    flat_map,
    flat_map_values,
    merge_peek,
    split,
    split_no_default,
    count,
    count_cache_off,
    reduce,
    aggregate,
    group_by_count,
    repartition_count,
    to_table,
    table_filter_map_values,
    table_materialized,
    tumbling_count,
    tumbling_grace_count,
    hopping_count,
    tumbling_reduce_suppress,
    tumbling_emit_on_close,
    sliding_count,
    sliding_aggregate,
    session_count,
    session_reduce,
    stream_table_join,
    stream_table_left_join,
    stream_stream_join,
    stream_stream_left_join,
    stream_stream_outer_join,
    table_table_join,
    table_table_left_join,
    table_table_outer_join,
    global_join,
    global_left_join,
    long_sum_bad_input,
);
