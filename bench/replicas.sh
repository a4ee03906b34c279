#!/usr/bin/env bash
# API replicas benchmark (not a test): what a second API process adds, measured side by side in one run.
# 1 and 2 API processes against the same Redis and RabbitMQ and FAKE worker(s), each path with wrk for $DURATION s
# on loopback: the queued path (every request a cache miss: API -> RabbitMQ -> worker -> back) and the cache-hit
# path (same text, answered from L1). The client side has the same shape in both cases: two wrk processes of
# CONNECTIONS/2 connections, both on the one API, or one on each (as a load balancer would spread them).
#
# LAYOUTS, each run in turn with the same servers and workers:
#   pinned:   each API process on a core of its own (taskset): 1 replica = core 0; 2 replicas = core 0 and core 1;
#             wrk, the worker(s), Redis and RabbitMQ float over all cores (what a 2-core machine allows).
#   shared:   no pinning: every process may use every core.
#   cores-N:  each API process on N cores of its own (API 0 on 0..N-1, API 1 on N..2N-1), and RabbitMQ + Redis, the
#             worker(s) and wrk each on cores of their own, disjoint from the APIs' and from each other's, so that the
#             API is what limits the path. The cores after the APIs' (of the largest N among LAYOUTS) are split
#             3:2:1 between broker, workers and wrk, unless BROKER_CORES, WORKER_CORES, LOAD_CORES name them.
# Per run the result shows the CPU each process used (cores' worth, from /proc/PID/stat) and, for cores-N, how busy
# each group of cores was (/proc/stat), so it says what saturated.
#
# Where it runs (the same script here and on a prepared host):
#   default:  installs what is missing, builds Release, starts RabbitMQ/Redis of its own (scripts/test-servers.sh).
#   KIT_API / KIT_WORKER set (a stack kit's env.sh): those Embedding.Api.dll / Embedding.Worker.dll, no install or build.
#   KIT_SERVERS (the kit's env.sh) or SERVERS_SCRIPT: a script that starts (`start`, printing the EMBEDDING_TEST_*
#             exports) and stops (`stop`) the servers instead of scripts/test-servers.sh; started on the broker's cores.
#   OUT=dir:  the result file goes there (replicas-<date>-<HOST_TAG>.md) with the processes' logs (replicas-logs.txt).
# Knobs: DURATION (s per run), CONNECTIONS, WRK_THREADS (per wrk process), WORKERS, WORKER_PREFETCH, LAYOUTS, HOST_TAG.
set -euo pipefail
source "$(dirname "$0")/common.sh"
DURATION="${DURATION:-8}"
[ "$DURATION" -ge 3 ] || { echo "DURATION must be at least 3 s (the CPU sample leaves out each run's first and last second)" >&2; exit 1; }
CONNECTIONS="${CONNECTIONS:-64}"
WRK_THREADS="${WRK_THREADS:-1}"
WORKERS="${WORKERS:-1}"
WORKER_PREFETCH="${WORKER_PREFETCH:-256}"
LAYOUTS="${LAYOUTS:-pinned shared}"
API_DLL="${API_DLL:-${KIT_API:-src/Embedding.Api/bin/Release/net10.0/Embedding.Api.dll}}"
WORKER_DLL="${WORKER_DLL:-${KIT_WORKER:-src/Embedding.Worker/bin/Release/net10.0/Embedding.Worker.dll}}"
MODEL=bench-replicas
PORTS=(5281 5282)
CORES=$(nproc)
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
[ "$LAYOUTS" = shared ] || command -v taskset >/dev/null || { echo "taskset (util-linux) is needed for the pinned and cores-N layouts" >&2; exit 1; }
source "$(dirname "$0")/replicas-cores.sh"

# The cores of broker, workers and wrk: after the APIs' of the widest cores-N layout, or all cores (unpinned).
widest=0
for layout in $LAYOUTS; do [[ $layout == cores-* ]] && widest=$(( ${layout#cores-} > widest ? ${layout#cores-} : widest )); done
split_rest_cores "$widest"

# Servers of this bench's own (state, ports), from scripts/test-servers.sh (installing and building what is missing) or
# from a kit's servers.sh; RabbitMQ and Redis on the broker's cores. Servers something else started are left alone.
export STATE="$TMP/replicas-state" REDIS_PORT="${REDIS_PORT:-6489}" AMQP_PORT="${AMQP_PORT:-5782}" MGMT_PORT="${MGMT_PORT:-15782}"
SERVERS_SCRIPT="${SERVERS_SCRIPT:-${KIT_SERVERS:-}}"
if [ -n "$SERVERS_SCRIPT" ]; then
  # Only RabbitMQ and Redis (the kit's servers.sh reads SERVERS as the list to start); only its export lines are ours.
  eval "$(SERVERS="redis rabbitmq" pin "$BROKER_CORES" bash "$SERVERS_SCRIPT" start | grep '^export ')"
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; SERVERS="redis rabbitmq" bash "$SERVERS_SCRIPT" stop >/dev/null 2>&1 || true' EXIT
elif [ -n "${KIT_API:-}" ]; then
  echo "KIT_API is set but neither KIT_SERVERS nor SERVERS_SCRIPT: which script starts the servers?" >&2; exit 1
else
  bash scripts/install-prerequisites.sh
  dotnet build Embedding.sln -c Release -v q -nologo >/dev/null
  eval "$(pin "$BROKER_CORES" bash scripts/test-servers.sh)"
  trap bench_cleanup EXIT
fi
need_wrk
echo "$(date -u +%T) servers up; cores: APIs per layout, broker $BROKER_CORES, workers $WORKER_CORES, wrk $LOAD_CORES" >&2
# Servers that were already running did not inherit the cores: pin them by the ports they listen on.
# (Again before each run: every thread, including any started since.)
broker_pids=$(pids_listening "$(port_of "$EMBEDDING_TEST_RABBITMQ")" "$(port_of "$EMBEDDING_TEST_REDIS")")
pin_broker() { for p in $broker_pids; do [ "$BROKER_CORES" = all ] || taskset -a -p -c "$BROKER_CORES" "$p" >/dev/null; done; }
pin_broker

worker_pids=()
for w in $(seq 0 $((WORKERS - 1))); do
  env ConnectionStrings__messaging="$EMBEDDING_TEST_RABBITMQ" Worker__Model=$MODEL Worker__StandIn=Fake \
      Worker__Fake__Dimensions=1024 Worker__MaxBatchSize=256 Worker__MaxWaitMilliseconds=1 Worker__PrefetchCount="$WORKER_PREFETCH" \
      ASPNETCORE_URLS="http://127.0.0.1:$((5290 + w))" Logging__LogLevel__Default=Warning \
      $(pin_prefix "$(nth_share "$WORKER_CORES" "$w" "$WORKERS")") dotnet "$WORKER_DLL" >"$TMP/replicas-worker-$w.log" 2>&1 &
  worker_pids+=($!); pids+=($!)
done

# http_status PORT METHOD PATH [JSON]: the status code of one request (bash's /dev/tcp: no curl needed where the kit runs).
http_status() {
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || { echo 000; return; }
  local body="${4:-}" status
  printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "$2" "$3" "${#body}" "$body" >&3
  read -r -t 60 _ status _ <&3 || status=000
  while read -r -t 10 _ <&3; do :; done  # the rest of the answer, until the server closes
  exec 3>&-
  echo "$status"
}

HIT='{"model":"'$MODEL'","input":"hello world","encoding_format":"base64"}'
api_pids=()
# start_apis LAYOUT: both API processes, on the layout's cores.
start_apis() {
  stop_apis
  echo "$(date -u +%T) starting the APIs ($1)" >&2
  for i in 0 1; do
    env ConnectionStrings__messaging="$EMBEDDING_TEST_RABBITMQ" ConnectionStrings__cache="$EMBEDDING_TEST_REDIS" \
        Api__Models__0__Name=$MODEL Api__Models__0__Dimensions=1024 \
        ASPNETCORE_URLS="http://127.0.0.1:${PORTS[$i]}" Logging__LogLevel__Default=Warning \
        $(pin_prefix "$(api_cores "$1" "$i")") dotnet "$API_DLL" >"$TMP/replicas-api-$i.log" 2>&1 &
    api_pids+=($!); pids+=($!)
  done
  for port in "${PORTS[@]}"; do
    for _ in $(seq 1 120); do [ "$(http_status "$port" GET /health)" = 200 ] && break; sleep 0.5; done
    # Warm the JIT, the queue path and this replica's L1 with the hit text.
    for _ in $(seq 1 20); do http_status "$port" POST /v1/embeddings "$HIT" >/dev/null; done
  done
  echo "$(date -u +%T) APIs answer" >&2
}
stop_apis() {
  for p in "${api_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${api_pids[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.2; done; done
  api_pids=()
}

cat > "$TMP/replicas-fixed.lua" <<LUA
wrk.method = "POST"
wrk.body = '$HIT'
wrk.headers["Content-Type"] = "application/json"
LUA
cat > "$TMP/replicas-miss.lua" <<LUA
-- every request a new text: the wrk process (WRK_TAG) and each of its threads number their own requests
local tag, threads, id, n = os.getenv("WRK_TAG") or "", 0, 0, 0
function setup(thread) threads = threads + 1; thread:set("id", threads) end
function request()
  n = n + 1
  local body = '{"model":"$MODEL","input":"miss ' .. tag .. '-' .. os.time() .. '-' .. id .. '-' .. n .. '","encoding_format":"base64"}'
  return wrk.format("POST", "/v1/embeddings", { ["Content-Type"] = "application/json" }, body)
end
LUA

# load REPLICAS SCRIPT TAG: two wrk processes of CONNECTIONS/2 at once, on the load cores; prints
# "requests/s p50 p99 non-2xx" (sum, worst) and leaves the processes' CPU in $TMP/replicas-cpu.txt.
load() {
  local half=$((CONNECTIONS / 2)) out=() pin
  pin=$(pin_prefix "$LOAD_CORES")
  pin_broker
  for i in 0 1; do
    local port=${PORTS[$(( $1 == 2 ? i : 0 ))]}
    WRK_TAG="$3-$i" $pin wrk -t"$WRK_THREADS" -c"$half" -d"${DURATION}s" --latency -s "$2" "http://127.0.0.1:$port/v1/embeddings" >"$TMP/replicas-wrk-$i.txt" 2>&1 &
    out+=($!)
  done
  sleep 1  # the CPU sample covers the run's middle: wrk's start and end are not load
  cpu_mark "${out[@]}"
  sleep $((DURATION - 2))
  cpu_report "$layout" "${out[@]}" > "$TMP/replicas-cpu.txt"
  allowed_cores $broker_pids > "$TMP/replicas-broker-cores.txt"
  wait "${out[@]}"
  cat "$TMP/replicas-wrk-0.txt" "$TMP/replicas-wrk-1.txt" | awk '
    function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1000000; return v }
    function show(v) { return v >= 1000 ? sprintf("%.2fms", v / 1000) : sprintf("%.0fus", v) }
    /Requests\/sec/ { rps += $2 }
    $1 == "50%" { if (us($2) > p50) p50 = us($2) }
    $1 == "99%" { if (us($2) > p99) p99 = us($2) }
    /Non-2xx/ { errors += $5 }
    END { printf "%.0f %s %s %d\n", rps, show(p50), show(p99), errors }'
}
loadavg() { cut -d' ' -f1 /proc/loadavg; }

rows=()
cpu_rows=()
declare -A rps
for layout in $LAYOUTS; do
  start_apis "$layout"
  load 2 "$TMP/replicas-miss.lua" "warm-$layout" >/dev/null   # warm the queue path through both
  for replicas in 1 2; do
    for path in queued hit; do
      script="$TMP/replicas-miss.lua"; [ "$path" = hit ] && script="$TMP/replicas-fixed.lua"
      before=$(loadavg)
      read -r r p50 p99 errors < <(load "$replicas" "$script" "$layout-$replicas-$path")
      rps[$layout-$replicas-$path]=$r
      rows+=("| $layout | $replicas | $path | $r | $p50 | $p99 | $errors | $before → $(loadavg) |")
      cpu_rows+=("| $layout | $replicas | $path | $(cpu_columns "$TMP/replicas-cpu.txt") |")
      echo "$(date -u +%T) $layout replicas=$replicas $path: $r req/s" >&2
    done
  done
done
stop_apis
echo "$(date -u +%T) done" >&2

date_utc=$(date -u +%Y-%m-%d)
if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
  out="$OUT/replicas-$date_utc-${HOST_TAG:-$(cut -d. -f1 /proc/sys/kernel/hostname)}.md"
else
  out="bench/results/replicas-$date_utc${HOST_TAG:+-$HOST_TAG}.md"
fi
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }
{
  echo "# API replicas benchmark, $date_utc"
  echo
  echo "Machine: $CORES cores ($(lscpu | awk -F': *' '/Model name/ { print $2; exit }'), $(lscpu | awk -F': *' '/^Thread\(s\) per core/ { print $2; exit }') thread per core), $(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo) GiB;"\
       "core 0's hardware threads: $(cat /sys/devices/system/cpu/cpu0/topology/thread_siblings_list 2>/dev/null || echo unknown)."
  echo "Command: \`$(for v in LAYOUTS DURATION CONNECTIONS WRK_THREADS WORKERS WORKER_PREFETCH; do printf '%s="%s" ' "$v" "${!v}"; done)bash bench/replicas.sh\`"\
       "($CONNECTIONS connections as two wrk -t$WRK_THREADS of $((CONNECTIONS / 2)))."
  echo "Binaries: \`$API_DLL\`, \`$WORKER_DLL\`."
  echo "Backend: $WORKERS FAKE worker(s) (hash-derived 1024-d vectors, instant; prefetch $WORKER_PREFETCH); requests are one short text, base64."
  echo "Cores: $(layout_notes) Cores the broker's threads were allowed in the last run (/proc, per process): $(sed 's/; *$//' "$TMP/replicas-broker-cores.txt")."
  echo "Load average (1 min) before → after each run shows what else ran on the machine."
  echo
  echo "| cores | API replicas | path | requests/s | p50 (worst wrk) | p99 (worst wrk) | non-2xx | load avg |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "CPU during each run (the middle $((DURATION - 2)) s), in cores' worth (1.00 = one core busy all the time):"
  echo "API 0 / API 1 / workers / RabbitMQ+Redis / wrk; and, for cores-N, how busy each group's own cores were."
  echo
  echo "| cores | API replicas | path | API 0 | API 1 | workers | broker | wrk | busy: API cores · broker · workers · wrk |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${cpu_rows[@]}"
  echo
  for layout in $LAYOUTS; do
    echo "Ratios, $layout: 2 replicas / 1 = $(ratio "${rps[$layout-1-queued]}" "${rps[$layout-2-queued]}") queued (goal >= 1.6 where the cores allow),"\
         "$(ratio "${rps[$layout-1-hit]}" "${rps[$layout-2-hit]}") cache hit (goal >= 1.9 where the cores allow)."
  done
} > "$out"
if [ -n "${OUT:-}" ]; then
  for f in "$TMP"/replicas-api-*.log "$TMP"/replicas-worker-*.log "$TMP"/replicas-wrk-*.txt; do echo "=== $f"; tail -n 40 "$f"; done > "$OUT/replicas-logs.txt"
fi
cat "$out"
