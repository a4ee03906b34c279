#!/usr/bin/env bash
# Overhead benchmark (not a test): how fast is the service itself, with the model taken out?
# Measures, in one run, on loopback only, each with wrk for $DURATION seconds:
#   1. the whole pipeline API -> RabbitMQ -> worker -> back, every request a cache miss, FAKE stub backend
#   2. the stub backend called directly (no HTTP, no queue)
#   3. the cache-hit path (same text every time, answered from L1)
#   4. a bare ASP.NET Core endpoint returning the same bytes as (3)
#   5. p50 of the cache-hit path at one connection
# Writes bench/results/overhead-<date>.md. Servers run on their own ports and are stopped at the end.
set -euo pipefail
source "$(dirname "$0")/common.sh"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-64}"
MODEL=bench-fake
API=http://127.0.0.1:5181
BARE=http://127.0.0.1:5182
need_wrk
bench_servers state 6479 5772 15772

env ConnectionStrings__messaging="$EMBEDDING_TEST_RABBITMQ" Worker__Model=$MODEL Worker__StandIn=Fake \
    Worker__Fake__Dimensions=1024 Worker__MaxBatchSize=256 Worker__MaxWaitMilliseconds=1 Worker__PrefetchCount=256 \
    ASPNETCORE_URLS=http://127.0.0.1:5183 Logging__LogLevel__Default=Warning \
    dotnet src/Embedding.Worker/bin/Release/net10.0/Embedding.Worker.dll >"$TMP/worker.log" 2>&1 &
pids+=($!)
env ConnectionStrings__messaging="$EMBEDDING_TEST_RABBITMQ" ConnectionStrings__cache="$EMBEDDING_TEST_REDIS" \
    Api__Models__0__Name=$MODEL Api__Models__0__Dimensions=1024 \
    ASPNETCORE_URLS=$API Logging__LogLevel__Default=Warning \
    dotnet src/Embedding.Api/bin/Release/net10.0/Embedding.Api.dll >"$TMP/api.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do curl -sf "$API/health" >/dev/null && break; sleep 0.5; done

HIT='{"model":"'$MODEL'","input":"hello world","encoding_format":"base64"}'
# Warm the cache and the JIT; keep the exact response bytes for the bare endpoint.
for _ in $(seq 1 20); do curl -sf "$API/v1/embeddings" -H 'content-type: application/json' -d "$HIT" -o "$TMP/hit.json"; done
dotnet tools/Embedding.Bench/bin/Release/net10.0/Embedding.Bench.dll bare $BARE "$TMP/hit.json" >"$TMP/bare.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 60); do curl -sf -X POST "$BARE/v1/embeddings" -o /dev/null && break; sleep 0.5; done

cat > "$TMP/fixed.lua" <<LUA
wrk.method = "POST"
wrk.body = '$HIT'
wrk.headers["Content-Type"] = "application/json"
LUA
cat > "$TMP/miss.lua" <<LUA
-- every request a new text: each wrk thread numbers its own requests
local threads, id, n = 0, 0, 0
function setup(thread) threads = threads + 1; thread:set("id", threads) end
function request()
  n = n + 1
  local body = '{"model":"$MODEL","input":"miss ' .. os.time() .. '-' .. id .. '-' .. n .. '","encoding_format":"base64"}'
  return wrk.format("POST", "/v1/embeddings", { ["Content-Type"] = "application/json" }, body)
end
LUA

run() { local t=2; [ "$2" -lt 2 ] && t=1; wrk -t"$t" -c"$2" -d"${DURATION}s" --latency -s "$3" "$1/v1/embeddings" 2>&1; }
rps() { awk '/Requests\/sec/ { print $2 }' <<<"$1"; }
p50() { awk '$1 == "50%" { print $2 }' <<<"$1"; }
p99() { awk '$1 == "99%" { print $2 }' <<<"$1"; }
errors() { awk '/Non-2xx/ { print $5 } END { }' <<<"$1" | head -1; }

run "$API" 16 "$TMP/miss.lua" >/dev/null                      # warm the queue path
pipeline=$(run "$API" "$CONNECTIONS" "$TMP/miss.lua")
stub=$(dotnet tools/Embedding.Bench/bin/Release/net10.0/Embedding.Bench.dll stub "$DURATION" 1024)
hits=$(run "$API" "$CONNECTIONS" "$TMP/fixed.lua")
bare=$(run "$BARE" "$CONNECTIONS" "$TMP/fixed.lua")
hit1=$(run "$API" 1 "$TMP/fixed.lua")
bare1=$(run "$BARE" 1 "$TMP/fixed.lua")

r_pipe=$(rps "$pipeline"); r_stub=$stub; r_hit=$(rps "$hits"); r_bare=$(rps "$bare")
date_utc=$(date -u +%Y-%m-%d)
out="bench/results/overhead-$date_utc.md"
cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
{
  echo "# Overhead benchmark, $date_utc"
  echo
  echo "Machine: $(nproc) cores ($cpu), $(free -g | awk '/Mem:/ { print $2 }') GiB; wrk and every server share these cores."
  echo "Command: \`bash bench/overhead.sh\` (DURATION=$DURATION s per run, $CONNECTIONS connections, wrk -t2)."
  echo "Backend: the FAKE stub (hash-derived 1024-d vectors, instant), so this measures the service, not a model."
  echo "Requests: one short text each, \`encoding_format: base64\` (what the OpenAI SDKs send)."
  echo
  echo "| path | requests/s | p50 | p99 | non-2xx |"
  echo "|---|---|---|---|---|"
  echo "| API → RabbitMQ → worker → back (all cache misses) | $r_pipe | $(p50 "$pipeline") | $(p99 "$pipeline") | $(errors "$pipeline") |"
  echo "| stub backend called directly (one text per call, no HTTP) | $r_stub | | | |"
  echo "| cache hit (L1) through the API | $r_hit | $(p50 "$hits") | $(p99 "$hits") | $(errors "$hits") |"
  echo "| bare ASP.NET Core endpoint, same bytes | $r_bare | $(p50 "$bare") | $(p99 "$bare") | $(errors "$bare") |"
  echo "| cache hit, 1 connection | $(rps "$hit1") | $(p50 "$hit1") | $(p99 "$hit1") | |"
  echo "| bare endpoint, 1 connection | $(rps "$bare1") | $(p50 "$bare1") | $(p99 "$bare1") | |"
  echo
  awk -v p="$r_pipe" -v h="$r_hit" -v b="$r_bare" 'BEGIN {
    printf "Ratios: cache-hit path / bare endpoint = %.2f (goal >= 0.50); pipeline = %.0f req/s (goal >= 3,000).\n", h / b, p }'
} > "$out"
cat "$out"
