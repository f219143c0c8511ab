#!/usr/bin/env bash
# Kernel socket memory by side (issue 22): runs a scenario against a mosquitto
# midge spawns, and part-way through sums `ss -tm` skmem over the run's
# connections: midge's ends (peer port = the broker's) and the broker's
# (local port = the broker's): rmem_alloc (receive queues, r) and
# wmem_queued (send queues, w), beside /proc/net/sockstat's machine-wide
# TCP `mem` (pages). report.json's load_generator.kernel_socket_kib is that
# sockstat figure, at publish end.
#   bench/socket_memory.sh SCENARIO [SECONDS_IN]   # SECONDS_IN: when to look (default 4.5)
set -euo pipefail
cd "$(dirname "$0")/.."
scenario="$1"; at="${2:-4.5}"
cargo build --release --quiet
midge="${CARGO_TARGET_DIR:-target}/release/midge"
out=$(mktemp -d)
timeout 120 "$midge" run "$scenario" -q --out "$out/run" >/dev/null 2>&1 &
pid=$!
sleep "$at"
run=$(pgrep -P "$pid" -n || true)                      # midge, under timeout
broker=$(pgrep -P "${run:-0}" mosquitto | head -1 || true)
[ -n "$broker" ] || { echo "no spawned mosquitto found under midge ($run)" >&2; exit 1; }
port=$(ss -tlnp | grep "pid=$broker," | awk '{print $4}' | sed 's/.*://' | head -1)
ss -tmn state established "( sport = :$port or dport = :$port )" > "$out/ss.txt"
grep '^TCP:' /proc/net/sockstat
wait "$pid" || true
python3 - "$out/ss.txt" "$port" <<'PY'
import re, sys
lines, port = open(sys.argv[1]).read().split('\n'), sys.argv[2]
side = {'midge': [0, 0, 0, 0], 'broker': [0, 0, 0, 0]}
cur = None
for l in lines:
    m = re.match(r'\s*(\d+)\s+(\d+)\s+(\S+)\s+(\S+)', l)
    if m:
        cur = 'broker' if m.group(3).endswith(':' + port) else 'midge'
        side[cur][3] += 1
    s = re.search(r'skmem:\(r(\d+),rb(\d+),t(\d+),tb(\d+),f(\d+),w(\d+)', l)
    if s and cur:
        side[cur][0] += int(s.group(1)); side[cur][1] += int(s.group(6)); side[cur][2] += int(s.group(2))
for k, (r, w, rb, n) in side.items():
    n1 = max(n, 1)
    print(f"{k}: {n} sockets, receive queues {r // 1024} KiB, send queues {w // 1024} KiB "
          f"({(r + w) // n1} B per socket), receive buffer limit {rb // n1} B per socket")
PY
rm -rf "$out"
