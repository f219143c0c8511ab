#!/usr/bin/env bash
# Runs midge and three peers (load scripts written the way the paho-mqtt
# tutorials, the MQTT.js README and the Tsung manual teach) on the same workloads against the same mosquitto, in one
# go, and prints a table of figures and ratios. Everything targets
# 127.0.0.1 and every run is bounded in count and time.
#   bench/run.sh            (writes bench/results.md too)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || { echo "needs mosquitto (tests/run.sh installs it)"; exit 2; }
MOSQ=$(command -v mosquitto || echo /usr/sbin/mosquitto)
python3 -c "import paho.mqtt" 2>/dev/null || pip install -q paho-mqtt
[ -d bench/peers/node_modules/mqtt ] || npm install --silent --prefix bench/peers
if ! command -v tsung >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq tsung >/dev/null; else echo "no tsung (apt-get install tsung): its rows are skipped" >&2; fi
fi
cargo build --release --locked -q
MIDGE=target/release/midge
work=$(mktemp -d)
port=$(python3 -c 'import random; print(random.randint(20000, 30000))')
cat > "$work/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
max_queued_messages 0
max_inflight_messages 100
log_dest none
CONF
[ "$(id -u)" = 0 ] && echo "user root" >> "$work/mosquitto.conf"
"$MOSQ" -c "$work/mosquitto.conf" & mosq_pid=$!
trap 'kill $mosq_pid 2>/dev/null; rm -rf "$work"' EXIT
sleep 0.5

cpu_of() { python3 -c "
import os,sys
f=open('/proc/$1/stat').read().rsplit(')',1)[1].split()
print((int(f[11])+int(f[12]))/os.sysconf('SC_CLK_TCK'))"; }

# One run of one tool: prints "delivered wall user sys maxrss_kib broker_cpu".
measure() { # name cmd...
  local out="$work/$1"; shift
  local b0; b0=$(cpu_of $mosq_pid)
  /usr/bin/time -f '%e %U %S %M' -o "$out.time" timeout 180 "$@" > "$out.stdout" 2>/dev/null || true
  sed -i '/^Command/d' "$out.time"
  local b1; b1=$(cpu_of $mosq_pid)
  echo "$(cat "$out.time") $(python3 -c "print($b1-$b0)")"
}

rows=()
for w in "fanin-q0:0:1:20000" "fanin-q1:1:1:5000" "fanout-q1:1:10:2000"; do
  IFS=: read -r name qos subs count <<< "$w"
  m=$(measure "midge-$name" $MIDGE run bench/scenarios/$name.toml -q --broker mqtt://127.0.0.1:$port --out "$work/r-$name")
  md=$(python3 -c "import json;print(json.load(open('$work/r-$name/report.json'))['messages']['deliveries'])")
  # The same workload with a 1 ms batch window (fewer system calls, latency no finer than 1 ms).
  sed 's/^drain = .*/&\nbatch_window = "1ms"/' bench/scenarios/$name.toml > "$work/$name-b1.toml"
  mb=$(measure "midgeb-$name" $MIDGE run "$work/$name-b1.toml" -q --broker mqtt://127.0.0.1:$port --out "$work/rb-$name")
  mbd=$(python3 -c "import json;print(json.load(open('$work/rb-$name/report.json'))['messages']['deliveries'])")
  p=$(measure "paho-$name" python3 bench/peers/paho_load.py --port $port --pubs 10 --subs $subs --count $count --qos $qos --size 100)
  pd=$(python3 -c "import json;print(json.loads(open('$work/paho-$name.stdout').read().splitlines()[-1])['delivered'])" 2>/dev/null || echo 0)
  j=$(measure "mqttjs-$name" node bench/peers/mqttjs_load.js --port $port --pubs 10 --subs $subs --count $count --qos $qos --size 100)
  jd=$(python3 -c "import json;print(json.loads(open('$work/mqttjs-$name.stdout').read().splitlines()[-1])['delivered'])" 2>/dev/null || echo 0)
  rows+=("$name|midge|$md|$m" "$name|midge batch 1ms|$mbd|$mb" "$name|paho|$pd|$p" "$name|mqtt.js|$jd|$j")
  if command -v tsung >/dev/null; then
    t=$(measure "tsung-$name" bench/peers/tsung_load.sh --port $port --pubs 10 --subs $subs --count $count --qos $qos --size 100)
    td=$(python3 -c "import json;print(json.loads(open('$work/tsung-$name.stdout').read().splitlines()[-1])['delivered'])" 2>/dev/null || echo 0)
    rows+=("$name|tsung|$td|$t")
  fi
done
# Idle: 2,000 clients, and 1 client for each tool's own baseline, so that
# the marginal KiB per connection leaves the runtime (Python, Node, Erlang,
# midge's histograms) out.
sed 's/^clients = 2000/clients = 1/' bench/scenarios/idle.toml > "$work/idle-1.toml"
rss_of() { awk '{print $4}' <<< "$1"; }
m=$(measure midge-idle $MIDGE run bench/scenarios/idle.toml -q --broker mqtt://127.0.0.1:$port --out "$work/r-idle")
m1=$(measure midge-idle1 $MIDGE run "$work/idle-1.toml" -q --broker mqtt://127.0.0.1:$port --out "$work/r-idle1")
p=$(measure paho-idle python3 bench/peers/paho_load.py --port $port --idle 2000 --hold 5)
p1=$(measure paho-idle1 python3 bench/peers/paho_load.py --port $port --idle 1 --hold 5)
j=$(measure mqttjs-idle node bench/peers/mqttjs_load.js --port $port --idle 2000 --hold 5)
j1=$(measure mqttjs-idle1 node bench/peers/mqttjs_load.js --port $port --idle 1 --hold 5)
rows+=("idle-2000|midge|0|$m|$(rss_of "$m1")" "idle-2000|paho|0|$p|$(rss_of "$p1")" "idle-2000|mqtt.js|0|$j|$(rss_of "$j1")")
if command -v tsung >/dev/null; then
  t=$(measure tsung-idle bench/peers/tsung_load.sh --port $port --idle 2000 --hold 5)
  t1=$(measure tsung-idle1 bench/peers/tsung_load.sh --port $port --idle 1 --hold 5)
  rows+=("idle-2000|tsung|0|$t|$(rss_of "$t1")")
fi

python3 - "${rows[@]}" <<'PY' | tee bench/results.md
import sys
rows = [r.split("|") for r in sys.argv[1:]]
print("| workload | tool | delivered | wall s | delivered/s | tool CPU-s per 100k | tool peak RSS MiB | KiB per idle conn (all / marginal) | mosquitto CPU-s per 100k |")
print("|---|---|---|---|---|---|---|---|---|")
per = {}
broker_per = {}
f = lambda x, p=2: "–" if x is None else f"{x:.{p}f}"
for row in rows:
    w, tool, delivered, m = row[:4]
    base_rss = int(row[4]) if len(row) > 4 and row[4] else None
    wall, user, sys_, rss, broker_cpu = m.split()[-5:]
    d = int(delivered); cpu = float(user) + float(sys_)
    per100k = cpu / d * 1e5 if d else None
    b100k = float(broker_cpu) / d * 1e5 if d else None
    idle = int(rss) / 2000 if w.startswith("idle") else None
    marginal = (int(rss) - base_rss) / 1999 if idle is not None and base_rss else None
    per[(w, tool)] = (per100k, marginal or idle)
    broker_per[(w, tool)] = b100k
    idle_cell = "–" if idle is None else f"{idle:.1f} / {f(marginal, 1)}"
    print(f"| {w} | {tool} | {d} | {float(wall):.1f} | {f(d/float(wall) if d else None, 0)} | {f(per100k)} | {int(rss)/1024:.0f} | {idle_cell} | {f(b100k)} |")
print()
for w in sorted({w for w, _ in per}):
    for tool in ("midge", "midge batch 1ms"):
        m = per.get((w, tool))
        b = broker_per.get((w, tool))
        if m and m[0] and b:
            print(f"- {w}: {tool} uses {m[0]/b:.2f}× mosquitto's CPU per delivered message (target ≤ 0.5)")
for w in sorted({w for w, _ in per}):
    for peer in ("paho", "mqtt.js", "tsung"):
        for tool in ("midge", "midge batch 1ms"):
            m, p = per.get((w, tool)), per.get((w, peer))
            if not (m and p):
                continue
            if m[0] and p[0]:
                print(f"- {w}: {tool} uses {m[0]/p[0]:.2f}× the CPU per delivered message of the {peer} script")
            if m[1] and p[1] and tool == "midge":
                print(f"- {w}: midge uses {m[1]/p[1]:.2f}× the marginal memory per idle connection of the {peer} script")
PY
