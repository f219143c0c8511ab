#!/usr/bin/env bash
# A load peer built on Tsung (Debian package `tsung`, Erlang) and its MQTT
# plugin (ts_mqtt), driven the way the Tsung manual teaches: an XML scenario
# with one session per simulated client and `tsung -f scenario.xml start`.
# Same flags and output convention as paho_load.py / mqttjs_load.js: the LAST
# line of stdout is JSON with "delivered" (PUBLISH packets the subscribers got).
#
#   bench/peers/tsung_load.sh --port P --pubs N --subs M --count C --qos Q --size S
#   bench/peers/tsung_load.sh --port P --idle N --hold H
#
# Optional: --timeout T (seconds, default 150; the whole Tsung run is bounded by
# it), --settle MS (delay before publishers start, default 500), --rate R
# (idle mode: connections per second, default 2000). TSUNG_KEEP=1 keeps the
# temp dir (scenario, tsung.log, controller log) and prints its path to stderr.
#
# How the numbers are obtained: ts_mqtt increments the counter
# `mqtt_server_published` once per PUBLISH packet a client receives while it
# waits (`waitForMessages`), and `mqtt_published` once per PUBLISH it sends.
# Tsung dumps cumulative counters to tsung.log; the dump interval is lowered to
# 500 ms here and the script polls that file. Tsung has no way to end a
# subscriber session "when N messages arrived", so the subscribers wait up to
# --timeout and this script stops the Tsung VM (SIGTERM to the beam process it
# started) once every expected message is counted, or once the publishers are
# done and the count has not moved for 3 s. (Left alone, Tsung would also only
# notice that all sessions ended on a 5 s timer, 60 s above 1000 clients.)
# All traffic goes to 127.0.0.1 only.
set -uo pipefail

port="" pubs=10 subs=1 count=1000 qos=0 size=100 idle=0 hold=5
tmo=150 settle=500 rate=2000
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=${2-} ;; --pubs) pubs=${2-} ;; --subs) subs=${2-} ;; --count) count=${2-} ;;
    --qos) qos=${2-} ;; --size) size=${2-} ;; --idle) idle=${2-} ;; --hold) hold=${2-} ;;
    --timeout) tmo=${2-} ;; --settle) settle=${2-} ;; --rate) rate=${2-} ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "tsung_load.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift 2 || { echo "tsung_load.sh: missing value for $1" >&2; exit 2; }
done
[ -n "$port" ] || { echo "tsung_load.sh: --port is required" >&2; exit 2; }
for v in port pubs subs count qos size idle rate tmo settle; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "tsung_load.sh: --$v must be a non-negative integer" >&2; exit 2; }
done
[[ $hold =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "tsung_load.sh: --hold must be a number" >&2; exit 2; }
[ "$qos" -le 1 ] || { echo "tsung_load.sh: Tsung's ts_mqtt supports QoS 0 and 1 only" >&2; exit 2; }

if ! command -v tsung >/dev/null 2>&1; then
  echo "tsung_load.sh: tsung is not installed (Debian: apt-get install -y tsung); not installing it from here" >&2
  exit 3
fi
DTD=/usr/share/tsung/tsung-1.0.dtd
[ -f "$DTD" ] || DTD=$(ls /usr/share/tsung/tsung-*.dtd /usr/local/share/tsung/tsung-*.dtd 2>/dev/null | head -1)

work=$(mktemp -d -t tsung_load.XXXXXX)
mkdir -p "$work/home" "$work/log"
tpid="" beam=""
epmd_was_up=0
command -v epmd >/dev/null 2>&1 && epmd -names >/dev/null 2>&1 && epmd_was_up=1

cleanup() {
  # Only the processes this script started: the beam VM and the timeout/tsung wrapper.
  [ -n "$beam" ] && kill -TERM "$beam" 2>/dev/null
  [ -n "$tpid" ] && { kill -TERM "$tpid" 2>/dev/null; wait "$tpid" 2>/dev/null; }
  # Erlang's name server (epmd) is started as a daemon by the first Erlang
  # node; if it was not running before, ask it to exit (epmd refuses if any
  # other Erlang node is still registered with it).
  [ "$epmd_was_up" = 0 ] && command -v epmd >/dev/null 2>&1 && epmd -kill >/dev/null 2>&1
  if [ "${TSUNG_KEEP:-0}" = 1 ]; then echo "tsung_load.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

payload=$(head -c "$size" /dev/zero | tr '\0' 'x')
cfg="$work/scenario.xml"
# The opening every scenario shares: one local Erlang VM, the broker on 127.0.0.1.
xml_head() {
  cat <<XML
<?xml version="1.0"?>
<!DOCTYPE tsung SYSTEM "$DTD">
<tsung loglevel="warning" dumptraffic="false" version="1.0">
  <clients><client host="localhost" use_controller_vm="true" maxusers="$maxusers"/></clients>
  <servers><server host="127.0.0.1" port="$port" type="tcp"/></servers>
XML
}
if [ "$idle" -gt 0 ]; then
  # N connections arriving at --rate per second; each holds for hold + ramp
  # seconds so that all N are connected together for at least --hold seconds.
  ramp=$(( (idle + rate - 1) / rate ))
  think=$(awk -v h="$hold" -v r="$ramp" 'BEGIN{printf "%d", h + r + 0.999}')
  maxusers=$((idle + 100))
  {
    xml_head
    cat <<XML
  <load>
    <arrivalphase phase="1" duration="$((ramp + 1))" unit="second">
      <users maxnumber="$idle" arrivalrate="$rate" unit="second"/>
    </arrivalphase>
  </load>
  <sessions>
    <session name="idle" probability="100" type="ts_mqtt">
      <request><mqtt type="connect" clean_start="true" keepalive="60"/></request>
      <thinktime value="$think" random="false"/>
      <request><mqtt type="disconnect"/></request>
    </session>
  </sessions>
</tsung>
XML
  } > "$cfg"
else
  maxusers=$((pubs + subs + 100))
  {
    xml_head
    echo "  <load>"
    for ((i = 0; i < subs; i++)); do echo "    <user session=\"sub\" start_time=\"0\" unit=\"millisecond\"/>"; done
    for ((i = 0; i < pubs; i++)); do echo "    <user session=\"pub$i\" start_time=\"$settle\" unit=\"millisecond\"/>"; done
    cat <<XML
  </load>
  <sessions>
    <session name="sub" probability="0" type="ts_mqtt">
      <request><mqtt type="connect" clean_start="true" keepalive="60"/></request>
      <request><mqtt type="subscribe" topic="bench/#" qos="$qos"/></request>
      <request><mqtt type="waitForMessages" timeout="$tmo"/></request>
      <request><mqtt type="disconnect"/></request>
    </session>
XML
    for ((i = 0; i < pubs; i++)); do
      cat <<XML
    <session name="pub$i" probability="0" type="ts_mqtt">
      <request><mqtt type="connect" clean_start="true" keepalive="60"/></request>
      <for from="1" to="$count" incr="1" var="n">
        <request><mqtt type="publish" topic="bench/$i" qos="$qos">$payload</mqtt></request>
      </for>
      <request><mqtt type="disconnect"/></request>
    </session>
XML
    done
    echo "  </sessions>"
    echo "</tsung>"
  } > "$cfg"
fi

# Run Tsung: single VM (no ssh), no web GUI, no warm-up delay, HOME in the temp
# dir (Tsung creates ~/.tsung), epmd bound to loopback, stats every 500 ms.
# -i gives the controller node a unique name so concurrent runs do not clash.
start=$(date +%s.%N)
HOME="$work/home" ERL_EPMD_ADDRESS=127.0.0.1 \
ERL_FLAGS="-tsung_controller dumpstats_interval 500" \
  timeout -k 5 "$((tmo + 10))" tsung -n -w 0 -i "tl$$" -f "$cfg" -l "$work/log" start \
  > "$work/tsung.out" 2>&1 &
tpid=$!

# Last cumulative value of a counter in tsung.log ("stats: NAME interval-value total").
counters() {
  awk '$1 == "stats:" && NF == 4 { v[$2] = $4 }
       END { printf "%d %d %d %d %d\n", v["mqtt_server_published"], v["mqtt_published"],
             v["mqtt_disconnected"], v["finish_users_count"], v["mqtt_connected"] }' "$1" 2>/dev/null
}

expected=$((pubs * count * subs))
log="" last_d=-1 last_change=$(date +%s.%N) stopped_early=0
while kill -0 "$tpid" 2>/dev/null; do
  sleep 0.5
  if [ -z "$beam" ]; then  # timeout -> tsung (bash) -> beam.smp
    tsh=$(ps -o pid= --ppid "$tpid" 2>/dev/null | head -1 | tr -d ' ')
    [ -n "$tsh" ] && beam=$(ps -o pid= --ppid "$tsh" 2>/dev/null | head -1 | tr -d ' ')
  fi
  [ -n "$log" ] || log=$(ls "$work"/log/*/tsung.log 2>/dev/null | head -1)
  [ -n "$log" ] || continue
  read -r d p disc fin conn < <(counters "$log")
  if [ "$idle" -gt 0 ]; then
    # Tsung itself only notices that all sessions ended on a 5 s timer (60 s
    # when more than 1000 clients were active), so stop it as soon as every
    # idle session has finished.
    if [ "$fin" -ge "$idle" ]; then
      stopped_early=1
      [ -n "$beam" ] && kill -TERM "$beam" 2>/dev/null
      break
    fi
    continue
  fi
  now=$(date +%s.%N)
  if [ "$d" != "$last_d" ]; then last_d=$d; last_change=$now; fi
  pubs_done=$(( disc >= pubs || fin >= pubs ))
  quiet=$(awk -v a="$now" -v b="$last_change" 'BEGIN{print (a - b >= 3) ? 1 : 0}')
  if { [ "$expected" -gt 0 ] && [ "$d" -ge "$expected" ]; } || { [ "$pubs_done" = 1 ] && [ "$quiet" = 1 ]; }; then
    # Everything is counted in the last dump; stop the VM instead of waiting
    # out the subscribers' waitForMessages timeout.
    stopped_early=1
    [ -n "$beam" ] && kill -TERM "$beam" 2>/dev/null
    break
  fi
done
wait "$tpid" 2>/dev/null
rc=$?
tpid=""
end=$(date +%s.%N)
beam=""

log=$(ls "$work"/log/*/tsung.log 2>/dev/null | head -1)
if [ -z "$log" ]; then
  echo "tsung_load.sh: Tsung produced no tsung.log (exit $rc); its output:" >&2
  cat "$work/tsung.out" >&2
  cat "$work"/log/*/tsung_controller*.log >&2 2>/dev/null
  exit 1
fi
read -r d p disc fin conn < <(counters "$log")
errors=$(awk '$1 == "stats:" && NF == 4 && ($2 ~ /^error/ || $2 == "timeout") { v[$2] = $4 }
              END { s = ""; for (k in v) s = s sprintf("%s\"%s\":%d", (s == "" ? "" : ","), k, v[k]); print "{" s "}" }' "$log")
wall=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.2f", b - a}')
[ "$rc" = 124 ] && echo "tsung_load.sh: Tsung hit the ${tmo}s bound" >&2

if [ "$idle" -gt 0 ]; then
  echo "{\"tool\":\"tsung\",\"idle\":$idle,\"connected\":$conn,\"delivered\":0,\"tsung_wall_s\":$wall,\"stopped_early\":$stopped_early,\"errors\":$errors}"
else
  echo "{\"tool\":\"tsung\",\"delivered\":$d,\"published\":$p,\"expected\":$expected,\"tsung_wall_s\":$wall,\"stopped_early\":$stopped_early,\"errors\":$errors}"
fi
