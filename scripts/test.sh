#!/usr/bin/env bash
# Sluice's whole test suite, runnable on a fresh Debian/Ubuntu machine: installs what is
# missing (libclang, a JDK and Maven, Apache Kafka's jars), then checks formatting and lints
# and runs every test (the broker tests start their own Kafka broker on loopback ports).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages, installed only when missing (refreshing the index if the first try fails).
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> installing ${missing[*]}"
  as_root apt-get install -y --no-install-recommends "${missing[@]}" \
    || { as_root apt-get update && as_root apt-get install -y --no-install-recommends "${missing[@]}"; }
}

# libclang: RocksDB's bindings are generated with bindgen.
apt_install libclang-dev

# Apache Kafka for the broker tests and benchmarks: a JDK 17 and Maven (installed with apt-get
# when missing), then Kafka's jars resolved from Maven Central once into target/kafka/.
echo "==> Apache Kafka (JDK, Maven, jars)"
scripts/kafka/fetch.sh >/dev/null

# moto_server, a local S3 for the snapshot store's tests (PyPI moto[server]): installed into
# target/moto when it is not on the PATH.
if ! command -v moto_server >/dev/null 2>&1 && [ ! -x target/moto/bin/moto_server ]; then
  echo "==> moto_server (local S3)"
  apt_install python3 python3-venv
  python3 -m venv target/moto
  target/moto/bin/pip install --quiet 'moto[server]'
fi

echo "==> cargo fmt --check"
cargo fmt --all --check
# Clippy, the tests and the doc tests build with one feature set, so that cargo compiles each
# dependency (RocksDB's C++ above all) once. It includes the hdfs:// snapshot store (a pure-Rust
# HDFS client), which is compiled and linted but not run: no HDFS here.
features=(--features sluice-state/hdfs)
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked "${features[@]}" -- -D warnings
# The Kafka Streams peer of the end-to-end benchmark runs only in `cargo bench`: compile it here
# so that it stays buildable (its jars are the conformance oracle's).
echo "==> Kafka Streams benchmark peer (mvn package)"
command -v mvn >/dev/null 2>&1 || apt_install maven
mvn -q -B -f benches/peers/kafka-streams/pom.xml package -Dpeer.out="$PWD/target/sluice-bench/kafka-streams-peer"
echo "==> cargo test"
cargo test --workspace --all-targets --locked "${features[@]}"
echo "==> doc tests"
cargo test --workspace --doc --locked "${features[@]}"
echo "==> all tests passed"
