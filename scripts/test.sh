#!/usr/bin/env bash
# Sluice's whole test suite, runnable on a fresh Debian/Ubuntu machine: installs what is
# missing (system packages), then checks formatting and lints and runs every test.
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

# The Kafka-protocol broker the integration tests start (0.8.x refuses transactions).
export PATH="$HOME/.cargo/bin:$PATH"
if ! nisshi --version 2>/dev/null | grep -q '^nisshi 0\.7\.0$'; then
  echo "==> installing the nisshi broker (about 9 minutes)"
  cargo install nisshi --version 0.7.0 --ignore-rust-version --no-default-features --features dynostore
fi

# A local S3 server: the broker-restart test keeps the broker's data in it.
if ! command -v moto_server >/dev/null 2>&1 && ! python3 -c 'import moto.server' 2>/dev/null; then
  echo "==> installing moto (local S3 server)"
  python3 -m pip install --quiet 'moto[server]'
fi

echo "==> cargo fmt --check"
cargo fmt --all --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo test"
cargo test --workspace --all-targets --locked
echo "==> doc tests"
cargo test --workspace --doc --locked
echo "==> all tests passed"
