#!/usr/bin/env bash
# Reranking end to end through the stack (API -> pair cache -> RabbitMQ -> worker -> ONNX reranker) against the same
# model called directly in-process, side by side in one run, on this machine's CPU: bench/gpu/rerank_stack.sh's
# measurement with this checkout's Release builds and RabbitMQ/Redis of the bench's own standing in for the device's kit.
# Default: the Qwen3-Reranker-0.6B shape, random weights, float32 (as bench/rerank.sh builds it), 1 query x 100
# documents of 200 tokens. Writes bench/results/rerank-stack-<date>.md and .json.
#   [RUNS=3 PASSAGES=100 TOKENS=200 CLIENTS=4 SECONDS_SAT=1 THREADS=2] bash bench/rerank-stack.sh [MODEL_DIR]
# MODEL_DIR=models/qwen3-reranker-tiny: the tiny reranker (seconds; checks the whole path). SECONDS_SAT is how long new
# requests start at saturation: 1 = each client sends one request.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
M=${1:-/tmp/qwen3-reranker-0.6b-random}
export RUNS=${RUNS:-3} PASSAGES=${PASSAGES:-100} TOKENS=${TOKENS:-200} CLIENTS=${CLIENTS:-4} SECONDS_SAT=${SECONDS_SAT:-1}
export THREADS=${THREADS:-$(nproc)} DEVICE=Cpu SHAPE=0.6b DTYPE=float32 PYTHON=/usr/bin/python3 BENCH_TIMEOUT=${BENCH_TIMEOUT:-7200}
export API_PORT=${API_PORT:-5393}
bash scripts/install-prerequisites.sh
dotnet build tools/Embedding.Bench -c Release -v q -nologo >/dev/null  # the API and the worker with it
mkdir -p bench/tmp
cat > bench/tmp/rerank-stack-kit.sh <<KIT
export KIT_API=$ROOT/src/Embedding.Api/bin/Release/net10.0/Embedding.Api.dll
export KIT_WORKER=$ROOT/src/Embedding.Worker/bin/Release/net10.0/Embedding.Worker.dll
export KIT_BENCH=$ROOT/tools/Embedding.Bench/bin/Release/net10.0/Embedding.Bench.dll
KIT
export KIT_ENV=$ROOT/bench/tmp/rerank-stack-kit.sh
export SERVERS="env STATE=$ROOT/bench/tmp/rerank-stack-state REDIS_PORT=${REDIS_PORT:-6497} AMQP_PORT=${AMQP_PORT:-5797} MGMT_PORT=${MGMT_PORT:-15797} PG_PORT=${PG_PORT:-5497} bash scripts/test-servers.sh"
out=bench/tmp/rerank-stack-out
rm -rf "$out"
bash bench/gpu/rerank_stack.sh "$out" "$M"
d=$(date -u +%F)
cp "$out/rerank-stack.md" "bench/results/rerank-stack-$d.md"
cp "$out/rerank-stack.json" "bench/results/rerank-stack-$d.json"
echo "wrote bench/results/rerank-stack-$d.md" >&2
