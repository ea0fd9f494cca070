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
    /// outputs must not change. (With the cache on, batches coalesce updates, as they should;
    /// see `Case::per_record_commits` for the cases that join what a repartition topic carries.)
    commit_every: usize,
}

fn run_for(case: &Case, seed: u64) -> Run {
    let cache = seed.is_multiple_of(2) && !case.cache_off_only;
    let commit_every = if cache || case.per_record_commits {
        1
    } else {
        [1, 2, 7, 1_000][(seed / 2 % 4) as usize]
    };
    Run { cache, commit_every }
}

/// Output differences this suite found that are not settled yet. Each case listed here must
/// still differ on some seed (the test fails once it matches, so that its entry goes); its
/// other seeds are not checked until it is settled. None is open: every difference found so far
/// was fixed, or is kept on purpose and checked by a test of its own (see README, "Differences
/// from Kafka Streams").
const OPEN_OUTPUT_DIFFERENCES: &[(&str, &str)] = &[];

/// Description differences not settled yet; as above, each listed case must still differ.
const OPEN_DESCRIBE_DIFFERENCES: &[(&str, &str)] = &[];

/// Description differences kept on purpose: `(case, text Sluice's description adds, why)`. The
/// text must be there, and the descriptions must be equal without it.
const KEPT_DESCRIBE_DIFFERENCES: &[(&str, &str, &str)] = &[(
    "tumbling_emit_on_close",
    ", tumbling-last-emitted",
    "emit on window close: Sluice keeps the last emitted window end in a store of its own \
     (changelog <application.id>-<store>-last-emitted-changelog); Kafka Streams keeps it in the \
     offset commit's metadata",
)];

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
            // Both inputs, as both drivers received them, for a look with other tools.
            let saved = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("conformance-{name}-{seed}.json"));
            let json = serde_json::json!({ "case": name, "seed": seed, "input": events, "shrunk": shrunk });
            std::fs::write(&saved, json.to_string()).expect("write the differing input");
            panic!(
                "case {name}, seed {seed} (record cache {}, commit every {} records): {what}\n\
                 inputs saved to {}\n\
                 input shrunk from {} to {} events:\n{}\
                 outputs for the shrunk input:\n{}\
                 replay: SLUICE_CONFORMANCE_SEED={seed} cargo test --test conformance -- --exact outputs::{name}",
                if run.cache { "on" } else { "off" },
                run.commit_every,
                saved.display(),
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
    let (kafka, mut sluice) = both(case, &[], run_for(case, 0));
    if let Some((_, added, why)) = KEPT_DESCRIBE_DIFFERENCES.iter().find(|(c, ..)| *c == name) {
        assert!(
            sluice.describe.contains(added),
            "case {name}: the kept difference ({why}) is gone: remove it from KEPT_DESCRIBE_DIFFERENCES"
        );
        sluice.describe = sluice.describe.replace(added, "");
    }
    let diff = compare::describe_difference(&kafka.describe, &sluice.describe);
    match (diff, open_difference(OPEN_DESCRIBE_DIFFERENCES, name)) {
        (Some(diff), None) => panic!("case {name}: {diff}"),
        (None, Some(_)) => {
            panic!("case {name}: descriptions now match: remove it from OPEN_DESCRIBE_DIFFERENCES")
        }
        (Some(diff), Some(why)) => {
            eprintln!("case {name}: open description difference: {why}\n{diff}")
        }
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
    stream_table_join_rekeyed,
    stream_stream_join,
    stream_stream_left_join,
    stream_stream_outer_join,
    stream_stream_join_named,
    table_table_join,
    table_table_left_join,
    table_table_outer_join,
    global_join,
    global_left_join,
    table_group_by_count,
    table_group_by_reduce,
    table_group_by_aggregate,
    versioned_join,
    versioned_left_join,
    fk_join,
    fk_left_join,
    fk_join_materialized,
    cogroup_aggregate,
    cogroup_windowed,
    cogroup_rekeyed,
    process_count_punctuate,
    process_wall_clock_punctuate,
    process_values_metadata,
    topology_count_tag,
    long_sum_bad_input,
);
