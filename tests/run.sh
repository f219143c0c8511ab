#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine with cargo: installs what the
# tests need when it is missing (mosquitto from Debian's package), then runs
# every test. The tests start their own brokers on free 127.0.0.1 ports.
set -euo pipefail
cd "$(dirname "$0")/.."

have_mosquitto() {
  { command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ]; } && command -v mosquitto_passwd >/dev/null
}

if ! have_mosquitto; then
  echo "tests/run.sh: installing mosquitto (Debian package) for the tests" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends mosquitto >/dev/null
fi

echo "tests/run.sh: cargo fmt --all -- --check (formatting)" >&2
cargo fmt --all -- --check
echo "tests/run.sh: cargo clippy --locked --all-targets -- -D warnings (lints)" >&2
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --all-targets "$@"
