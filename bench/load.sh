#!/usr/bin/env bash
# Load benchmark (not a test): the load tool (tools/Embedding.Load) against the whole stack (API -> RabbitMQ -> worker
# with the tiny ONNX model, or BACKEND=onnx-0.6b the real model's shape) and, in the same run with the same requests, against that ONNX backend behind a plain
# OpenAI-compatible endpoint (no cache, no queue). Loopback only, bounded per step. Writes bench/results/load-<date>.*.
set -euo pipefail
source "$(dirname "$0")/common.sh"
DURATION="${DURATION:-8}"; LEVELS="${LEVELS:-1,8,32,64,128}"; WORDS="${WORDS:-16-64}"
# BACKEND=onnx (the tiny CPU model) or BACKEND=simulated (the SIMULATED H100 engine of bench/batching.sh, 2560-d vectors).
BACKEND="${BACKEND:-onnx}"
# BACKEND=fake: the FAKE backend, a fixed 2 ms per call and no model (our own overhead, measured against the same 2 ms).
if [ "$BACKEND" = simulated ]; then WORKER_BACKEND=(Worker__StandIn=SimulatedGpu Worker__MaxConcurrentBatches=2); DIMS=2560; DIRECT_ARG=simulated
elif [ "$BACKEND" = fake ]; then WORKER_BACKEND=(Worker__StandIn=Fake Worker__Fake__Dimensions=128 Worker__Fake__DelayMilliseconds=2); DIMS=128; DIRECT_ARG=fake
# BACKEND=onnx-0.6b: the 0.6B-shaped random-weight model of tools/bench-model (built into ~/.cache on first use), weight-only
# 8-bit as the default tier's file, run as the worker runs it (its default Int8Form); MODEL_DIR picks another form.
elif [ "$BACKEND" = onnx-0.6b ]; then
  M="${MODEL_DIR:-$HOME/.cache/embedding-bench/qwen3-0.6b-random/int8}"
  [ -f "$M/model.onnx" ] || /usr/bin/python3 tools/bench-model/make_qwen3_0_6b.py
  WORKER_BACKEND=(Worker__Backend=Onnx Worker__Onnx__ModelPath="$M"); DIMS=1024; DIRECT_ARG="$M"; WARM_TRIES=600
else WORKER_BACKEND=(Worker__Backend=Onnx Worker__Onnx__ModelPath="$ROOT/models/qwen3-tiny"); DIMS=128; DIRECT_ARG="$ROOT/models/qwen3-tiny"; fi
WARM_TRIES="${WARM_TRIES:-60}"
MODEL=load-tiny; API=http://127.0.0.1:5193; DIRECT=http://127.0.0.1:5194
bench_servers load-state 6493 5793 15793

env ConnectionStrings__messaging="$EMBEDDING_TEST_RABBITMQ" Worker__Model=$MODEL "${WORKER_BACKEND[@]}" \
    Worker__MaxWaitMilliseconds="${WORKER_WAIT_MS:-5}" \
    ASPNETCORE_URLS=http://127.0.0.1:0 Logging__LogLevel__Default=Warning \
    dotnet src/Embedding.Worker/bin/Release/net10.0/Embedding.Worker.dll >"$TMP/load-worker.log" 2>&1 &
pids+=($!)
env ConnectionStrings__messaging="$EMBEDDING_TEST_RABBITMQ" ConnectionStrings__cache="$EMBEDDING_TEST_REDIS" \
    Api__Models__0__Name=$MODEL Api__Models__0__Dimensions=$DIMS ASPNETCORE_URLS=$API Logging__LogLevel__Default=Warning \
    dotnet src/Embedding.Api/bin/Release/net10.0/Embedding.Api.dll >"$TMP/load-api.log" 2>&1 &
pids+=($!)
dotnet tools/Embedding.Bench/bin/Release/net10.0/Embedding.Bench.dll direct $DIRECT "$DIRECT_ARG" >"$TMP/load-direct.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 $((WARM_TRIES * 2))); do curl -sf "$API/health" >/dev/null && curl -sf -X POST "$DIRECT/v1/embeddings" -d '{"input":"warm"}' -o /dev/null && break; sleep 0.5; done
for _ in $(seq 1 "$WARM_TRIES"); do curl -sf "$API/v1/embeddings" -H 'content-type: application/json' -d "{\"model\":\"$MODEL\",\"input\":\"warm\"}" -o /dev/null && break; sleep 0.5; done

dotnet tools/Embedding.Load/bin/Release/net10.0/Embedding.Load.dll --url "$API/v1/embeddings" --name stack \
  --compare "$DIRECT/v1/embeddings" --compare-name direct --model $MODEL --concurrency "$LEVELS" --duration "$DURATION" \
  --words "$WORDS" --out bench/results --file "load-$(date -u +%F)-$BACKEND" \
  --command "BACKEND=$BACKEND bash bench/load.sh (DURATION=$DURATION, LEVELS=$LEVELS, WORDS=$WORDS)"
