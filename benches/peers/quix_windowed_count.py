#!/usr/bin/env python3
"""Scenario (c) of Sluice's end-to-end benchmark (benches/e2e) run by Quix Streams: a count
per key in 5-minute tumbling windows, every update forwarded, the output stamped with the
latest input timestamp of its window (as Kafka Streams and Sluice stamp windowed results).

Run by the harness (`cargo bench --bench e2e`), which passes the topics, and reads:
  READY            once the first record was processed
  RESULT <json>    records, seconds, cpu_seconds, peak_rss_bytes over the measured window
Throughput (--expect N): the window from 5% to 100% of N records. Latency (--expect 0): until
stdin closes or says "stop".
"""
import argparse
import json
import resource
import sys
import threading
import time

from quixstreams import Application


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--guarantee", choices=["at-least-once", "exactly-once"], required=True)
    ap.add_argument("--expect", type=int, required=True)
    ap.add_argument("--state-dir", required=True)
    args = ap.parse_args()

    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        commit_interval=0.1,
        processing_guarantee=args.guarantee,
        state_dir=args.state_dir,
        loglevel="WARNING",
    )
    source = app.topic(args.input, key_deserializer="str", value_deserializer="bytes")
    sink = app.topic(args.output, key_serializer="str", value_serializer="json")
    # Quix derives its changelog topic's config from the input's retention, read with
    # DescribeConfigs; nisshi 0.7.0 answers that with nothing, so say it here: keep forever.
    config = source.broker_config
    config.extra_config.setdefault("retention.ms", "-1")
    config.extra_config.setdefault("retention.bytes", "-1")
    source.broker_config = config

    state = {"n": 0, "start": None, "start_cpu": 0.0, "start_n": 0, "ready": False}

    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    def finish():
        start = state["start"] or time.monotonic()
        result = {
            "records": state["n"] - state["start_n"],
            "seconds": time.monotonic() - start,
            "cpu_seconds": cpu() - state["start_cpu"],
            # ru_maxrss is in KiB on Linux.
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        }
        print("RESULT " + json.dumps(result), flush=True)

    def count(value):
        state["n"] += 1
        n = state["n"]
        if not state["ready"]:
            state["ready"] = True
            print("READY", flush=True)
            if args.expect == 0:
                state["start"], state["start_cpu"], state["start_n"] = time.monotonic(), cpu(), n
        if args.expect > 0:
            if state["start"] is None and n * 20 >= args.expect:
                state["start"], state["start_cpu"], state["start_n"] = time.monotonic(), cpu(), n
            if n >= args.expect:
                app.stop()
        return value

    sdf = app.dataframe(source)
    sdf = sdf.update(count)
    # Keep the input timestamp, so the window's latest one stamps its result.
    sdf = sdf.apply(lambda value, key, timestamp, headers: timestamp, metadata=True)
    sdf = (
        sdf.tumbling_window(duration_ms=300_000)
        .reduce(
            reducer=lambda agg, ts: {"count": agg["count"] + 1, "ts": max(agg["ts"], ts)},
            initializer=lambda ts: {"count": 1, "ts": ts},
        )
        .current()
    )
    sdf = sdf.set_timestamp(lambda value, key, timestamp, headers: value["value"]["ts"])
    sdf = sdf.apply(lambda w: {"start": w["start"], "count": w["value"]["count"]})
    sdf.to_topic(sink)

    if args.expect == 0:
        def wait_for_stop():
            for line in sys.stdin:
                if line.strip() == "stop":
                    break
            app.stop()

        threading.Thread(target=wait_for_stop, daemon=True).start()

    app.run()
    finish()


if __name__ == "__main__":
    main()
