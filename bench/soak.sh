#!/usr/bin/env bash
# Soak benchmark (not a test): steady load for $DURATION seconds on loopback through API -> RabbitMQ -> two workers
# running the tiny ONNX model, while every $RESTART_EVERY seconds one worker is stopped, alternately gracefully
# (SIGTERM: it drains) and by crash (SIGKILL: its unacknowledged messages go back to the queue), and a replacement is
# started. Records requests, errors, latency percentiles, the error queue, and the API's memory over time.
# Writes bench/results/soak-<date>.md. Servers run on their own ports; everything started here is stopped by PID.
set -euo pipefail
source "$(dirname "$0")/common.sh"
DURATION="${DURATION:-180}"; RESTART_EVERY="${RESTART_EVERY:-30}"; CONNECTIONS="${CONNECTIONS:-16}"
CACHE_MIB="${CACHE_MIB:-256}"   # the API's in-process cache budget (Api:Cache:MemoryBytes; 256 MiB is the default)
MODEL=soak-tiny; API=http://127.0.0.1:5191
KILL_SIGNAL=KILL
need_wrk
bench_servers soak-state 6491 5791 15791

workers=()
start_worker() {
  env ConnectionStrings__messaging="$EMBEDDING_TEST_RABBITMQ" Worker__Model=$MODEL Worker__Backend=Onnx \
      Worker__Onnx__ModelPath="$ROOT/models/qwen3-tiny" Worker__Onnx__IntraOpThreads=1 \
      ASPNETCORE_URLS=http://127.0.0.1:0 Logging__LogLevel__Default=Warning \
      dotnet src/Embedding.Worker/bin/Release/net10.0/Embedding.Worker.dll >>"$TMP/soak-workers.log" 2>&1 &
  workers+=($!); pids+=($!)
}
start_worker; start_worker
env ConnectionStrings__messaging="$EMBEDDING_TEST_RABBITMQ" ConnectionStrings__cache="$EMBEDDING_TEST_REDIS" \
    Api__Models__0__Name=$MODEL Api__Models__0__Dimensions=128 Api__RequestTimeoutSeconds=60 \
    Api__Cache__MemoryBytes=$((CACHE_MIB * 1024 * 1024)) \
    ASPNETCORE_URLS=$API Logging__LogLevel__Default=Warning \
    dotnet src/Embedding.Api/bin/Release/net10.0/Embedding.Api.dll >"$TMP/soak-api.log" 2>&1 &
api=$!; pids+=($api)
for _ in $(seq 1 120); do curl -sf "$API/health" >/dev/null && break; sleep 0.5; done
for _ in $(seq 1 60); do curl -sf "$API/v1/embeddings" -H 'content-type: application/json' -d "{\"model\":\"$MODEL\",\"input\":\"warm\"}" -o /dev/null && break; sleep 0.5; done

cat > "$TMP/soak.lua" <<LUA
-- new texts (cache misses) of varied length, with one request in five repeating an earlier text (cache hits)
local threads, id, n = 0, 0, 0
function setup(thread) threads = threads + 1; thread:set("id", threads) end
function request()
  n = n + 1
  local k = n
  if n % 5 == 0 then k = math.floor(n / 2) end
  local words = string.rep("soak words ", 1 + (k % 24))
  local body = '{"model":"$MODEL","input":["' .. id .. '-' .. k .. ' ' .. words .. '"]}'
  return wrk.format("POST", "/v1/embeddings", { ["Content-Type"] = "application/json" }, body)
end
LUA

rss() { awk '/VmRSS/ { print int($2 / 1024) }' /proc/$api/status; }
echo "second,api_rss_mib,workers" >"$TMP/soak-memory.csv"
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 70s --latency -s "$TMP/soak.lua" "$API/v1/embeddings" >"$TMP/soak-wrk.txt" 2>&1 &
load=$!
restarts=0; crashes=0; start=$(date +%s)
while kill -0 $load 2>/dev/null; do
  now=$(( $(date +%s) - start ))
  echo "$now,$(rss),${#workers[@]}" >>"$TMP/soak-memory.csv"
  if [ "$now" -gt 0 ] && [ $(( now % RESTART_EVERY )) -eq 0 ] && [ "$now" -lt "$DURATION" ]; then
    victim=${workers[0]}; workers=("${workers[@]:1}")
    if [ $(( restarts % 2 )) -eq 0 ]; then kill -TERM "$victim"; else kill -KILL "$victim"; crashes=$((crashes + 1)); fi
    restarts=$((restarts + 1)); start_worker
  fi
  sleep 1
done
wait $load || true
sleep 5
errors_queue=$(curl -s -u guest:guest "http://127.0.0.1:$MGMT_PORT/api/queues/%2F/embed-${MODEL}_error" | python3 -c "import json,sys; print(json.load(sys.stdin).get('messages', 0))" 2>/dev/null || echo 0)

w=$(cat "$TMP/soak-wrk.txt")
requests=$(awk '/requests in/ { print $1 }' <<<"$w")
non2xx=$(awk '/Non-2xx/ { print $5 }' <<<"$w"); non2xx=${non2xx:-0}
sockerr=$(awk '/Socket errors/ { print $0 }' <<<"$w"); sockerr=${sockerr:-none}
pct() { awk -v p="$1" '$1 == p { print $2 }' <<<"$w"; }
mem_first=$(awk -F, 'NR == 12 { print $2 }' "$TMP/soak-memory.csv")   # after ten seconds of warm-up
mem_last=$(tail -1 "$TMP/soak-memory.csv" | cut -d, -f2)
mem_peak=$(awk -F, 'NR > 1 && $2 > m { m = $2 } END { print m }' "$TMP/soak-memory.csv")
tag="$(date -u +%F)-l1-${CACHE_MIB}mib"
out="bench/results/soak-$tag.md"
cat >"$out" <<MD
# Soak, $(date -u +%F)

Machine: $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)); wrk, RabbitMQ, Redis, the API and both workers share them.
Command: \`CACHE_MIB=$CACHE_MIB bash bench/soak.sh\` (DURATION=$DURATION s, $CONNECTIONS connections, a worker restart every $RESTART_EVERY s).
API: in-process cache (L1) budget $CACHE_MIB MiB; Redis (L2) on.
Workers: two, tiny TEST model (ONNX, 128 d); one in five requests repeats an earlier text.
Restarts: $restarts ($((restarts - crashes)) graceful SIGTERM, $crashes SIGKILL crashes), each replaced at once.

| requests | non-2xx | socket errors | p50 | p90 | p99 | error queue | API RSS after warm-up | API RSS at end | peak |
|---|---|---|---|---|---|---|---|---|---|
| $requests | $non2xx | $sockerr | $(pct 50%) | $(pct 90%) | $(pct 99%) | $errors_queue | ${mem_first} MiB | ${mem_last} MiB | ${mem_peak} MiB |

Memory growth over the run: $(awk -v a="$mem_first" -v b="$mem_last" 'BEGIN { printf "%+d MiB (%.2fx)", b - a, b / a }').
Samples (one a second): \`bench/results/soak-$tag-memory.csv\`.
MD
cp "$TMP/soak-memory.csv" "bench/results/soak-$tag-memory.csv"
cat "$out"
