//! The conformance catalogue in Sluice's DSL. Each case mirrors, operator for operator and name
//! for name, the Kafka Streams program of the same name in `java/.../Catalogue.java`.
//!
//! Values on `s*` and `t*` topics are a letter and a digit (`"b7"`); `n1` carries 8-byte
//! big-endian longs (and, from the generator, some corrupt ones).

use sluice::dsl::processor::*;
use sluice::prelude::*;
use std::time::Duration;

/// Which topics a case reads, and what the generator may send them.
#[derive(Clone, Copy, Debug)]
pub struct Inputs {
    /// Stream topics of strings.
    pub streams: &'static [&'static str],
    /// Table topics of strings (null values are tombstones).
    pub tables: &'static [&'static str],
    /// Global table topics of strings.
    pub globals: &'static [&'static str],
    /// Stream topics of longs, with corrupt values among them.
    pub longs: &'static [&'static str],
    /// Whether stream topics get null values. Off where a key-changing operator reads them:
    /// Sluice's closures never see a null value, so such an operator drops the record where a
    /// Kafka Streams mapper would be called with null (see the README's differences).
    pub null_values: bool,
    /// Whether records get null keys. Only for cases whose key serde can represent null
    /// (`Serde::optional`): with a plain `String` key, a null key is a deserialization error in
    /// Sluice (a difference the suite names, see `NULL_KEY_WITH_STRING_SERDE`).
    pub null_keys: bool,
}

/// A store whose final contents are compared.
#[derive(Clone, Copy, Debug)]
pub struct StoreSpec {
    pub name: &'static str,
    pub kind: StoreKind,
    /// Whether values are longs (else strings).
    pub long_values: bool,
    /// Window and session stores: how long a window is kept after stream time passed it (Kafka
    /// Streams' default retention for the windows). Expired windows may stay visible for a
    /// while on either side (Kafka Streams' record cache still shows them; its segments drop
    /// them in steps), so only the windows both must still hold are compared.
    pub retention_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    KeyValue,
    Window,
    Session,
}

impl StoreKind {
    pub fn wire_name(self) -> &'static str {
        match self {
            StoreKind::KeyValue => "kv",
            StoreKind::Window => "window",
            StoreKind::Session => "session",
        }
    }
}

/// One topology of the catalogue.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub name: &'static str,
    pub inputs: Inputs,
    pub outputs: &'static [&'static str],
    pub stores: &'static [StoreSpec],
    /// Runs with the deserialization handler set to log and continue (both drivers).
    pub continue_on_bad_input: bool,
    /// Runs with the record cache off only. Kafka Streams' session merging reads through its
    /// record cache, which still holds sessions that retention has dropped from the store: a
    /// late record merges into such a session while it is cached, and not once it is evicted,
    /// so its results depend on the cache size. Sluice never merges into an expired session
    /// (README, "Differences from Kafka Streams"). With the cache off both agree.
    pub cache_off_only: bool,
    /// Commits after every record in both drivers. A record that goes through a repartition
    /// topic reaches the join behind it only once the commit that wrote it is done (read
    /// committed), so with batched commits the join meets the other input's later records
    /// first: its results then depend on the commit interval, as Kafka Streams' on a broker do.
    /// Kafka Streams' driver commits after every record; here Sluice's does too.
    pub per_record_commits: bool,
}

const S1: Inputs = Inputs {
    streams: &["s1"],
    tables: &[],
    globals: &[],
    longs: &[],
    null_values: true,
    null_keys: false,
};
const S1_NO_NULLS: Inputs = Inputs {
    null_values: false,
    ..S1
};
const S1_S2: Inputs = Inputs {
    streams: &["s1", "s2"],
    ..S1
};
/// For cases that re-key both streams: Sluice's key mappers never see a null value (it is
/// dropped before them; README, "Differences from Kafka Streams").
const S1_S2_NO_NULLS: Inputs = Inputs {
    null_values: false,
    ..S1_S2
};
const T1: Inputs = Inputs {
    streams: &[],
    tables: &["t1"],
    ..S1
};
const T1_T2: Inputs = Inputs {
    streams: &[],
    tables: &["t1", "t2"],
    ..S1
};
const S1_T1: Inputs = Inputs {
    tables: &["t1"],
    ..S1
};
const S1_G1: Inputs = Inputs {
    globals: &["g1"],
    null_values: false,
    ..S1
};
const N1: Inputs = Inputs {
    streams: &[],
    longs: &["n1"],
    ..S1
};

const OUT: &[&str] = &["out"];

const fn kv(name: &'static str, long_values: bool) -> StoreSpec {
    StoreSpec {
        name,
        kind: StoreKind::KeyValue,
        long_values,
        retention_ms: 0,
    }
}
const fn window(name: &'static str, long_values: bool, retention_ms: i64) -> StoreSpec {
    StoreSpec {
        name,
        kind: StoreKind::Window,
        long_values,
        retention_ms,
    }
}
const fn session(name: &'static str, long_values: bool, retention_ms: i64) -> StoreSpec {
    StoreSpec {
        name,
        kind: StoreKind::Session,
        long_values,
        retention_ms,
    }
}

const fn case(name: &'static str, inputs: Inputs, stores: &'static [StoreSpec]) -> Case {
    Case {
        name,
        inputs,
        outputs: OUT,
        stores,
        continue_on_bad_input: false,
        cache_off_only: false,
        per_record_commits: false,
    }
}

/// Every case, in the order the suite runs them.
pub const CATALOGUE: &[Case] = &[
    // stateless
    case("filter", S1, &[]),
    case("filter_not", S1, &[]),
    case("map_values", S1, &[]),
    case("map_values_with_key", S1, &[]),
    case("map", S1_NO_NULLS, &[]),
    case("select_key", S1_NO_NULLS, &[]),
    case("flat_map", S1_NO_NULLS, &[]),
    case("flat_map_values", S1, &[]),
    case("merge_peek", S1_S2, &[]),
    Case {
        outputs: &["out-a", "out-high", "out-other"],
        ..case("split", S1, &[])
    },
    case("split_no_default", S1, &[]),
    // aggregations
    case("count", S1, &[kv("counts", true)]),
    case("count_cache_off", S1, &[kv("counts", true)]),
    case("reduce", S1, &[kv("reduced", false)]),
    case("aggregate", S1, &[kv("aggregated", false)]),
    case("group_by_count", S1_NO_NULLS, &[kv("by-letter", true)]),
    case("repartition_count", S1_NO_NULLS, &[kv("by-letter", true)]),
    case("to_table", S1, &[kv("latest", false)]),
    case("table_filter_map_values", T1, &[]),
    case("table_materialized", T1, &[kv("t1-store", false)]),
    // windows
    case("tumbling_count", S1, &[window("tumbling", true, 10_000)]),
    case("tumbling_grace_count", S1, &[window("tumbling", true, 15_000)]),
    case("hopping_count", S1, &[window("hopping", true, 13_000)]),
    case(
        "tumbling_reduce_suppress",
        S1_NO_NULLS,
        &[window("tumbling", false, 12_000)],
    ),
    case("tumbling_emit_on_close", S1, &[window("tumbling", true, 60_000)]),
    case("sliding_count", S1, &[window("sliding", true, 12_000)]),
    case("sliding_aggregate", S1, &[window("sliding", false, 8_000)]),
    Case {
        cache_off_only: true,
        ..case("session_count", S1, &[session("sessions", true, 8_000)])
    },
    Case {
        cache_off_only: true,
        ..case(
            "session_reduce",
            S1_NO_NULLS,
            &[session("sessions", false, 4_000)],
        )
    },
    // joins
    case("stream_table_join", S1_T1, &[]),
    case("stream_table_left_join", S1_T1, &[]),
    Case {
        per_record_commits: true,
        ..case("stream_table_join_rekeyed", S1_T1, &[])
    },
    case("stream_stream_join", S1_S2, &[]),
    case("stream_stream_left_join", S1_S2, &[]),
    case("stream_stream_outer_join", S1_S2, &[]),
    Case {
        per_record_commits: true,
        ..case("stream_stream_join_named", S1_S2_NO_NULLS, &[])
    },
    case("table_table_join", T1_T2, &[]),
    case("table_table_left_join", T1_T2, &[]),
    case("table_table_outer_join", T1_T2, &[]),
    case("global_join", S1_G1, &[]),
    case("global_left_join", S1_G1, &[]),
    // table re-grouping
    case("table_group_by_count", T1, &[kv("per-letter", true)]),
    case("table_group_by_reduce", T1, &[kv("digit-sums", true)]),
    case("table_group_by_aggregate", T1, &[kv("letter-digits", false)]),
    // versioned tables
    case("versioned_join", S1_T1, &[]),
    case("versioned_left_join", S1_T1, &[]),
    // foreign-key joins
    // Subscriptions and responses travel through two topics: per-record commits (see
    // `per_record_commits`), as a response must meet the left value that asked for it.
    Case {
        per_record_commits: true,
        ..case("fk_join", T1_T2, &[])
    },
    Case {
        per_record_commits: true,
        ..case("fk_left_join", T1_T2, &[])
    },
    Case {
        per_record_commits: true,
        ..case("fk_join_materialized", T1_T2, &[kv("fk-joined", false)])
    },
    // cogroup
    case("cogroup_aggregate", S1_S2, &[kv("cogrouped", false)]),
    // Kafka Streams' windowed aggregations call the aggregator with null values (Sluice's
    // closures never see one): no null values here. Cache off only: when one stream moved the
    // shared store's time past a window that another stream's aggregation still has open,
    // Kafka Streams' store drops the window but its record cache keeps serving it until
    // evicted (as with sessions, see `cache_off_only`).
    Case {
        cache_off_only: true,
        ..case(
            "cogroup_windowed",
            S1_S2_NO_NULLS,
            &[window("cogroup-windows", false, 15_000)],
        )
    },
    Case {
        per_record_commits: true,
        ..case("cogroup_rekeyed", S1_S2_NO_NULLS, &[kv("cogrouped-sums", true)])
    },
    // Processor API
    case("process_count_punctuate", S1, &[kv("proc-counts", true)]),
    case("process_wall_clock_punctuate", S1, &[kv("wall-counts", true)]),
    case("process_values_metadata", S1, &[]),
    case("topology_count_tag", S1, &[kv("tag-counts", true)]),
    // bad input
    Case {
        continue_on_bad_input: true,
        ..case("long_sum_bad_input", N1, &[kv("sums", true)])
    },
];

fn input(b: &StreamsBuilder, topic: &str) -> KStream<String, String> {
    b.stream(topic, Consumed::with(Serde::string(), Serde::string()))
}

fn table(b: &StreamsBuilder, topic: &str) -> KTable<String, String> {
    b.table(topic, Consumed::with(Serde::string(), Serde::string()))
}

fn out() -> Produced<String, String> {
    Produced::with(Serde::string(), Serde::string())
}

fn out_long() -> Produced<String, i64> {
    Produced::with(Serde::string(), Serde::<i64>::i64())
}

fn letter(v: &str) -> String {
    v[..1].to_string()
}

fn digit(v: &str) -> u32 {
    u32::from(v.as_bytes()[v.len() - 1] - b'0')
}

/// Windowed keys as Kafka writes them: the key, then the window start.
fn window_keys() -> Serde<Windowed<String>> {
    Serde::time_windowed(Serde::string(), 10_000)
}

/// Session keys as Kafka writes them: the key, then the end and the start.
fn session_keys() -> Serde<Windowed<String>> {
    Serde::session_windowed(Serde::string())
}

/// Keeps the last six characters: a reducer whose value stays small.
fn tail(s: String) -> String {
    if s.len() <= 6 {
        s
    } else {
        s[s.len() - 6..].to_string()
    }
}

fn strings<K: sluice::dsl::dynamic::Data>(name: &str) -> Materialized<K, String> {
    Materialized::as_(name).with_value_serde(Serde::string())
}

/// Builds the Sluice program of case `name`.
pub fn build(name: &str) -> Topology {
    if name.starts_with("topology_") {
        return low_level(name);
    }
    let b = StreamsBuilder::new();
    match name {
        // ---- stateless ----
        "filter" => input(&b, "s1").filter(|_, v| v.starts_with('a')).to("out", out()),
        "filter_not" => input(&b, "s1")
            .filter_not(|_, v| digit(v).is_multiple_of(2))
            .to("out", out()),
        "map_values" => input(&b, "s1").map_values(|v| format!("{v}!")).to("out", out()),
        "map_values_with_key" => input(&b, "s1")
            .map_values_with_key(|k, v| format!("{k}={v}"))
            .to("out", out()),
        "map" => input(&b, "s1")
            .map(|k, v| (letter(v), format!("{k}:{v}")))
            .to("out", out()),
        "select_key" => input(&b, "s1").select_key(|_, v| letter(v)).to("out", out()),
        "flat_map" => input(&b, "s1")
            .flat_map(|k, v| {
                (0..digit(v) % 3)
                    .map(|i| (format!("{k}{i}"), v.clone()))
                    .collect::<Vec<_>>()
            })
            .to("out", out()),
        "flat_map_values" => input(&b, "s1")
            .flat_map_values(|v| vec![letter(v), digit(v).to_string()])
            .to("out", out()),
        "merge_peek" => input(&b, "s1")
            .merge(&input(&b, "s2"))
            .peek(|_, _| {})
            .to("out", out()),
        "split" => {
            let branches = input(&b, "s1")
                .split_named("route-")
                .branch(|_, v| v.starts_with('a'), Branched::as_("a"))
                .branch(|_, v| digit(v) > 4, Branched::as_("high"))
                .default_branch(Branched::as_("other"));
            branches["route-a"].to("out-a", out());
            branches["route-high"].to("out-high", out());
            branches["route-other"].to("out-other", out());
        }
        "split_no_default" => {
            let branches = input(&b, "s1")
                .split()
                .branch(|_, v| v.starts_with('b'), Branched::as_("b"))
                .no_default_branch();
            branches["KSTREAM-BRANCH-0000000001b"].to("out", out());
        }
        // ---- aggregations ----
        "count" => input(&b, "s1")
            .group_by_key()
            .count(Materialized::as_("counts"))
            .to_stream()
            .to("out", out_long()),
        "count_cache_off" => input(&b, "s1")
            .group_by_key()
            .count(Materialized::as_("counts").with_caching_disabled())
            .to_stream()
            .to("out", out_long()),
        "reduce" => input(&b, "s1")
            .group_by_key()
            .reduce(|a, v| tail(a + v), strings("reduced"))
            .to_stream()
            .to("out", out()),
        "aggregate" => input(&b, "s1")
            .group_by_key()
            .aggregate(
                String::new,
                |_, v, agg| tail(format!("{agg}{}", digit(v))),
                strings("aggregated"),
            )
            .to_stream()
            .to("out", out()),
        "group_by_count" => input(&b, "s1")
            .group_by_with(|_, v| letter(v), Grouped::with(Serde::string(), Serde::string()))
            .count(Materialized::as_("by-letter"))
            .to_stream()
            .to("out", out_long()),
        "repartition_count" => input(&b, "s1")
            .select_key(|_, v| letter(v))
            .repartition()
            .group_by_key()
            .count(Materialized::as_("by-letter"))
            .to_stream()
            .to("out", out_long()),
        "to_table" => input(&b, "s1")
            .to_table(strings("latest"))
            .to_stream()
            .to("out", out()),
        "table_filter_map_values" => table(&b, "t1")
            .filter(|_, v| digit(v) < 7)
            .map_values(|v| format!("{v}!"))
            .to_stream()
            .to("out", out()),
        "table_materialized" => b
            .table_with(
                "t1",
                Consumed::with(Serde::string(), Serde::string()),
                Materialized::as_("t1-store"),
            )
            .to_stream()
            .to("out", out()),
        // ---- windows ----
        "tumbling_count" => input(&b, "s1")
            .group_by_key()
            .windowed_by(TimeWindows::of_size_with_no_grace(secs(10)))
            .count(Materialized::as_("tumbling"))
            .to_stream()
            .to("out", Produced::with(window_keys(), Serde::<i64>::i64())),
        "tumbling_grace_count" => input(&b, "s1")
            .group_by_key()
            .windowed_by(TimeWindows::of_size_and_grace(secs(10), secs(5)))
            .count(Materialized::as_("tumbling"))
            .to_stream()
            .to("out", Produced::with(window_keys(), Serde::<i64>::i64())),
        "hopping_count" => input(&b, "s1")
            .group_by_key()
            .windowed_by(TimeWindows::of_size_and_grace(secs(10), secs(3)).advance_by(secs(5)))
            .count(Materialized::as_("hopping"))
            .to_stream()
            .to("out", Produced::with(window_keys(), Serde::<i64>::i64())),
        "tumbling_reduce_suppress" => input(&b, "s1")
            .group_by_key()
            .windowed_by(TimeWindows::of_size_and_grace(secs(10), secs(2)))
            .reduce(|a, v| tail(a + v), strings("tumbling"))
            .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
            .to_stream()
            .to("out", Produced::with(window_keys(), Serde::string())),
        "tumbling_emit_on_close" => input(&b, "s1")
            .group_by_key()
            .windowed_by(TimeWindows::of_size_and_grace(secs(10), secs(2)))
            .emit_strategy(EmitStrategy::on_window_close())
            // Kafka Streams loses the final result of a window that its store dropped before
            // it was emitted (stream time jumping past the retention); Sluice emits it (README,
            // "Differences from Kafka Streams"). A retention longer than any jump of the
            // generator keeps that difference out of this case.
            .count(Materialized::as_("tumbling").with_retention(secs(60)))
            .to_stream()
            .to("out", Produced::with(window_keys(), Serde::<i64>::i64())),
        "sliding_count" => input(&b, "s1")
            .group_by_key()
            .windowed_by(SlidingWindows::of_time_difference_and_grace(secs(5), secs(2)))
            .count(Materialized::as_("sliding"))
            .to_stream()
            .to("out", Produced::with(window_keys(), Serde::<i64>::i64())),
        "sliding_aggregate" => input(&b, "s1")
            .group_by_key()
            .windowed_by(SlidingWindows::of_time_difference_with_no_grace(secs(4)))
            .aggregate(
                String::new,
                |_, v, agg| tail(format!("{agg}{}", digit(v))),
                strings("sliding"),
            )
            .to_stream()
            .to("out", Produced::with(window_keys(), Serde::string())),
        "session_count" => input(&b, "s1")
            .group_by_key()
            .windowed_by(SessionWindows::of_inactivity_gap_and_grace(secs(5), secs(3)))
            .count(Materialized::as_("sessions"))
            .to_stream()
            .to("out", Produced::with(session_keys(), Serde::<i64>::i64())),
        "session_reduce" => input(&b, "s1")
            .group_by_key()
            .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(secs(4)))
            .reduce(|a, v| tail(a + v), strings("sessions"))
            .to_stream()
            .to("out", Produced::with(session_keys(), Serde::string())),
        // ---- joins ----
        "stream_table_join" => {
            let t = table(&b, "t1");
            input(&b, "s1")
                .join_table(&t, |v, tv| format!("{v}|{tv}"))
                .to("out", out());
        }
        "stream_table_left_join" => {
            let t = table(&b, "t1");
            input(&b, "s1")
                .left_join_table(&t, |v, tv| format!("{v}|{}", or_null(tv)))
                .to("out", out());
        }
        "stream_table_join_rekeyed" => {
            let t = table(&b, "t1");
            input(&b, "s1")
                .select_key(|k, _| k.clone())
                .join_table(&t, |v, tv| format!("{v}|{tv}"))
                .to("out", out());
        }
        "stream_stream_join_named" => input(&b, "s1")
            .select_key(|k, _| k.clone())
            .left_join(
                &input(&b, "s2").select_key(|k, _| k.clone()),
                |a, c| format!("{a}+{}", or_null(c)),
                JoinWindows::of_time_difference_and_grace(secs(3), secs(1)),
                joined().with_name("pair").with_store_name("pair-store"),
            )
            .to("out", out()),
        "stream_stream_join" => input(&b, "s1")
            .join(
                &input(&b, "s2"),
                |a, c| format!("{a}+{c}"),
                JoinWindows::of_time_difference_and_grace(secs(5), secs(2)),
                joined(),
            )
            .to("out", out()),
        "stream_stream_left_join" => input(&b, "s1")
            .left_join(
                &input(&b, "s2"),
                |a, c| format!("{a}+{}", or_null(c)),
                JoinWindows::of_time_difference_and_grace(secs(4), secs(1)).after(secs(2)),
                joined(),
            )
            .to("out", out()),
        "stream_stream_outer_join" => input(&b, "s1")
            .outer_join(
                &input(&b, "s2"),
                |a, c| format!("{}+{}", or_null(a), or_null(c)),
                JoinWindows::of_time_difference_and_grace(secs(5), secs(2)).before(secs(3)),
                joined(),
            )
            .to("out", out()),
        "table_table_join" => table(&b, "t1")
            .join(&table(&b, "t2"), |a, c| format!("{a}&{c}"))
            .to_stream()
            .to("out", out()),
        "table_table_left_join" => table(&b, "t1")
            .left_join(&table(&b, "t2"), |a, c| format!("{a}&{}", or_null(c)))
            .to_stream()
            .to("out", out()),
        "table_table_outer_join" => table(&b, "t1")
            .outer_join(&table(&b, "t2"), |a, c| format!("{}&{}", or_null(a), or_null(c)))
            .to_stream()
            .to("out", out()),
        "global_join" => {
            let g = b.global_table("g1", Consumed::with(Serde::string(), Serde::string()));
            input(&b, "s1")
                .join_global(&g, |_, v| letter(v), |v, gv| format!("{v}/{gv}"))
                .to("out", out());
        }
        "global_left_join" => {
            let g = b.global_table("g1", Consumed::with(Serde::string(), Serde::string()));
            input(&b, "s1")
                .left_join_global(&g, |_, v| letter(v), |v, gv| format!("{v}/{}", or_null(gv)))
                .to("out", out());
        }
        // ---- bad input ----
        "long_sum_bad_input" => b
            .stream("n1", Consumed::with(Serde::string(), Serde::<i64>::i64()))
            .group_by_key_with(Grouped::with(Serde::string(), Serde::<i64>::i64()))
            .reduce(|a, v| a + v, Materialized::as_("sums"))
            .to_stream()
            .to("out", out_long()),
        "table_group_by_count" => table(&b, "t1")
            .group_by_with(
                |_, v| (letter(v), v.clone()),
                Grouped::with(Serde::string(), Serde::string()),
            )
            .count(Materialized::as_("per-letter"))
            .to_stream()
            .to("out", out_long()),
        "table_group_by_reduce" => table(&b, "t1")
            .group_by_with(
                |_, v| (letter(v), digit(v) as i64),
                Grouped::with(Serde::string(), Serde::<i64>::i64()),
            )
            .reduce(
                |agg, v| agg + v,
                |agg, old| agg - old,
                Materialized::as_("digit-sums"),
            )
            .to_stream()
            .to("out", out_long()),
        "table_group_by_aggregate" => table(&b, "t1")
            .group_by_with(
                |_, v| (letter(v), v.clone()),
                Grouped::as_("by-letter")
                    .with_key_serde(Serde::string())
                    .with_value_serde(Serde::string()),
            )
            .aggregate(
                String::new,
                |_, v, agg| tail(agg + &digit(v).to_string()),
                |_, _, agg| if agg.is_empty() { agg } else { agg[1..].to_string() },
                Materialized::as_("letter-digits").with_value_serde(Serde::string()),
            )
            .to_stream()
            .to("out", out()),
        "versioned_join" => {
            let t = b.table_with(
                "t1",
                Consumed::with(Serde::string(), Serde::string()),
                Materialized::as_versioned("t1-versions", Duration::from_secs(10)),
            );
            input(&b, "s1")
                .join_table(&t, |v, tv| format!("{v}/{tv}"))
                .to("out", out());
        }
        "versioned_left_join" => {
            let t = b.table_with(
                "t1",
                Consumed::with(Serde::string(), Serde::string()),
                Materialized::as_versioned("t1-versions", Duration::from_secs(10)),
            );
            input(&b, "s1")
                .left_join_table(&t, |v, tv: Option<&String>| {
                    format!("{v}/{}", tv.map_or("null", String::as_str))
                })
                .to("out", out());
        }
        "fk_join" => {
            let (left, right) = (table(&b, "t1"), table(&b, "t2"));
            left.join_on_foreign_key(&right, |v| format!("k{}", digit(v)), |v, o| format!("{v}/{o}"))
                .to_stream()
                .to("out", out());
        }
        "fk_left_join" => {
            let (left, right) = (table(&b, "t1"), table(&b, "t2"));
            left.left_join_on_foreign_key(
                &right,
                |v| format!("k{}", digit(v)),
                |v, o: Option<&String>| format!("{v}/{}", o.map_or("null", String::as_str)),
            )
            .to_stream()
            .to("out", out());
        }
        "fk_join_materialized" => {
            let (left, right) = (table(&b, "t1"), table(&b, "t2"));
            left.join_on_foreign_key_with(
                &right,
                |v| format!("k{}", digit(v)),
                |v, o| letter(v) + &letter(o),
                Materialized::as_("fk-joined").with_value_serde(Serde::string()),
            )
            .to_stream()
            .to("out", out());
        }
        "cogroup_aggregate" => {
            let g1 = input(&b, "s1").group_by_key();
            let g2 = input(&b, "s2").group_by_key();
            g1.cogroup(|_, v: &String, agg: String| tail(agg + &letter(v)))
                .cogroup(&g2, |_, v: &String, agg: String| {
                    tail(agg + &digit(v).to_string())
                })
                .aggregate(
                    String::new,
                    Materialized::as_("cogrouped").with_value_serde(Serde::string()),
                )
                .to_stream()
                .to("out", out());
        }
        "cogroup_windowed" => {
            let g1 = input(&b, "s1").group_by_key();
            let g2 = input(&b, "s2").group_by_key();
            g1.cogroup(|_, v: &String, agg: String| tail(agg + &letter(v)))
                .cogroup(&g2, |_, v: &String, agg: String| {
                    tail(agg + &digit(v).to_string())
                })
                .windowed_by(TimeWindows::of_size_and_grace(secs(10), secs(5)))
                .aggregate(
                    String::new,
                    Materialized::as_("cogroup-windows").with_value_serde(Serde::string()),
                )
                .to_stream()
                .to("out", Produced::with(window_keys(), Serde::string()));
        }
        "cogroup_rekeyed" => {
            let g1 = input(&b, "s1").group_by_with(
                |_, v| letter(v),
                Grouped::as_("by-letter")
                    .with_key_serde(Serde::string())
                    .with_value_serde(Serde::string()),
            );
            let g2 = input(&b, "s2").group_by_key();
            g1.cogroup(|_, _: &String, agg: i64| agg + 1)
                .cogroup(&g2, |_, v: &String, agg: i64| agg + i64::from(digit(v)))
                .aggregate(
                    || 0,
                    Materialized::as_("cogrouped-sums").with_value_serde(Serde::<i64>::i64()),
                )
                .to_stream()
                .to("out", out_long());
        }
        "process_count_punctuate" => {
            b.add_state_store(Stores::key_value_store_builder(
                Stores::in_memory_key_value_store("proc-counts"),
                Serde::string(),
                Serde::<i64>::i64(),
            ));
            input(&b, "s1")
                .process(|| CountAndReport, &["proc-counts"])
                .to("out", out());
        }
        "process_wall_clock_punctuate" => {
            b.add_state_store(Stores::key_value_store_builder(
                Stores::in_memory_key_value_store("wall-counts"),
                Serde::string(),
                Serde::<i64>::i64(),
            ));
            input(&b, "s1")
                .process(|| WallClockReport, &["wall-counts"])
                .to("out", out());
        }
        "process_values_metadata" => input(&b, "s1")
            .process_values(|| OffsetTagger, &[])
            .to("out", out()),
        other => panic!("no case named {other}"),
    }
    b.build()
        .unwrap_or_else(|e| panic!("case {name} does not build: {e}"))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Java's string concatenation of a null: `"null"`.
fn or_null(v: Option<&String>) -> &str {
    v.map_or("null", String::as_str)
}

fn joined() -> StreamJoined<String, String, String> {
    StreamJoined::with(Serde::string(), Serde::string(), Serde::string())
}

/// Counts values per key in its store (a null value deletes the key) and forwards each value
/// with its count; every 10 s of stream time it forwards every count, in key order.
struct CountAndReport;

impl Processor<String, String, String, String> for CountAndReport {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, String>) -> Result<(), ProcessorError> {
        ctx.schedule(Duration::from_secs(10), PunctuationType::StreamTime);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        let mut store = ctx.key_value_store::<String, i64>("proc-counts")?;
        let Some(v) = r.value.clone() else {
            store.delete(&r.key)?;
            ctx.forward(r);
            return Ok(());
        };
        let next = store.get(&r.key)?.unwrap_or(0) + 1;
        store.put(r.key.clone(), next)?;
        ctx.forward(r.with_value(Some(format!("{v}#{next}"))));
        Ok(())
    }

    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        _schedule: Schedule,
        timestamp: i64,
    ) -> Result<(), ProcessorError> {
        for (k, n) in ctx.key_value_store::<String, i64>("proc-counts")?.all()? {
            ctx.forward(Record::new(k, Some(format!("total={n}")), timestamp));
        }
        Ok(())
    }
}

/// The cases written node by node with the Processor API, without the DSL.
fn low_level(name: &str) -> Topology {
    let mut t = TopologyBuilder::new();
    match name {
        "topology_count_tag" => {
            t.add_source("Source", &["s1"], Serde::string(), Serde::string())
                .add_processor("Count", || CountAndTag, &["Source"])
                .add_state_store(
                    Stores::key_value_store_builder(
                        Stores::in_memory_key_value_store("tag-counts"),
                        Serde::string(),
                        Serde::<i64>::i64(),
                    ),
                    &[],
                )
                .connect_processor_and_state_stores("Count", &["tag-counts"])
                .add_sink("Sink", "out", Serde::string(), Serde::string(), &["Count"]);
        }
        other => panic!("no case named {other}"),
    }
    t.build().unwrap()
}

/// Counts values per key in its store and tags each value with its count.
struct CountAndTag;

impl Processor<String, String, String, String> for CountAndTag {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        let Some(v) = r.value.clone() else {
            ctx.forward(r);
            return Ok(());
        };
        let mut store = ctx.key_value_store::<String, i64>("tag-counts")?;
        let next = store.get(&r.key)?.unwrap_or(0) + 1;
        store.put(r.key.clone(), next)?;
        ctx.forward(r.with_value(Some(format!("{v}#{next}"))));
        Ok(())
    }
}

/// Counts values per key; every 10 s of wall-clock time forwards every count.
struct WallClockReport;

impl Processor<String, String, String, String> for WallClockReport {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, String>) -> Result<(), ProcessorError> {
        ctx.schedule(Duration::from_secs(10), PunctuationType::WallClockTime);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        if r.value.is_none() {
            return Ok(());
        }
        let mut store = ctx.key_value_store::<String, i64>("wall-counts")?;
        let n = store.get(&r.key)?.unwrap_or(0) + 1;
        store.put(r.key, n)
    }

    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        _schedule: Schedule,
        timestamp: i64,
    ) -> Result<(), ProcessorError> {
        for (k, n) in ctx.key_value_store::<String, i64>("wall-counts")?.all()? {
            ctx.forward(Record::new(k, Some(format!("seen={n}@{timestamp}")), timestamp));
        }
        Ok(())
    }
}

/// Appends the input record's offset to its value (a null value stays null).
struct OffsetTagger;

impl FixedKeyProcessor<String, String, String> for OffsetTagger {
    fn process(
        &mut self,
        ctx: &mut FixedKeyProcessorContext<'_, String, String>,
        r: FixedKeyRecord<String, String>,
    ) -> Result<(), ProcessorError> {
        let offset = ctx.record_metadata().expect("a record is being processed").offset;
        let value = r.value.clone().map(|v| format!("{}@{offset}", v.to_uppercase()));
        ctx.forward(r.with_value(value));
        Ok(())
    }
}
