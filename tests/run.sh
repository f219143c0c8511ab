#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine with cargo: installs what the
# tests need when it is missing (mosquitto and chromium, from Debian's
# packages), then runs every test. The tests start their own brokers on free
# 127.0.0.1 ports.
set -euo pipefail
cd "$(dirname "$0")/.."

have_mosquitto() {
  { command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ]; } && command -v mosquitto_passwd >/dev/null
}

have_chromium() {
  command -v chromium >/dev/null || [ -x /usr/bin/chromium ]
}

# Debian packages the tests need and the machine lacks, apt-get update once:
# mosquitto (the spawned broker; without it the script stops here) and
# chromium (tests/browser.rs opens report.html in it; without it that test
# fails and says how to install it). About 25 s for chromium on a fresh
# machine, update included.
apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  if [ -z "${apt_updated:-}" ]; then
    $sudo apt-get update -qq || true
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! have_mosquitto; then
  echo "tests/run.sh: installing mosquitto (Debian package) for the tests" >&2
  apt_install mosquitto
fi
if ! have_chromium; then
  echo "tests/run.sh: installing chromium (Debian package) for tests/browser.rs" >&2
  apt_install chromium || echo "tests/run.sh: could not install chromium; tests/browser.rs will fail" >&2
fi

# The tests wait on brokers and on the wall clock far more than they compute
# (a run at three tests at a time keeps the 2-core machine under half busy),
# so three run at once unless RUST_TEST_THREADS says otherwise. On CI, a
# fresh clone builds everything once: incremental compilation only adds work.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-3}"
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"; fi

echo "tests/run.sh: cargo fmt --all -- --check (formatting)" >&2
cargo fmt --all -- --check
echo "tests/run.sh: cargo clippy --locked --all-targets -- -D warnings (lints)" >&2
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --all-targets "$@"
