#!/usr/bin/env bash
# Resolves the jars of a real Apache Kafka broker (KRaft) for Sluice's tests and benchmarks, and
# prints the directory holding them on its last stdout line. Idempotent: the first call resolves
# them with Maven (installing a JDK and Maven with apt-get when missing); later calls only print.
#
#   scripts/kafka/fetch.sh                  # -> <repo>/target/kafka/<version>/lib
#   SLUICE_KAFKA_LIB=/opt/kafka/libs ...    # use (or fill) that directory instead
#   SLUICE_KAFKA_VERSION=4.3.1 ...          # another Kafka version (default below)
#
# Used by the sluice-testkit crate (testkit/), which runs `java -cp '<lib>/*' kafka.Kafka`.
set -euo pipefail

KAFKA_VERSION="${SLUICE_KAFKA_VERSION:-4.4.0}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
lib="${SLUICE_KAFKA_LIB:-$repo/target/kafka/$KAFKA_VERSION/lib}"
marker="$lib/.sluice-kafka-complete"

populated() {
  [ -f "$marker" ] || compgen -G "$1/kafka_2.13-*.jar" >/dev/null
}

# Fast path: already resolved (or a ready-made lib directory was given).
if [ -f "$marker" ] || { [ -n "${SLUICE_KAFKA_LIB:-}" ] && populated "$lib"; }; then
  echo "$lib"
  exit 0
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  echo "==> installing $* with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y -q --no-install-recommends "$@" >&2 \
    || { as_root apt-get update -q >&2 && as_root apt-get install -y -q --no-install-recommends "$@" >&2; }
}

java_major() {
  # `openjdk version "17.0.15" ...` or `java version "1.8.0_..."` -> 17 / 1
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1
}

# Kafka 4.x brokers need Java 17 or newer.
if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ] 2>/dev/null; then
  # Debian 12 has 17; newer releases only ship a newer default.
  apt_install openjdk-17-jdk-headless || apt_install default-jdk-headless
fi
if ! command -v mvn >/dev/null 2>&1; then
  apt_install maven
fi

mkdir -p "$(dirname "$lib")"
# Serialise concurrent first calls (several test binaries starting at once).
exec 9>"$(dirname "$lib")/.fetch.lock"
flock 9
if [ -f "$marker" ]; then
  echo "$lib"
  exit 0
fi

echo "==> resolving Apache Kafka $KAFKA_VERSION jars into $lib (once)" >&2
tmp="$lib.tmp.$$"
out="$(mktemp)"
trap 'rm -rf "$tmp" "$out"' EXIT
rm -rf "$tmp"
if ! mvn -q -B -Dstyle.color=never -f "$here/pom.xml" package \
  -Dkafka.version="$KAFKA_VERSION" -Dkafka.lib="$tmp" >"$out" 2>&1; then
  echo "error: Maven could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION:" >&2
  sed 's/\x1b\[[0-9;]*m//g' "$out" >&2
  exit 1
fi
if ! compgen -G "$tmp/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null; then
  echo "error: Maven ran but $tmp has no kafka_2.13-$KAFKA_VERSION.jar" >&2
  cat "$out" >&2
  exit 1
fi
# Keep anything a user put into SLUICE_KAFKA_LIB; otherwise swap the directory in whole.
if [ -d "$lib" ]; then
  cp -n "$tmp"/*.jar "$lib"/
else
  mv "$tmp" "$lib"
fi
echo "$KAFKA_VERSION" >"$marker"
echo "$lib"
