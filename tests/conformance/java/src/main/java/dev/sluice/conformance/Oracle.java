package dev.sluice.conformance;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.test.TestRecord;

/**
 * Runs one case of the conformance suite per request on Kafka Streams' TopologyTestDriver.
 *
 * <p>Request (one JSON object per stdin line):
 * {"topology": name, "cache": bool, "continue_on_bad_input": bool,
 *  "events": [{"topic": t, "key": hex|null, "value": hex|null, "ts": ms} | {"wall_ms": ms}],
 *  "outputs": [topic...], "stores": [{"name": n, "kind": "kv"|"window"|"session"}],
 *  "keys": [string...]}   (the keys whose sessions are listed: session stores have no scan-all)
 *
 * <p>Response (one JSON object per stdout line):
 * {"describe": text, "outputs": {topic: [{"key", "value", "ts", "headers"}]},
 *  "stores": {name: [[key, value]...]}, "error": null|message}
 *
 * Keys and values travel as hex, so both drivers see and write exactly the same bytes. Store
 * entries are strings: key, key@start for windows, key@start-end for sessions.
 */
public final class Oracle {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HexFormat HEX = HexFormat.of();

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            ObjectNode response;
            try {
                response = run(JSON.readTree(line));
            } catch (Throwable e) {
                // A request the oracle cannot run at all (unknown topology, bad JSON).
                response = JSON.createObjectNode();
                response.put("fatal", e.toString());
            }
            out.println(JSON.writeValueAsString(response));
        }
    }

    static Properties config(JsonNode request) {
        Properties p = new Properties();
        // The same application id as Sluice's TopologyTestDriver.
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, "test-driver");
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "dummy:9092");
        p.put(StreamsConfig.DSL_STORE_SUPPLIERS_CLASS_CONFIG,
              "org.apache.kafka.streams.state.BuiltInDslStoreSuppliers$InMemoryDslStoreSuppliers");
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class.getName());
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class.getName());
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG,
              request.path("cache").asBoolean(true) ? "10485760" : "0");
        // Kafka Streams throttles, by wall-clock time (1 s), when a stream-stream outer or left
        // join emits its non-joined records and when an emit-on-window-close aggregation emits
        // closed windows: its TopologyTestDriver shows them only after advanceWallClockTime.
        // Sluice emits them as soon as stream time closes their windows; the suite turns the
        // throttle off (README, "Differences from Kafka Streams").
        p.put("__emit.interval.ms.kstreams.outer.join.spurious.results.fix__", 0L);
        p.put("__emit.interval.ms.kstreams.windowed.aggregation__", 0L);
        if (request.path("continue_on_bad_input").asBoolean(false)) {
            p.put("deserialization.exception.handler",
                  "org.apache.kafka.streams.errors.LogAndContinueExceptionHandler");
        }
        return p;
    }

    static ObjectNode run(JsonNode request) {
        String name = request.get("topology").asText();
        Topology topology = Catalogue.topology(name);
        ObjectNode response = JSON.createObjectNode();
        response.put("describe", topology.describe().toString());
        response.putNull("error");
        // Persistent stores (a versioned store is one) of concurrent oracles must not share
        // the default state directory: each request gets its own, deleted after it.
        Properties props = config(request);
        Path stateDir;
        try {
            stateDir = Files.createTempDirectory("sluice-oracle-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        try (TopologyTestDriver driver = new TopologyTestDriver(topology, props, Instant.ofEpochMilli(0))) {
            Map<String, org.apache.kafka.streams.TestInputTopic<byte[], byte[]>> inputs = new HashMap<>();
            for (JsonNode event : request.get("events")) {
                if (event.has("wall_ms")) {
                    driver.advanceWallClockTime(Duration.ofMillis(event.get("wall_ms").asLong()));
                    continue;
                }
                String topic = event.get("topic").asText();
                var input = inputs.computeIfAbsent(topic,
                    t -> driver.createInputTopic(t, new ByteArraySerializer(), new ByteArraySerializer()));
                try {
                    input.pipeInput(new TestRecord<>(bytes(event.get("key")), bytes(event.get("value")),
                                                     null, event.get("ts").asLong()));
                } catch (RuntimeException e) {
                    response.put("error", e.toString());
                    break;
                }
            }
            ObjectNode outputs = response.putObject("outputs");
            for (JsonNode topicNode : request.get("outputs")) {
                String topic = topicNode.asText();
                ArrayNode records = outputs.putArray(topic);
                var output = driver.createOutputTopic(topic, new ByteArrayDeserializer(), new ByteArrayDeserializer());
                for (TestRecord<byte[], byte[]> r : output.readRecordsToList()) {
                    ObjectNode o = records.addObject();
                    putHex(o, "key", r.key());
                    putHex(o, "value", r.value());
                    o.put("ts", r.timestamp());
                    ArrayNode headers = o.putArray("headers");
                    for (Header h : r.headers()) {
                        ArrayNode pair = headers.addArray();
                        pair.add(h.key());
                        pair.add(h.value() == null ? null : HEX.formatHex(h.value()));
                    }
                }
            }
            ObjectNode stores = response.putObject("stores");
            for (JsonNode store : request.get("stores")) {
                String storeName = store.get("name").asText();
                stores.set(storeName, dump(driver, storeName, store.get("kind").asText(), request.get("keys")));
            }
        } finally {
            deleteTree(stateDir);
        }
        return response;
    }

    /** Deletes a directory and everything in it (best effort). */
    static void deleteTree(Path dir) {
        try (var paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // A leftover temporary directory is harmless.
        }
    }

    static ArrayNode dump(TopologyTestDriver driver, String name, String kind, JsonNode keys) {
        ArrayNode entries = JSON.createArrayNode();
        switch (kind) {
            case "kv" -> {
                try (KeyValueIterator<Object, Object> it = driver.getKeyValueStore(name).all()) {
                    it.forEachRemaining(kv -> add(entries, String.valueOf(kv.key), kv.value));
                }
            }
            case "window" -> {
                try (KeyValueIterator<Windowed<Object>, Object> it = driver.getWindowStore(name).all()) {
                    it.forEachRemaining(kv -> add(entries, kv.key.key() + "@" + kv.key.window().start(), kv.value));
                }
            }
            case "session" -> {
                var store = driver.getSessionStore(name);
                for (JsonNode key : keys) {
                    try (KeyValueIterator<Windowed<Object>, Object> it = store.fetch(key.asText())) {
                        it.forEachRemaining(kv -> add(entries,
                            kv.key.key() + "@" + kv.key.window().start() + "-" + kv.key.window().end(), kv.value));
                    }
                }
            }
            default -> throw new IllegalArgumentException("unknown store kind " + kind);
        }
        return entries;
    }

    static void add(ArrayNode entries, String key, Object value) {
        ArrayNode pair = entries.addArray();
        pair.add(key);
        pair.add(value == null ? null : String.valueOf(value));
    }

    static byte[] bytes(JsonNode hex) {
        return hex == null || hex.isNull() ? null : HEX.parseHex(hex.asText());
    }

    static void putHex(ObjectNode o, String field, byte[] bytes) {
        if (bytes == null) {
            o.putNull(field);
        } else {
            o.put(field, HEX.formatHex(bytes));
        }
    }

    private Oracle() {}
}
