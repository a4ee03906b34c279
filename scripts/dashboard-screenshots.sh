#!/usr/bin/env bash
# Screenshots of the Aspire dashboard for the README: starts the system (the AppHost under `dotnet run`, local
# RabbitMQ/Redis, the CPU tier), sends traffic with the load tool (loopback, bounded), sends one request with a trace id
# of our own, then drives a headless Chromium through the dashboard's resources, traces, that trace, metrics and logs.
# Writes docs/images/dashboard-*.png. Stops the AppHost it started (and so everything the AppHost started).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
OUT="${OUT:-docs/images}"
API=http://localhost:5080; MODEL=qwen3-embedding-tiny-test
TMP="$ROOT/bench/tmp"; mkdir -p "$TMP"
bash scripts/install-prerequisites.sh --screenshots
(cd tools/dashboard-screenshots && npm ci --silent --no-audit --no-fund)
dotnet build Embedding.sln -c Release -v q -nologo >/dev/null

# Long cooldown: the worker is still up (and its metrics current) when the pictures are taken.
dotnet run --project src/Embedding.AppHost -c Release --no-build -- --Embedding:UseContainers=false \
  --Embedding:Scaling:CooldownSeconds=600 >"$TMP/apphost-screenshots.log" 2>&1 &
apphost=$!
trap 'kill -TERM $apphost 2>/dev/null; wait $apphost 2>/dev/null || true' EXIT

for _ in $(seq 1 120); do curl -s -o /dev/null "$API/v1/models" && break; sleep 1; done
login=$(grep -o 'http://localhost:15080/login?t=[0-9a-f]*' "$TMP/apphost-screenshots.log" | head -1)
[ -n "$login" ] || { echo "no dashboard login URL in the AppHost's output" >&2; exit 1; }

# Wake the tier, then traffic: 30 % repeats (cache hits), one to eight clients.
curl -s -o /dev/null -m 120 "$API/v1/embeddings" -H 'content-type: application/json' -d "{\"model\":\"$MODEL\",\"input\":\"warm up\"}"
dotnet run --project tools/Embedding.Load -c Release --no-build -- --url "$API/v1/embeddings" --model "$MODEL" \
  --concurrency 1,8 --duration 8 --repeat 0.3 --inputs 4 --out "$TMP/screenshot-load" >/dev/null

# One request with a trace id of our own, and company so that its batch serves (and links) several requests.
trace=$(openssl rand -hex 16); company=()
for i in 1 2 3; do
  curl -s -o /dev/null "$API/v1/embeddings" -H 'content-type: application/json' \
    -d "{\"model\":\"$MODEL\",\"input\":[\"company $i $trace\",\"more company $i $trace\"]}" &
  company+=($!)
done
curl -s -o /dev/null "$API/v1/embeddings" -H 'content-type: application/json' \
  -H "traceparent: 00-$trace-$(openssl rand -hex 8)-01" -d "{\"model\":\"$MODEL\",\"input\":[\"the traced request $trace\",\"its second input\"]}"
wait "${company[@]}"
sleep 12  # exporters send every few seconds; the HTTP server span ends last

WORKER_RESOURCE="worker-$MODEL" node tools/dashboard-screenshots/shoot.mjs "$login" "$trace" "$OUT"
