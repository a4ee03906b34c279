#!/usr/bin/env bash
# Reranking end to end through the stack against the same model called directly, side by side in one run, on the
# device host (one GPU; no .NET or RabbitMQ installed there: the stack kit brings them):
#   1. the Qwen3-Reranker-4B shape with random weights, exported as the qwen3-reranker-4b tier's CUDA form
#      (tools/gpu-export/export_qwen3_reranker.py --random 4b: one-logit, fp16; skipped where MODEL_DIR has model.onnx);
#   2. RabbitMQ + Redis (the kit's servers.sh), the API with one reranker model, one reranker worker on CUDA with the
#      CUDA tier's batching (TierPlan.CudaWorker: 8,192 padded tokens, up to 256 pairs, one batch at a time, 5 ms wait);
#   3. Embedding.Bench rerankstack: 1 query x PASSAGES documents of TOKENS tokens, time to the ranked list (p50 of RUNS
#      fresh queries; the repeat, cached) and pairs/s at saturation (CLIENTS clients for SECONDS s), stack vs direct.
# Writes OUT/rerank-stack.md (+ .json, machine.txt, export.log, worker.log, api.log).
#   bash bench/gpu/rerank_stack.sh OUT [MODEL_DIR]
# Where .NET comes from: KIT_ENV (default /root/carry/stack-kit/env.sh) sets PATH, DOTNET_ROOT, LD_LIBRARY_PATH and
# KIT_API, KIT_WORKER, KIT_BENCH (the dlls; the worker and the bench built with the CUDA ONNX Runtime); SERVERS (default
# "bash /root/carry/stack-kit/servers.sh") `start` prints the EMBEDDING_TEST_* exports, `stop` stops them.
# DEVICE=Cpu SHAPE=0.6b DTYPE=float32 run the same on CPU (bench/rerank-stack.sh does, with local builds).
set -uo pipefail
OUT=$(mkdir -p "$1" && cd "$1" && pwd); cd "$(dirname "$0")/../.."
DEVICE=${DEVICE:-Cuda}; SHAPE=${SHAPE:-4b}
if [ "$DEVICE" = Cuda ]; then DTYPE=${DTYPE:-float16}; BATCH_SIZE=${MAX_BATCH_SIZE:-256}; WARMUP=${WARMUP:-100}
else DTYPE=${DTYPE:-float32}; BATCH_SIZE=${MAX_BATCH_SIZE:-64}; WARMUP=${WARMUP:-2}; fi
M=$(realpath -m "${2:-/root/qwen3-reranker-$SHAPE-${DEVICE,,}}")
RUNS=${RUNS:-5}; PASSAGES=${PASSAGES:-100}; TOKENS=${TOKENS:-200}; CLIENTS=${CLIENTS:-8}; SECONDS_SAT=${SECONDS_SAT:-20}
THREADS=${THREADS:-0}; BATCH_TOKENS=${MAX_BATCH_TOKENS:-8192}; BENCH_TIMEOUT=${BENCH_TIMEOUT:-240}
PYTHON=${PYTHON:-python3}; API_PORT=${API_PORT:-5391}; MODEL=qwen3-reranker-bench
KIT=/root/carry/stack-kit
# shellcheck disable=SC1090
source "${KIT_ENV:-$KIT/env.sh}"
SERVERS=${SERVERS:-bash $KIT/servers.sh}
export PYTHONUNBUFFERED=1
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
pids=(); BATCHES=$(mktemp -d)  # the API's batch-job files (unused here), out of OUT
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done; done
  $SERVERS stop >/dev/null 2>&1
  rm -rf "$BATCHES"
  for f in worker api; do [ -f "$OUT/$f.full.log" ] && tail -n 200 "$OUT/$f.full.log" > "$OUT/$f.log" && rm -f "$OUT/$f.full.log"; done
}
trap cleanup EXIT

# The kit's bench must have this mode (tools/Embedding.Bench/RerankStackBench.cs): fail before the export if not.
$PYTHON -c "import sys; sys.exit('rerankstack'.encode('utf-16-le') not in open(sys.argv[1], 'rb').read())" "$KIT_BENCH" ||
  { echo "$KIT_BENCH has no 'rerankstack' mode: build the kit's Embedding.Bench from a tree with RerankStackBench.cs" >&2; exit 2; }
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null; echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)";
  dotnet --list-runtimes | grep -m1 NETCore; } > "$OUT/machine.txt" 2>&1  # the kit has the runtime only: no SDK, no --version
cat "$OUT/machine.txt" >&2

if [ ! -f "$M/model.onnx" ]; then
  log "1. export: $SHAPE shape, random weights, $DTYPE, to $M"
  t0=$(date +%s)
  $PYTHON tools/gpu-export/export_qwen3_reranker.py --random "$SHAPE" --dtype "$DTYPE" --out "$M" \
    --tokenizer models/qwen3-reranker-tiny --no-verify 2>&1 | grep -v Warning > "$OUT/export.log"
  echo "export took $(( $(date +%s) - t0 )) s" >> "$OUT/export.log"
  tail -3 "$OUT/export.log" >&2
fi
for f in tokenizer.json tokenizer_config.json vocab.json merges.txt; do [ -f "$M/$f" ] || cp "models/qwen3-reranker-tiny/$f" "$M/"; done
[ -f "$M/model.onnx" ] || { log "no model at $M"; exit 1; }

log "2. servers, API, one $DEVICE worker"
eval "$($SERVERS start)"
env ConnectionStrings__messaging="$EMBEDDING_TEST_RABBITMQ" Worker__Model=$MODEL Worker__Kind=Reranker Worker__Backend=Onnx \
    Worker__Onnx__ModelPath="$M" Worker__Onnx__OnnxFile=model.onnx Worker__Onnx__Device="$DEVICE" Worker__Onnx__IntraOpThreads="$THREADS" \
    Worker__MaxBatchTokens="$BATCH_TOKENS" Worker__MaxBatchSize="$BATCH_SIZE" Worker__MaxConcurrentBatches=1 Worker__MaxWaitMilliseconds=5 \
    ASPNETCORE_URLS=http://127.0.0.1:0 Logging__LogLevel__Default=Warning \
    dotnet "$KIT_WORKER" > "$OUT/worker.full.log" 2>&1 &
pids+=($!)
env ConnectionStrings__messaging="$EMBEDDING_TEST_RABBITMQ" ConnectionStrings__cache="$EMBEDDING_TEST_REDIS" \
    Api__Models__0__Name=$MODEL Api__Models__0__Kind=Reranker Api__Models__0__Dimensions=1 Api__Models__0__Matryoshka=false \
    Api__RequestTimeoutSeconds=3600 Api__Batches__StoragePath="$BATCHES" \
    ASPNETCORE_URLS=http://127.0.0.1:$API_PORT Logging__LogLevel__Default=Warning \
    dotnet "$KIT_API" > "$OUT/api.full.log" 2>&1 &
pids+=($!)
# The bench retries its first request until the worker answers; this only keeps its log quiet while the API starts.
command -v curl >/dev/null && for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$API_PORT/health" >/dev/null && break; sleep 0.5; done

log "3. stack vs direct: $PASSAGES x $TOKENS tokens, $RUNS runs, $CLIENTS clients for $SECONDS_SAT s"
timeout "$BENCH_TIMEOUT" dotnet "$KIT_BENCH" rerankstack --api "http://127.0.0.1:$API_PORT" --model $MODEL --model-dir "$M" \
  --onnx-file model.onnx --device "$DEVICE" --threads "$THREADS" --runs "$RUNS" --passages "$PASSAGES" --tokens "$TOKENS" \
  --clients "$CLIENTS" --seconds "$SECONDS_SAT" --max-batch-tokens "$BATCH_TOKENS" --max-batch-size "$BATCH_SIZE" --warmup "$WARMUP" \
  --out-json "$OUT/rerank-stack.json" --out-md "$OUT/table.md" >&2
rc=$?
{
  echo "# Reranking through the stack vs the model called directly, $(date -u +%F)"
  echo
  echo "Machine: $(tr '\n' ';' < "$OUT/machine.txt")"
  echo "Command: \`DEVICE=$DEVICE SHAPE=$SHAPE DTYPE=$DTYPE RUNS=$RUNS PASSAGES=$PASSAGES TOKENS=$TOKENS CLIENTS=$CLIENTS SECONDS_SAT=$SECONDS_SAT bash bench/gpu/rerank_stack.sh OUT $M\`"
  echo "Model: \`$M\` (export.json: \`$([ -f "$M/export.json" ] && tr -d '\n ' < "$M/export.json" || echo none)\`). Stack: API -> pair cache (L1 + Redis) -> RabbitMQ -> one worker (ONNX Runtime, $DEVICE); direct: the same OnnxQwen3Reranker in the bench's process, the same batches."
  echo
  cat "$OUT/table.md" 2>/dev/null || echo "bench failed (exit $rc): see worker.log, api.log"
} > "$OUT/rerank-stack.md"
rm -f "$OUT/table.md"
cat "$OUT/rerank-stack.md"
exit $rc
