#!/usr/bin/env bash
# Soak benchmark: does midge's memory stay flat over a long run?
# 1,000 publishers x 10 msg/s QoS 1 -> 2 wildcard subscribers against a
# mosquitto midge spawns on 127.0.0.1, for SOAK_MINUTES (default 10). midge's
# RSS is read from /proc every 10 s; after a 1-minute warm-up the script
# prints the least-squares slope in MB per hour (target: < 1 MB/hour).
#   bench/soak.sh            # 10 minutes
#   SOAK_MINUTES=3 bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${SOAK_MINUTES:-10}"
cargo build --release --quiet
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
cat > "$dir/soak.toml" <<TOML
name = "soak"
duration = "${minutes}m"
drain = "10s"
[broker]
url = "spawn:mosquitto"
mosquitto_conf = ["max_queued_messages 0", "max_inflight_messages 0"]
[[group]]
name = "sub"
clients = 2
subscribe = { filter = "soak/#", qos = 1 }
[[group]]
name = "pub"
clients = 1000
connect_rate = 500
publish = { topic = "soak/{i}", qos = 1, rate = 10.0, payload = 64 }
TOML
"${CARGO_TARGET_DIR:-target}/release/midge" run "$dir/soak.toml" --out "$dir/out" -q &
pid=$!
samples="$dir/rss.tsv"
start=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
  kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  [ -n "$kib" ] && echo "$(( $(date +%s) - start )) $kib" >> "$samples"
  sleep 10
done
wait "$pid" || true
python3 - "$samples" "$dir/out/report.json" <<'PY'
import json, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
warm = [r for r in rows if r[0] >= 60]
if len(warm) < 3:
    sys.exit("too few samples after the warm-up: run longer (SOAK_MINUTES)")
n = len(warm); mx = sum(r[0] for r in warm) / n; my = sum(r[1] for r in warm) / n
slope = sum((r[0] - mx) * (r[1] - my) for r in warm) / sum((r[0] - mx) ** 2 for r in warm)  # KiB per s
m = json.load(open(sys.argv[2]))["messages"]
print(f"samples after warm-up: {n}; RSS {warm[0][1]/1024:.1f} MiB -> {warm[-1][1]/1024:.1f} MiB")
print(f"slope: {slope * 3600 / 1024:.2f} MB per hour (target < 1)")
print(f"published {m['published']}, received {m['received']}, lost {m['lost']}")
PY
