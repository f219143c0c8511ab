#!/usr/bin/env bash
# Soak benchmark: does midge's memory stay flat over a long run?
# 1,000 publishers x 10 msg/s QoS 1 -> 2 wildcard subscribers against a
# mosquitto midge spawns on 127.0.0.1, for SOAK_MINUTES (default 10). midge's
# RSS is read from /proc every SOAK_SAMPLE_S seconds (default 2); after a
# 1-minute warm-up the script prints the least-squares slope in MB per hour
# (target: < 1 MB/hour), the headline: samples from minute 1 to the planned
# end, not the drain and the final analysis after it. Beside it, the slope of the rolling
# 60-s minimum (what RSS comes back to, without the short peaks of load
# bursts), the slopes over each half of the samples after the warm-up, and
# the slope from minute 5 (glibc's heap layout settles over the first few
# periodic reports; docs/PERFORMANCE.md, "Soak memory").
#   bench/soak.sh            # 10 minutes
#   SOAK_MINUTES=3 bench/soak.sh
#   SOAK_SAMPLES=/tmp/rss.tsv bench/soak.sh   # keep the samples
#   SOAK_OUT=/tmp/soak-run bench/soak.sh       # keep the run's folder (report, record)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${SOAK_MINUTES:-10}"
every="${SOAK_SAMPLE_S:-2}"
cargo build --release --quiet
dir="$(mktemp -d)"
trap '[ -n "${SOAK_OUT:-}" ] && rm -rf "$SOAK_OUT" && cp -r "$dir/out" "$SOAK_OUT"; rm -rf "$dir"' EXIT
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
  sleep "$every"
done
wait "$pid" || true
# SOAK_SAMPLES=FILE keeps the (seconds, RSS KiB) samples for a closer look.
[ -n "${SOAK_SAMPLES:-}" ] && cp "$samples" "$SOAK_SAMPLES"
python3 - "$samples" "$dir/out/report.json" "$minutes" <<'PY'
import json, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
end_s = float(sys.argv[3]) * 60
warm = [r for r in rows if 60 <= r[0] <= end_s]
if len(warm) < 6:
    sys.exit("too few samples after the warm-up: run longer (SOAK_MINUTES)")
def slope(pts):  # least squares, KiB per s -> MB per hour
    n = len(pts); mx = sum(t for t, _ in pts) / n; my = sum(v for _, v in pts) / n
    return sum((t - mx) * (v - my) for t, v in pts) / sum((t - mx) ** 2 for t, _ in pts) * 3600 / 1024
# The lowest RSS over the 60 s up to each sample, warm-up left out.
floor = [(t, min(v for u, v in warm if t - 60 < u <= t)) for t, v in warm]
half = len(warm) // 2
m = json.load(open(sys.argv[2]))["messages"]
print(f"samples after warm-up: {len(warm)}; RSS {warm[0][1]/1024:.1f} MiB -> {warm[-1][1]/1024:.1f} MiB")
print(f"slope: {slope(warm):.2f} MB per hour (target < 1)")
print(f"  rolling 60-s minimum: {slope(floor):.2f} MB per hour; "
      f"first half {slope(warm[:half]):.2f}, second half {slope(warm[half:]):.2f}")
late = [r for r in warm if r[0] >= 300]
if len(late) >= 6:  # once the first periodic reports have settled the heap
    print(f"  from minute 5: {slope(late):.2f} MB per hour")
print(f"published {m['published']}, received {m['received']}, lost {m['lost']}")
PY
