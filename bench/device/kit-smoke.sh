#!/usr/bin/env bash
# Smoke test of the stack kit on the device host (or any x86-64 Linux): the kit's RabbitMQ, Redis and PostgreSQL,
# the API (batch store on PostgreSQL), an embedding worker on models/qwen3-tiny and a reranker worker on
# models/qwen3-reranker-tiny; one /v1/embeddings, one /v1/rerank, one GET /v1/batches, the queues in RabbitMQ's
# management API, and the kit's redis-cli, psql and wrk (1 s on /health). Prints OK, or FAIL with the logs; stops
# everything it started.
#   bash bench/device/kit-smoke.sh                # KIT=/root/carry/stack-kit by default; DEVICE=Cuda runs both workers
#                                                 # on ONNX Runtime's CUDA provider (default Cpu)
# Knobs: KIT, DEVICE, SMOKE_DIR (/tmp/kit-smoke: logs and server data), API_PORT (5180), and servers.sh's ports.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
KIT="${KIT:-/root/carry/stack-kit}"
source "$KIT/env.sh" || exit 1
DEVICE="${DEVICE:-Cpu}"; API_PORT="${API_PORT:-5180}"
export STATE="${SMOKE_DIR:-/tmp/kit-smoke}"
LOGS="$STATE/logs"; mkdir -p "$LOGS"
API="http://127.0.0.1:$API_PORT"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done; done
  bash "$KIT_SERVERS" stop
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$LOGS"/*.log "$STATE/rabbitmq/stdout.log" "$STATE/postgres/postgres.log" "$STATE/redis.log"; do
    [ -f "$f" ] && { echo "== $f"; tail -40 "$f"; }
  done
  exit 1
}
[ "$DEVICE" = Cpu ] || [ "$KIT_HAS_CUDA" = 1 ] || { echo "FAIL: DEVICE=$DEVICE needs the stack-cuda parts (/root/carry/stack-cuda)"; exit 1; }
t0=$(date +%s)
echo "kit: $(head -1 "$KIT/VERSION"); device: $DEVICE"
env_lines=$(bash "$KIT_SERVERS" start 2>"$LOGS/servers.log") || fail "servers did not start: $(cat "$LOGS/servers.log")"
eval "$env_lines"
echo "servers up after $(( $(date +%s) - t0 )) s"

worker() {  # NAME KIND MODEL_DIR
  env ConnectionStrings__messaging="$EMBEDDING_TEST_RABBITMQ" Worker__Model="$1" Worker__Kind="$2" Worker__Backend=Onnx \
      Worker__Onnx__ModelPath="$3" Worker__Onnx__Device="$DEVICE" ASPNETCORE_URLS=http://127.0.0.1:0 \
      Logging__LogLevel__Default=Warning dotnet "$KIT_WORKER" >"$LOGS/worker-$1.log" 2>&1 &
  pids+=($!)
}
worker smoke-tiny Embedding "$ROOT/models/qwen3-tiny"
worker smoke-rerank Reranker "$ROOT/models/qwen3-reranker-tiny"
env ConnectionStrings__messaging="$EMBEDDING_TEST_RABBITMQ" ConnectionStrings__cache="$EMBEDDING_TEST_REDIS" \
    ConnectionStrings__batches="$EMBEDDING_TEST_POSTGRES" \
    Api__Models__0__Name=smoke-tiny Api__Models__0__Dimensions=128 \
    Api__Models__1__Name=smoke-rerank Api__Models__1__Kind=Reranker Api__Models__1__Dimensions=1 \
    ASPNETCORE_URLS="$API" Logging__LogLevel__Default=Warning dotnet "$KIT_API" >"$LOGS/api.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 120); do curl -sf "$API/health" -o /dev/null && break; sleep 0.5; done
curl -sf "$API/health" -o /dev/null || fail "API not healthy after 60 s"
echo "API up after $(( $(date +%s) - t0 )) s"

# post PATH BODY: retried while the workers start (503 until a worker answers), the body saved in $LOGS/PATH.json.
post() {
  local out="$LOGS/$(basename "$1").json" code
  for _ in $(seq 1 120); do
    code=$(curl -s -o "$out" -w '%{http_code}' "$API$1" -H 'content-type: application/json' -d "$2")
    [ "$code" = 200 ] && return 0
    sleep 0.5
  done
  fail "POST $1 answered $code: $(head -c 400 "$out")"
}
post /v1/embeddings '{"model":"smoke-tiny","input":["hello world","北京是中国的首都"]}'
python3 - "$LOGS/embeddings.json" <<'PY' || fail "embeddings: unexpected answer $(head -c 400 "$LOGS/embeddings.json")"
import json, math, sys
d = json.load(open(sys.argv[1]))["data"]
assert len(d) == 2 and all(len(e["embedding"]) == 128 for e in d), "two 128-d vectors"
assert all(abs(math.sqrt(sum(x * x for x in e["embedding"])) - 1) < 1e-3 for e in d), "unit length"
print("embeddings: 2 x 128-d, unit length")
PY
post /v1/rerank '{"model":"smoke-rerank","query":"capital of China","documents":["Beijing is the capital of China.","Bananas are yellow.","The sky is blue."]}'
python3 - "$LOGS/rerank.json" <<'PY' || fail "rerank: unexpected answer $(head -c 400 "$LOGS/rerank.json")"
import json, sys
r = json.load(open(sys.argv[1]))["results"]
assert sorted(x["index"] for x in r) == [0, 1, 2], "three results"
s = [x["relevance_score"] for x in r]
assert all(0 <= v <= 1 for v in s) and s == sorted(s, reverse=True), "scores in [0, 1], best first"
print("rerank: 3 results, scores", [round(v, 4) for v in s])
PY
code=$(curl -s -o "$LOGS/batches.json" -w '%{http_code}' "$API/v1/batches")
[ "$code" = 200 ] || fail "GET /v1/batches (PostgreSQL batch store) answered $code: $(head -c 400 "$LOGS/batches.json")"
echo "batches (PostgreSQL): 200"
curl -sf "${EMBEDDING_TEST_RABBITMQ_MANAGEMENT}api/queues" -o "$LOGS/queues.json" || fail "RabbitMQ management API"
python3 - "$LOGS/queues.json" <<'PY' || fail "queues: $(head -c 400 "$LOGS/queues.json")"
import json, sys
names = [q["name"] for q in json.load(open(sys.argv[1]))]
assert any("smoke-tiny" in n for n in names) and any("smoke-rerank" in n for n in names), names
print("queues (management API):", ", ".join(n for n in names if "smoke" in n))
PY
echo "redis-cli: $(redis-cli -p "${EMBEDDING_TEST_REDIS##*:}" dbsize) keys"
echo "psql: $(psql -h 127.0.0.1 -p "${PG_PORT:-5432}" -U postgres -tAc 'select count(*) from pg_tables' 2>&1) tables"
wrk -t1 -c4 -d1s "$API/health" >"$LOGS/wrk.txt" 2>&1 && grep -q 'Requests/sec' "$LOGS/wrk.txt" ||
  fail "wrk: $(cat "$LOGS/wrk.txt")"
echo "wrk: $(grep 'Requests/sec' "$LOGS/wrk.txt" | tr -s ' ') on /health (1 s, 4 connections)"
echo "OK ($(( $(date +%s) - t0 )) s)"
