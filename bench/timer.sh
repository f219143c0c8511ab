#!/usr/bin/env bash
# How late midge's publishers wake: the precise per-worker timer (timerfd)
# against tokio's millisecond wheel (MIDGE_TOKIO_TIMER=1), on the same
# workloads against a mosquitto midge spawns on 127.0.0.1, and what the
# precision costs in CPU. Prints one row per run and the median per
# workload and timer. Every run is bounded in count and time.
#   bench/timer.sh                 (3 runs of each; REPEAT=5 bench/timer.sh for more)
#   WORKLOADS="quiet-fanin" bench/timer.sh
# quiet-fanin (200 publishers × 5 msg/s, QoS 1): e2e p50 from the intended
# send time minus e2e p50 from the actual send is midge's own wake-up delay.
# fanin-q0 / fanin-q1 (10 publishers at 5,000 / 2,500 msg/s): fast
# publishers, where the timer must not cost CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || { echo "needs mosquitto (tests/run.sh installs it)"; exit 2; }
REPEAT=${REPEAT:-3}
WORKLOADS=${WORKLOADS:-"quiet-fanin fanin-q0 fanin-q1"}
cargo build --release --locked -q
MIDGE=${CARGO_TARGET_DIR:-target}/release/midge
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rows=()
for w in $WORKLOADS; do
  for i in $(seq 1 "$REPEAT"); do
    # Alternate the two timers, so that drift in the machine's load hits both.
    for timer in precise tokio; do
      out="$work/$w-$timer-$i"
      env=()
      [ "$timer" = tokio ] && env=(MIDGE_TOKIO_TIMER=1)
      env "${env[@]}" timeout 120 "$MIDGE" run "bench/scenarios/$w.toml" -q --broker spawn:mosquitto --out "$out" >/dev/null 2>&1 || true
      rows+=("$w|$timer|$out/report.json")
    done
  done
done

python3 - "${rows[@]}" <<'PY'
import json, statistics, sys
rows = [r.split("|") for r in sys.argv[1:]]
ms = lambda us: f"{us / 1000:.3f}"
print("| workload | timer | delivered | e2e p50 ms | e2e_uncorrected p50 ms | difference ms | publish_lag p50 ms | publish_lag p99 ms | midge CPU-s | CPU-s per 100k |")
print("|---|---|---|---|---|---|---|---|---|---|")
runs = {}
for w, timer, path in rows:
    try:
        r = json.load(open(path))
    except (OSError, ValueError):
        print(f"| {w} | {timer} | run failed | | | | | | | |")
        continue
    l, g = r["latency"], r["load_generator"]
    d = r["messages"]["deliveries"]
    v = (d, l["e2e"]["p50_us"], l["e2e_uncorrected"]["p50_us"], l["e2e"]["p50_us"] - l["e2e_uncorrected"]["p50_us"],
         g["publish_lag"]["p50_us"], g["publish_lag"]["p99_us"], g["cpu_s"], g["cpu_s"] / d * 1e5 if d else 0.0)
    runs.setdefault((w, timer), []).append(v)
    print(f"| {w} | {timer} | {v[0]} | {ms(v[1])} | {ms(v[2])} | {ms(v[3])} | {ms(v[4])} | {ms(v[5])} | {v[6]:.2f} | {v[7]:.2f} |")
print()
print("Medians:")
print()
print("| workload | timer | runs | e2e p50 ms | e2e_uncorrected p50 ms | difference ms | publish_lag p50 ms | publish_lag p99 ms | midge CPU-s | CPU-s per 100k |")
print("|---|---|---|---|---|---|---|---|---|---|")
for (w, timer), vs in runs.items():
    m = [statistics.median(x[k] for x in vs) for k in range(8)]
    print(f"| {w} | {timer} | {len(vs)} | {ms(m[1])} | {ms(m[2])} | {ms(m[3])} | {ms(m[4])} | {ms(m[5])} | {m[6]:.2f} | {m[7]:.2f} |")
PY
