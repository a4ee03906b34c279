#!/usr/bin/env bash
# API replicas benchmark (not a test): what a second API process adds, measured side by side in one run.
# 1 and 2 API processes against the same Redis and RabbitMQ and one FAKE worker, each path with wrk for $DURATION s
# on loopback: the queued path (every request a cache miss: API -> RabbitMQ -> worker -> back) and the cache-hit
# path (same text, answered from L1). The client side has the same shape in both cases: two wrk processes of
# CONNECTIONS/2 connections, both on the one API, or one on each (as a load balancer would spread them).
# Two core layouts, in the same run:
#   pinned:   each API process on a core of its own (taskset): 1 replica = core 0; 2 replicas = core 0 and core 1
#             (what a replica with a one-CPU request gets); wrk, the worker, Redis and RabbitMQ float over all cores.
#   shared:   no pinning: every process may use every core (on a 2-core machine the second replica adds no core).
# Writes bench/results/replicas-<date>.md with the machine, the load average around each run, and the ratios.
set -euo pipefail
source "$(dirname "$0")/common.sh"
DURATION="${DURATION:-8}"
CONNECTIONS="${CONNECTIONS:-64}"
MODEL=bench-replicas
PORTS=(5281 5282)
need_wrk
bench_servers replicas-state 6489 5782 15782
CORES=$(nproc)

env ConnectionStrings__messaging="$EMBEDDING_TEST_RABBITMQ" Worker__Model=$MODEL Worker__StandIn=Fake \
    Worker__Fake__Dimensions=1024 Worker__MaxBatchSize=256 Worker__MaxWaitMilliseconds=1 Worker__PrefetchCount=256 \
    ASPNETCORE_URLS=http://127.0.0.1:5283 Logging__LogLevel__Default=Warning \
    dotnet src/Embedding.Worker/bin/Release/net10.0/Embedding.Worker.dll >"$TMP/replicas-worker.log" 2>&1 &
pids+=($!)

HIT='{"model":"'$MODEL'","input":"hello world","encoding_format":"base64"}'
api_pids=()
# start_apis LAYOUT: both API processes, pinned (API i on core i) or free to use every core.
start_apis() {
  stop_apis
  for i in 0 1; do
    local pin=(); [ "$1" = pinned ] && pin=(taskset -c "$((i % CORES))")
    env ConnectionStrings__messaging="$EMBEDDING_TEST_RABBITMQ" ConnectionStrings__cache="$EMBEDDING_TEST_REDIS" \
        Api__Models__0__Name=$MODEL Api__Models__0__Dimensions=1024 \
        ASPNETCORE_URLS="http://127.0.0.1:${PORTS[$i]}" Logging__LogLevel__Default=Warning \
        "${pin[@]}" dotnet src/Embedding.Api/bin/Release/net10.0/Embedding.Api.dll >"$TMP/replicas-api-$i.log" 2>&1 &
    api_pids+=($!); pids+=($!)
  done
  for port in "${PORTS[@]}"; do
    for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.5; done
    # Warm the JIT, the queue path and this replica's L1 with the hit text.
    for _ in $(seq 1 20); do curl -sf "http://127.0.0.1:$port/v1/embeddings" -H 'content-type: application/json' -d "$HIT" -o /dev/null; done
  done
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

# load REPLICAS SCRIPT TAG: two wrk processes of CONNECTIONS/2 at once; prints "requests/s p50 p99 non-2xx" (sum, worst).
load() {
  local half=$((CONNECTIONS / 2)) out=()
  for i in 0 1; do
    local port=${PORTS[$(( $1 == 2 ? i : 0 ))]}
    WRK_TAG="$3-$i" wrk -t1 -c"$half" -d"${DURATION}s" --latency -s "$2" "http://127.0.0.1:$port/v1/embeddings" >"$TMP/replicas-wrk-$i.txt" 2>&1 &
    out+=($!)
  done
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
declare -A rps
for layout in pinned shared; do
  start_apis "$layout"
  load 2 "$TMP/replicas-miss.lua" "warm-$layout" >/dev/null   # warm the queue path through both
  for replicas in 1 2; do
    for path in queued hit; do
      script="$TMP/replicas-miss.lua"; [ "$path" = hit ] && script="$TMP/replicas-fixed.lua"
      before=$(loadavg)
      read -r r p50 p99 errors < <(load "$replicas" "$script" "$layout-$replicas-$path")
      rps[$layout-$replicas-$path]=$r
      rows+=("| $layout | $replicas | $path | $r | $p50 | $p99 | $errors | $before → $(loadavg) |")
      echo "$layout replicas=$replicas $path: $r req/s" >&2
    done
  done
done
stop_apis

date_utc=$(date -u +%Y-%m-%d)
out="bench/results/replicas-$date_utc.md"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }
{
  echo "# API replicas benchmark, $date_utc"
  echo
  echo "Machine: $CORES cores ($(lscpu | awk -F': *' '/Model name/ { print $2; exit }'), $(lscpu | awk -F': *' '/^Thread\(s\) per core/ { print $2; exit }') thread per core), $(free -g | awk '/Mem:/ { print $2 }') GiB."
  echo "Command: \`bash bench/replicas.sh\` (DURATION=$DURATION s per run, $CONNECTIONS connections as two wrk -t1 of $((CONNECTIONS / 2)))."
  echo "Backend: one FAKE worker (hash-derived 1024-d vectors, instant); requests are one short text, base64."
  echo "Cores: *pinned*: API process i on core i (taskset -c i), so 1 replica has core 0 and 2 replicas have one core"
  echo "each; *shared*: every process on every core. wrk, the worker, Redis and RabbitMQ are never pinned and compete for"
  echo "the same $CORES cores. Load average (1 min) before → after each run shows what else ran on the machine."
  echo
  echo "| cores | API replicas | path | requests/s | p50 (worst wrk) | p99 (worst wrk) | non-2xx | load avg |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  for layout in pinned shared; do
    echo "Ratios, $layout: 2 replicas / 1 = $(ratio "${rps[$layout-1-queued]}" "${rps[$layout-2-queued]}") queued (goal >= 1.6 where the cores allow),"\
         "$(ratio "${rps[$layout-1-hit]}" "${rps[$layout-2-hit]}") cache hit (goal >= 1.9 where the cores allow)."
  done
} > "$out"
cat "$out"
