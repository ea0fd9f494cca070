package dev.sluice.conformance;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.EmitStrategy;
import org.apache.kafka.streams.kstream.GlobalKTable;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.KGroupedStream;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.SlidingWindows;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.kstream.WindowedSerdes;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.streams.state.Stores;

/**
 * The conformance catalogue in Kafka Streams' DSL. Each case mirrors, operator for operator and
 * name for name, the Sluice program of the same name in tests/conformance/catalogue.rs.
 *
 * <p>Sluice's closures take values by reference and never see a null value: value-only
 * operators (filter, mapValues, flatMapValues, peek) pass a null value on without calling the
 * closure, and key-changing operators (map, selectKey, flatMap, groupBy) drop it. The Java
 * functions below spell that rule out ({@code v == null ? ...}) so that both programs are the
 * same program; the generator sends no null values to key-changing operators.
 */
final class Catalogue {
    static final Serde<String> S = Serdes.String();
    static final Serde<Long> L = Serdes.Long();
    static final Consumed<String, String> IN = Consumed.with(S, S);
    static final Produced<String, String> OUT = Produced.with(S, S);
    static final Produced<String, Long> OUT_LONG = Produced.with(S, L);

    static String letter(String v) {
        return v.substring(0, 1);
    }

    static int digit(String v) {
        return v.charAt(v.length() - 1) - '0';
    }

    /** Windowed keys as Kafka writes them: the key, then the window start (the size is only read back). */
    static final Serde<Windowed<String>> WINDOW_KEYS = WindowedSerdes.timeWindowedSerdeFrom(String.class, 10_000L);
    /** Session keys as Kafka writes them: the key, then the end and the start. */
    static final Serde<Windowed<String>> SESSION_KEYS = WindowedSerdes.sessionWindowedSerdeFrom(String.class);

    /** Keeps the last six characters: a reducer whose value stays small. */
    static String tail(String s) {
        return s.length() <= 6 ? s : s.substring(s.length() - 6);
    }

    /** The topology of case {@code name}: written with the Processor API, or with the DSL. */
    static Topology topology(String name) {
        if (name.startsWith("topology_")) {
            return lowLevel(name);
        }
        StreamsBuilder b = new StreamsBuilder();
        build(name, b);
        return b.build();
    }

    /** The cases written node by node, without the DSL. */
    static Topology lowLevel(String name) {
        Topology t = new Topology();
        switch (name) {
            case "topology_count_tag" -> {
                t.addSource("Source", S.deserializer(), S.deserializer(), "s1");
                t.addProcessor("Count", CountAndTag::new, "Source");
                t.addStateStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore("tag-counts"), S, L));
                t.connectProcessorAndStateStores("Count", "tag-counts");
                t.addSink("Sink", "out", S.serializer(), S.serializer(), "Count");
            }
            default -> throw new IllegalArgumentException("no topology named " + name);
        }
        return t;
    }

    /** Counts values per key in its store and tags each value with its count. */
    static final class CountAndTag implements Processor<String, String, String, String> {
        private ProcessorContext<String, String> ctx;
        private KeyValueStore<String, Long> store;

        @Override
        public void init(ProcessorContext<String, String> context) {
            ctx = context;
            store = context.getStateStore("tag-counts");
        }

        @Override
        public void process(Record<String, String> r) {
            if (r.value() == null) {
                ctx.forward(r);
                return;
            }
            Long n = store.get(r.key());
            long next = (n == null ? 0 : n) + 1;
            store.put(r.key(), next);
            ctx.forward(r.withValue(r.value() + "#" + next));
        }
    }

    static void build(String name, StreamsBuilder b) {
        switch (name) {
            // ---- stateless ----
            case "filter" -> b.stream("s1", IN)
                .filter((k, v) -> v == null || v.startsWith("a"))
                .to("out", OUT);
            case "filter_not" -> b.stream("s1", IN)
                .filterNot((k, v) -> v != null && digit(v) % 2 == 0)
                .to("out", OUT);
            case "map_values" -> b.stream("s1", IN)
                .mapValues(v -> v == null ? null : v + "!")
                .to("out", OUT);
            case "map_values_with_key" -> b.stream("s1", IN)
                .mapValues((k, v) -> v == null ? null : k + "=" + v)
                .to("out", OUT);
            case "map" -> b.stream("s1", IN)
                .map((k, v) -> KeyValue.pair(letter(v), k + ":" + v))
                .to("out", OUT);
            case "select_key" -> b.stream("s1", IN)
                .selectKey((k, v) -> letter(v))
                .to("out", OUT);
            case "flat_map" -> b.stream("s1", IN)
                .flatMap((k, v) -> {
                    List<KeyValue<String, String>> out = new ArrayList<>();
                    for (int i = 0; i < digit(v) % 3; i++) {
                        out.add(KeyValue.pair(k + i, v));
                    }
                    return out;
                })
                .to("out", OUT);
            case "flat_map_values" -> b.stream("s1", IN)
                .flatMapValues(v -> v == null
                    ? Collections.singletonList((String) null)
                    : List.of(letter(v), String.valueOf(digit(v))))
                .to("out", OUT);
            case "merge_peek" -> b.stream("s1", IN)
                .merge(b.stream("s2", IN))
                .peek((k, v) -> { })
                .to("out", OUT);
            case "split" -> {
                Map<String, KStream<String, String>> branches = b.stream("s1", IN)
                    .split(Named.as("route-"))
                    .branch((k, v) -> v != null && v.startsWith("a"), Branched.as("a"))
                    .branch((k, v) -> v != null && digit(v) > 4, Branched.as("high"))
                    .defaultBranch(Branched.as("other"));
                branches.get("route-a").to("out-a", OUT);
                branches.get("route-high").to("out-high", OUT);
                branches.get("route-other").to("out-other", OUT);
            }
            case "split_no_default" -> {
                Map<String, KStream<String, String>> branches = b.stream("s1", IN)
                    .split()
                    .branch((k, v) -> v != null && v.startsWith("b"), Branched.as("b"))
                    .noDefaultBranch();
                branches.get("KSTREAM-BRANCH-0000000001b").to("out", OUT);
            }
            // ---- aggregations ----
            case "count" -> b.stream("s1", IN)
                .groupByKey()
                .count(Materialized.as("counts"))
                .toStream()
                .to("out", OUT_LONG);
            case "count_cache_off" -> b.stream("s1", IN)
                .groupByKey()
                .count(Materialized.<String, Long, org.apache.kafka.streams.state.KeyValueStore<org.apache.kafka.common.utils.Bytes, byte[]>>as("counts").withCachingDisabled())
                .toStream()
                .to("out", OUT_LONG);
            case "reduce" -> b.stream("s1", IN)
                .groupByKey()
                .reduce((a, v) -> tail(a + v), Materialized.as("reduced"))
                .toStream()
                .to("out", OUT);
            case "aggregate" -> b.stream("s1", IN)
                .groupByKey()
                .aggregate(() -> "", (k, v, agg) -> tail(agg + digit(v)),
                           Materialized.<String, String, org.apache.kafka.streams.state.KeyValueStore<org.apache.kafka.common.utils.Bytes, byte[]>>as("aggregated").withValueSerde(S))
                .toStream()
                .to("out", OUT);
            case "group_by_count" -> b.stream("s1", IN)
                .groupBy((k, v) -> letter(v), Grouped.with(S, S))
                .count(Materialized.as("by-letter"))
                .toStream()
                .to("out", OUT_LONG);
            case "repartition_count" -> b.stream("s1", IN)
                .selectKey((k, v) -> letter(v))
                .repartition()
                .groupByKey()
                .count(Materialized.as("by-letter"))
                .toStream()
                .to("out", OUT_LONG);
            case "to_table" -> b.stream("s1", IN)
                .toTable(Materialized.as("latest"))
                .toStream()
                .to("out", OUT);
            case "table_filter_map_values" -> b.table("t1", IN)
                .filter((k, v) -> digit(v) < 7)
                .mapValues(v -> v + "!")
                .toStream()
                .to("out", OUT);
            case "table_materialized" -> b.table("t1", IN, Materialized.as("t1-store"))
                .toStream()
                .to("out", OUT);
            // ---- windows ----
            case "tumbling_count" -> b.stream("s1", IN)
                .groupByKey()
                .windowedBy(TimeWindows.ofSizeWithNoGrace(Duration.ofSeconds(10)))
                .count(Materialized.as("tumbling"))
                .toStream()
                .to("out", Produced.with(WINDOW_KEYS, L));
            case "tumbling_grace_count" -> b.stream("s1", IN)
                .groupByKey()
                .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(10), Duration.ofSeconds(5)))
                .count(Materialized.as("tumbling"))
                .toStream()
                .to("out", Produced.with(WINDOW_KEYS, L));
            case "hopping_count" -> b.stream("s1", IN)
                .groupByKey()
                .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(10), Duration.ofSeconds(3))
                    .advanceBy(Duration.ofSeconds(5)))
                .count(Materialized.as("hopping"))
                .toStream()
                .to("out", Produced.with(WINDOW_KEYS, L));
            case "tumbling_reduce_suppress" -> b.stream("s1", IN)
                .groupByKey()
                .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(10), Duration.ofSeconds(2)))
                .reduce((a, v) -> tail(a + v), Materialized.as("tumbling"))
                .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
                .toStream()
                .to("out", Produced.with(WINDOW_KEYS, S));
            case "tumbling_emit_on_close" -> b.stream("s1", IN)
                .groupByKey()
                .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(10), Duration.ofSeconds(2)))
                .emitStrategy(EmitStrategy.onWindowClose())
                // Retention well beyond any jump of the generator's stream time (see Rust side).
                .count(Materialized.<String, Long, org.apache.kafka.streams.state.WindowStore<org.apache.kafka.common.utils.Bytes, byte[]>>as("tumbling")
                    .withRetention(Duration.ofSeconds(60)))
                .toStream()
                .to("out", Produced.with(WINDOW_KEYS, L));
            case "sliding_count" -> b.stream("s1", IN)
                .groupByKey()
                .windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(Duration.ofSeconds(5), Duration.ofSeconds(2)))
                .count(Materialized.as("sliding"))
                .toStream()
                .to("out", Produced.with(WINDOW_KEYS, L));
            case "sliding_aggregate" -> b.stream("s1", IN)
                .groupByKey()
                .windowedBy(SlidingWindows.ofTimeDifferenceWithNoGrace(Duration.ofSeconds(4)))
                .aggregate(() -> "", (k, v, agg) -> tail(agg + digit(v)),
                           Materialized.<String, String, org.apache.kafka.streams.state.WindowStore<org.apache.kafka.common.utils.Bytes, byte[]>>as("sliding").withValueSerde(S))
                .toStream()
                .to("out", Produced.with(WINDOW_KEYS, S));
            case "session_count" -> b.stream("s1", IN)
                .groupByKey()
                .windowedBy(SessionWindows.ofInactivityGapAndGrace(Duration.ofSeconds(5), Duration.ofSeconds(3)))
                .count(Materialized.as("sessions"))
                .toStream()
                .to("out", Produced.with(SESSION_KEYS, L));
            case "session_reduce" -> b.stream("s1", IN)
                .groupByKey()
                .windowedBy(SessionWindows.ofInactivityGapWithNoGrace(Duration.ofSeconds(4)))
                .reduce((a, v) -> tail(a + v), Materialized.as("sessions"))
                .toStream()
                .to("out", Produced.with(SESSION_KEYS, S));
            // ---- joins ----
            case "stream_table_join" -> {
                KTable<String, String> t = b.table("t1", IN);
                b.stream("s1", IN).join(t, (v, tv) -> v + "|" + tv).to("out", OUT);
            }
            case "stream_table_left_join" -> {
                KTable<String, String> t = b.table("t1", IN);
                b.stream("s1", IN).leftJoin(t, (v, tv) -> v + "|" + tv).to("out", OUT);
            }
            case "stream_table_join_rekeyed" -> {
                KTable<String, String> t = b.table("t1", IN);
                b.stream("s1", IN).selectKey((k, v) -> k).join(t, (v, tv) -> v + "|" + tv).to("out", OUT);
            }
            case "stream_stream_join_named" -> b.stream("s1", IN)
                .selectKey((k, v) -> k)
                .leftJoin(b.stream("s2", IN).selectKey((k, v) -> k), (a, c) -> a + "+" + c,
                          JoinWindows.ofTimeDifferenceAndGrace(Duration.ofSeconds(3), Duration.ofSeconds(1)),
                          StreamJoined.with(S, S, S).withName("pair").withStoreName("pair-store"))
                .to("out", OUT);
            case "stream_stream_join" -> b.stream("s1", IN)
                .join(b.stream("s2", IN), (a, c) -> a + "+" + c,
                      JoinWindows.ofTimeDifferenceAndGrace(Duration.ofSeconds(5), Duration.ofSeconds(2)),
                      StreamJoined.with(S, S, S))
                .to("out", OUT);
            case "stream_stream_left_join" -> b.stream("s1", IN)
                .leftJoin(b.stream("s2", IN), (a, c) -> a + "+" + c,
                          JoinWindows.ofTimeDifferenceAndGrace(Duration.ofSeconds(4), Duration.ofSeconds(1))
                              .after(Duration.ofSeconds(2)),
                          StreamJoined.with(S, S, S))
                .to("out", OUT);
            case "stream_stream_outer_join" -> b.stream("s1", IN)
                .outerJoin(b.stream("s2", IN), (a, c) -> a + "+" + c,
                           JoinWindows.ofTimeDifferenceAndGrace(Duration.ofSeconds(5), Duration.ofSeconds(2))
                               .before(Duration.ofSeconds(3)),
                           StreamJoined.with(S, S, S))
                .to("out", OUT);
            case "table_table_join" -> b.table("t1", IN)
                .join(b.table("t2", IN), (a, c) -> a + "&" + c)
                .toStream()
                .to("out", OUT);
            case "table_table_left_join" -> b.table("t1", IN)
                .leftJoin(b.table("t2", IN), (a, c) -> a + "&" + c)
                .toStream()
                .to("out", OUT);
            case "table_table_outer_join" -> b.table("t1", IN)
                .outerJoin(b.table("t2", IN), (a, c) -> a + "&" + c)
                .toStream()
                .to("out", OUT);
            case "global_join" -> {
                GlobalKTable<String, String> g = b.globalTable("g1", IN);
                b.stream("s1", IN).join(g, (k, v) -> letter(v), (v, gv) -> v + "/" + gv).to("out", OUT);
            }
            case "global_left_join" -> {
                GlobalKTable<String, String> g = b.globalTable("g1", IN);
                b.stream("s1", IN).leftJoin(g, (k, v) -> letter(v), (v, gv) -> v + "/" + gv).to("out", OUT);
            }
            // ---- table re-grouping ----
            case "table_group_by_count" -> b.table("t1", IN)
                .groupBy((k, v) -> KeyValue.pair(letter(v), v), Grouped.with(S, S))
                .count(Materialized.as("per-letter"))
                .toStream()
                .to("out", OUT_LONG);
            case "table_group_by_reduce" -> b.table("t1", IN)
                .groupBy((k, v) -> KeyValue.pair(letter(v), (long) digit(v)), Grouped.with(S, L))
                .reduce(Long::sum, (agg, old) -> agg - old, Materialized.as("digit-sums"))
                .toStream()
                .to("out", OUT_LONG);
            case "table_group_by_aggregate" -> b.table("t1", IN)
                .groupBy((k, v) -> KeyValue.pair(letter(v), v), Grouped.with("by-letter", S, S))
                .aggregate(
                    () -> "",
                    (k, v, agg) -> tail(agg + String.valueOf(digit(v))),
                    (k, v, agg) -> agg.isEmpty() ? agg : agg.substring(1),
                    Materialized.<String, String, KeyValueStore<Bytes, byte[]>>as("letter-digits").withValueSerde(S))
                .toStream()
                .to("out", OUT);
            // ---- versioned tables ----
            case "versioned_join" -> {
                KTable<String, String> t = b.table("t1", IN,
                    Materialized.<String, String>as(Stores.persistentVersionedKeyValueStore("t1-versions", Duration.ofSeconds(10)))
                        .withKeySerde(S).withValueSerde(S));
                b.stream("s1", IN).join(t, (v, tv) -> v + "/" + tv).to("out", OUT);
            }
            case "versioned_left_join" -> {
                KTable<String, String> t = b.table("t1", IN,
                    Materialized.<String, String>as(Stores.persistentVersionedKeyValueStore("t1-versions", Duration.ofSeconds(10)))
                        .withKeySerde(S).withValueSerde(S));
                b.stream("s1", IN).leftJoin(t, (v, tv) -> v + "/" + tv).to("out", OUT);
            }
            // ---- foreign-key joins ----
            case "fk_join" -> {
                KTable<String, String> left = b.table("t1", IN);
                KTable<String, String> right = b.table("t2", IN);
                left.join(right, (String v) -> "k" + digit(v), (v, o) -> v + "/" + o)
                    .toStream()
                    .to("out", OUT);
            }
            case "fk_left_join" -> {
                KTable<String, String> left = b.table("t1", IN);
                KTable<String, String> right = b.table("t2", IN);
                left.leftJoin(right, (String v) -> "k" + digit(v), (v, o) -> v + "/" + o)
                    .toStream()
                    .to("out", OUT);
            }
            case "fk_join_materialized" -> {
                KTable<String, String> left = b.table("t1", IN);
                KTable<String, String> right = b.table("t2", IN);
                left.join(right, (String v) -> "k" + digit(v), (v, o) -> letter(v) + letter(o),
                        Materialized.<String, String, KeyValueStore<Bytes, byte[]>>as("fk-joined").withValueSerde(S))
                    .toStream()
                    .to("out", OUT);
            }
            // ---- cogroup ----
            case "cogroup_aggregate" -> {
                KGroupedStream<String, String> g1 = b.stream("s1", IN).groupByKey();
                KGroupedStream<String, String> g2 = b.stream("s2", IN).groupByKey();
                g1.cogroup((String k, String v, String agg) -> tail(agg + letter(v)))
                    .cogroup(g2, (k, v, agg) -> tail(agg + digit(v)))
                    .aggregate(() -> "", Materialized.<String, String, KeyValueStore<Bytes, byte[]>>as("cogrouped").withValueSerde(S))
                    .toStream()
                    .to("out", OUT);
            }
            case "cogroup_windowed" -> {
                KGroupedStream<String, String> g1 = b.stream("s1", IN).groupByKey();
                KGroupedStream<String, String> g2 = b.stream("s2", IN).groupByKey();
                g1.cogroup((String k, String v, String agg) -> tail(agg + letter(v)))
                    .cogroup(g2, (k, v, agg) -> tail(agg + digit(v)))
                    .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(10), Duration.ofSeconds(5)))
                    .aggregate(() -> "", Materialized.<String, String, WindowStore<Bytes, byte[]>>as("cogroup-windows").withValueSerde(S))
                    .toStream()
                    .to("out", Produced.with(WINDOW_KEYS, S));
            }
            case "cogroup_rekeyed" -> {
                KGroupedStream<String, String> g1 = b.stream("s1", IN)
                    .groupBy((k, v) -> letter(v), Grouped.with("by-letter", S, S));
                KGroupedStream<String, String> g2 = b.stream("s2", IN).groupByKey();
                g1.cogroup((String k, String v, Long agg) -> agg + 1)
                    .cogroup(g2, (k, v, agg) -> agg + digit(v))
                    .aggregate(() -> 0L, Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as("cogrouped-sums").withValueSerde(L))
                    .toStream()
                    .to("out", OUT_LONG);
            }
            // ---- Processor API ----
            case "process_count_punctuate" -> {
                b.addStateStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore("proc-counts"), S, L));
                b.stream("s1", IN).process(CountAndReport::new, "proc-counts").to("out", OUT);
            }
            case "process_wall_clock_punctuate" -> {
                b.addStateStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore("wall-counts"), S, L));
                b.stream("s1", IN).process(WallClockReport::new, "wall-counts").to("out", OUT);
            }
            case "process_values_metadata" -> b.stream("s1", IN)
                .processValues(OffsetTagger::new)
                .to("out", OUT);
            // ---- bad input ----
            case "long_sum_bad_input" -> b.stream("n1", Consumed.with(S, L))
                .groupByKey(Grouped.with(S, L))
                .reduce(Long::sum, Materialized.as("sums"))
                .toStream()
                .to("out", OUT_LONG);
            default -> throw new IllegalArgumentException("no topology named " + name);
        }
    }

    /**
     * Counts values per key in its store (a null value deletes the key) and forwards each value
     * with its count; every 10 s of stream time it forwards every count, in key order.
     */
    static final class CountAndReport implements Processor<String, String, String, String> {
        private ProcessorContext<String, String> ctx;
        private KeyValueStore<String, Long> store;

        @Override
        public void init(ProcessorContext<String, String> context) {
            ctx = context;
            store = context.getStateStore("proc-counts");
            context.schedule(Duration.ofSeconds(10), PunctuationType.STREAM_TIME, ts -> {
                try (KeyValueIterator<String, Long> it = store.all()) {
                    while (it.hasNext()) {
                        KeyValue<String, Long> kv = it.next();
                        ctx.forward(new Record<>(kv.key, "total=" + kv.value, ts));
                    }
                }
            });
        }

        @Override
        public void process(Record<String, String> r) {
            if (r.value() == null) {
                store.delete(r.key());
                ctx.forward(r);
                return;
            }
            Long n = store.get(r.key());
            long next = (n == null ? 0 : n) + 1;
            store.put(r.key(), next);
            ctx.forward(r.withValue(r.value() + "#" + next));
        }
    }

    /** Counts values per key; every 10 s of wall-clock time forwards every count. */
    static final class WallClockReport implements Processor<String, String, String, String> {
        private KeyValueStore<String, Long> store;

        @Override
        public void init(ProcessorContext<String, String> context) {
            store = context.getStateStore("wall-counts");
            context.schedule(Duration.ofSeconds(10), PunctuationType.WALL_CLOCK_TIME, ts -> {
                try (KeyValueIterator<String, Long> it = store.all()) {
                    while (it.hasNext()) {
                        KeyValue<String, Long> kv = it.next();
                        context.forward(new Record<>(kv.key, "seen=" + kv.value + "@" + ts, ts));
                    }
                }
            });
        }

        @Override
        public void process(Record<String, String> r) {
            if (r.value() == null) {
                return;
            }
            Long n = store.get(r.key());
            store.put(r.key(), (n == null ? 0 : n) + 1);
        }
    }

    /** Appends the input record's offset to its value (a null value stays null). */
    static final class OffsetTagger implements FixedKeyProcessor<String, String, String> {
        private FixedKeyProcessorContext<String, String> ctx;

        @Override
        public void init(FixedKeyProcessorContext<String, String> context) {
            ctx = context;
        }

        @Override
        public void process(FixedKeyRecord<String, String> r) {
            String v = r.value();
            long offset = ctx.recordMetadata().orElseThrow().offset();
            ctx.forward(r.withValue(v == null ? null : v.toUpperCase() + "@" + offset));
        }
    }

    private Catalogue() {}
}
