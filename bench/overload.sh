#!/usr/bin/env bash
# Overload benchmark (not a test): far more concurrent requests than the workers can serve, on loopback, against the
# API with its in-flight cap (Api:MaxConcurrentRequests) at $LIMIT and, for comparison, effectively uncapped.
# Records served and shed (503) requests, latency, and the API's peak memory. Writes bench/results/overload-<date>.md.
set -euo pipefail
source "$(dirname "$0")/common.sh"
DURATION="${DURATION:-30}"; CONNECTIONS="${CONNECTIONS:-1000}"; LIMIT="${LIMIT:-64}"
MODEL=overload-fake; API=http://127.0.0.1:5192
KILL_SIGNAL=KILL
need_wrk
ulimit -n 65536 2>/dev/null || true
bench_servers overload-state 6492 5792 15792

# One worker with a FAKE backend that takes 20 ms per batch: a fixed, small capacity to overload.
env ConnectionStrings__messaging="$EMBEDDING_TEST_RABBITMQ" Worker__Model=$MODEL Worker__StandIn=Fake \
    Worker__Fake__DelayMilliseconds=20 Worker__MaxBatchSize=32 Worker__PrefetchCount=64 \
    ASPNETCORE_URLS=http://127.0.0.1:0 Logging__LogLevel__Default=Warning \
    dotnet src/Embedding.Worker/bin/Release/net10.0/Embedding.Worker.dll >"$TMP/overload-worker.log" 2>&1 &
pids+=($!)

cat > "$TMP/overload.lua" <<LUA
local threads, id, n = 0, 0, 0
function setup(thread) threads = threads + 1; thread:set("id", threads) end
function request()
  n = n + 1
  return wrk.format("POST", "/v1/embeddings", { ["Content-Type"] = "application/json" },
    '{"model":"$MODEL","input":"overload ' .. id .. '-' .. n .. '"}')
end
LUA

rows=""
for cap in "$LIMIT" 1000000; do
  env ConnectionStrings__messaging="$EMBEDDING_TEST_RABBITMQ" Api__Models__0__Name=$MODEL Api__Models__0__Dimensions=64 \
      Api__MaxConcurrentRequests=$cap Api__RequestTimeoutSeconds=30 ASPNETCORE_URLS=$API Logging__LogLevel__Default=Warning \
      dotnet src/Embedding.Api/bin/Release/net10.0/Embedding.Api.dll >"$TMP/overload-api.log" 2>&1 &
  api=$!
  for _ in $(seq 1 120); do curl -sf "$API/health" >/dev/null && break; sleep 0.5; done
  curl -sf "$API/v1/embeddings" -H 'content-type: application/json' -d "{\"model\":\"$MODEL\",\"input\":\"warm\"}" -o /dev/null
  base=$(awk '/VmRSS/ { print int($2 / 1024) }' /proc/$api/status)
  wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 40s --latency -s "$TMP/overload.lua" "$API/v1/embeddings" >"$TMP/overload-wrk.txt" 2>&1 &
  load=$!; peak=$base; ticks=0; healthy=none
  while kill -0 $load 2>/dev/null; do
    r=$(awk '/VmRSS/ { print int($2 / 1024) }' /proc/$api/status); [ "$r" -gt "$peak" ] && peak=$r
    ticks=$((ticks + 1)); [ $ticks -eq 20 ] && healthy=$(curl -s -m 5 -o /dev/null -w "%{http_code}" "$API/health")  # 10 s in
    sleep 0.5
  done
  w=$(cat "$TMP/overload-wrk.txt")
  total=$(awk '/requests in/ { print $1 }' <<<"$w"); non2xx=$(awk '/Non-2xx/ { print $5 }' <<<"$w"); non2xx=${non2xx:-0}
  rps=$(awk '/Requests\/sec/ { print $2 }' <<<"$w"); p99=$(awk '$1 == "99%" { print $2 }' <<<"$w")
  label=$([ "$cap" = "$LIMIT" ] && echo "$cap (the cap under test)" || echo "uncapped")
  rows+="| $label | $total | $((total - non2xx)) | $non2xx | $rps | $p99 | ${base} MiB | ${peak} MiB | $healthy |"$'\n'
  kill -9 $api; wait $api 2>/dev/null || true
done

out="bench/results/overload-$(date -u +%F).md"
cat >"$out" <<MD
# Overload, $(date -u +%F)

Machine: $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)); wrk, RabbitMQ, the API and the worker share them.
Command: \`bash bench/overload.sh\` ($CONNECTIONS connections for $DURATION s, every request a new text).
Worker: one, FAKE backend taking 20 ms per batch of up to 32 (a small fixed capacity, to overload on purpose).

| Api:MaxConcurrentRequests | requests | served (200) | shed (503 + Retry-After) | requests/s | p99 | API RSS before | API RSS peak | /health 10 s in |
|---|---|---|---|---|---|---|---|---|
$rows
Reading: the cap bounds the work in flight (excess requests get 503 + Retry-After at once, p99 stays low); what memory
remains is the $CONNECTIONS open connections and the 503s being written, because wrk retries at once where real clients
honour Retry-After. Uncapped, every request waits in the API and on the queue for the worker, and latency follows the backlog.
MD
cat "$out"
