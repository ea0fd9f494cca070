package dev.sluice.bench;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.SlidingWindows;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.WindowStore;

/**
 * Scenarios (b) to (e) of Sluice's end-to-end benchmark, run by Kafka Streams: the same
 * topologies as benches/e2e/scenarios.rs, with the same settings (one stream thread, 100 ms
 * commits, the default 10 MiB record cache, RocksDB stores).
 *
 * <p>Protocol with the harness (as Sluice's own child processes): prints {@code READY} once
 * running, then {@code RESULT <json>} with records, seconds, cpu_seconds and peak_rss_bytes
 * over the measured window. Throughput ({@code --expect N}): from 5% to 100% of N records
 * processed. Latency ({@code --expect 0}): until stdin says {@code stop [n]} (and n records
 * were processed) or closes.
 */
public final class KafkaStreamsPeer {
  private KafkaStreamsPeer() {}

  /** The reading in a payload: its first 8 bytes, a big-endian double. */
  static double reading(byte[] v) {
    return v.length < 8 ? 0.0 : ByteBuffer.wrap(v, 0, 8).getDouble();
  }

  /** Running statistics of a device's readings (scenario e), 24 bytes serialized. */
  record Stats(long count, double sum, double sumSq) {
    static final Stats EMPTY = new Stats(0, 0.0, 0.0);

    Stats add(double x) {
      return new Stats(count + 1, sum + x, sumSq + x * x);
    }

    String summary() {
      double n = Math.max(count, 1);
      double mean = sum / n;
      double std = Math.sqrt(Math.max(sumSq / n - mean * mean, 0.0));
      return String.format(Locale.ROOT, "%d,%.2f,%.2f", count, mean, std);
    }
  }

  static final Serde<Stats> STATS =
      Serdes.serdeFrom(
          (Serializer<Stats>)
              (topic, s) ->
                  ByteBuffer.allocate(24).putLong(s.count).putDouble(s.sum).putDouble(s.sumSq).array(),
          (Deserializer<Stats>)
              (topic, b) -> {
                ByteBuffer buf = ByteBuffer.wrap(b);
                return new Stats(buf.getLong(), buf.getDouble(), buf.getDouble());
              });

  static void topology(StreamsBuilder b, Map<String, String> args) {
    KStream<String, byte[]> input =
        b.stream(args.get("input"), Consumed.with(Serdes.String(), Serdes.ByteArray()));
    Produced<String, byte[]> out = Produced.with(Serdes.String(), Serdes.ByteArray());
    String output = args.get("output");
    switch (args.get("kind")) {
      case "stateless" ->
          input
              .filter((k, v) -> reading(v) >= 64.0)
              .mapValues(
                  v -> {
                    byte[] copy = v.clone();
                    for (int i = 8; i < copy.length; i++) {
                      if (copy[i] >= 'a' && copy[i] <= 'z') {
                        copy[i] -= 32;
                      }
                    }
                    return copy;
                  })
              .to(output, out);
      case "windowed-count" ->
          input
              .groupByKey()
              .windowedBy(TimeWindows.ofSizeWithNoGrace(Duration.ofMinutes(5)))
              .count(Materialized.<String, Long, WindowStore<Bytes, byte[]>>as("tx-velocity-store"))
              .toStream()
              .map(
                  (w, n) ->
                      KeyValue.pair(
                          w.key() + "@" + w.window().start(),
                          ByteBuffer.allocate(8).putLong(n).array()))
              .to(output, out);
      case "join" -> {
        KTable<String, byte[]> profiles =
            b.table(args.get("profiles"), Consumed.with(Serdes.String(), Serdes.ByteArray()));
        input
            .join(
                profiles,
                (v, p) -> {
                  int tail = Math.min(p.length, 16);
                  byte[] joined = new byte[v.length + tail];
                  System.arraycopy(v, 0, joined, 0, v.length);
                  System.arraycopy(p, 0, joined, v.length, tail);
                  return joined;
                })
            .to(output, out);
      }
      case "sliding" ->
          input
              .groupByKey()
              .windowedBy(
                  SlidingWindows.ofTimeDifferenceAndGrace(Duration.ofSeconds(30), Duration.ofSeconds(1)))
              .aggregate(
                  () -> Stats.EMPTY,
                  (k, v, s) -> s.add(reading(v)),
                  Materialized.<String, Stats, WindowStore<Bytes, byte[]>>as("device-stats")
                      .withKeySerde(Serdes.String())
                      .withValueSerde(STATS))
              .toStream()
              .map(
                  (w, s) ->
                      KeyValue.pair(
                          w.key() + "@" + w.window().start(),
                          s.summary().getBytes(StandardCharsets.UTF_8)))
              .to(output, out);
      default -> throw new IllegalArgumentException("unknown scenario " + args.get("kind"));
    }
  }

  /** Records processed by the stream thread (its {@code process-total} metric). */
  static long processed(KafkaStreams streams) {
    double total = 0;
    for (Map.Entry<MetricName, ? extends Metric> e : streams.metrics().entrySet()) {
      MetricName name = e.getKey();
      if (name.name().equals("process-total") && name.group().equals("stream-thread-metrics")) {
        total += ((Number) e.getValue().metricValue()).doubleValue();
      }
    }
    return (long) total;
  }

  static double cpuSeconds() {
    var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    return os.getProcessCpuTime() / 1e9;
  }

  /** Peak resident set size (VmHWM), as Sluice's children report theirs. */
  static long peakRssBytes() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmHWM:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
      }
    } catch (Exception e) {
      // Not Linux: no figure.
    }
    return 0;
  }

  public static void main(String[] argv) throws Exception {
    Map<String, String> args = new HashMap<>();
    for (int i = 0; i + 1 < argv.length; i += 2) {
      args.put(argv[i].replaceFirst("^--", ""), argv[i + 1]);
    }
    long expect = Long.parseLong(args.get("expect"));
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, args.get("app"));
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args.get("bootstrap"));
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, args.get("guarantee"));
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, args.get("commit-interval-ms"));
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
    p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, Long.parseLong(args.get("cache-bytes")));
    p.put(StreamsConfig.STATE_DIR_CONFIG, args.get("state-dir"));
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    StreamsBuilder b = new StreamsBuilder();
    topology(b, args);
    KafkaStreams streams = new KafkaStreams(b.build(), p);
    AtomicBoolean failed = new AtomicBoolean();
    streams.setUncaughtExceptionHandler(
        e -> {
          e.printStackTrace();
          failed.set(true);
          return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse
              .SHUTDOWN_CLIENT;
        });
    streams.start();
    long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
    while (streams.state() != KafkaStreams.State.RUNNING) {
      if (System.nanoTime() > deadline || failed.get()) {
        throw new IllegalStateException("not running: " + streams.state());
      }
      Thread.sleep(10);
    }
    System.out.println("READY");
    System.out.flush();

    AtomicBoolean stop = new AtomicBoolean();
    AtomicLong atLeast = new AtomicLong();
    if (expect == 0) {
      Thread reader =
          new Thread(
              () -> {
                try (var in = new java.io.BufferedReader(new java.io.InputStreamReader(System.in))) {
                  for (String line; (line = in.readLine()) != null; ) {
                    String t = line.trim();
                    if (t.startsWith("stop")) {
                      String rest = t.substring(4).trim();
                      atLeast.set(rest.isEmpty() ? 0 : Long.parseLong(rest));
                      break;
                    }
                  }
                } catch (Exception e) {
                  // stdin closed: stop.
                }
                stop.set(true);
              });
      reader.setDaemon(true);
      reader.start();
    }
    long start = System.nanoTime();
    double startCpu = cpuSeconds();
    long startCount = 0;
    boolean started = expect == 0;
    while (true) {
      Thread.sleep(5);
      if (failed.get()) {
        throw new IllegalStateException("Kafka Streams failed");
      }
      long n = processed(streams);
      if (!started && n * 20 >= expect) {
        start = System.nanoTime();
        startCpu = cpuSeconds();
        startCount = n;
        started = true;
      }
      boolean stopped = stop.get() && n >= atLeast.get();
      if ((expect > 0 && n >= expect) || stopped) {
        double seconds = (System.nanoTime() - start) / 1e9;
        String result =
            String.format(
                Locale.ROOT,
                "{\"records\":%d,\"seconds\":%.6f,\"cpu_seconds\":%.6f,\"peak_rss_bytes\":%d}",
                n - startCount,
                seconds,
                cpuSeconds() - startCpu,
                peakRssBytes());
        streams.close(Duration.ofSeconds(30));
        System.out.println("RESULT " + result);
        System.out.flush();
        return;
      }
    }
  }
}
