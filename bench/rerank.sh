#!/usr/bin/env bash
# The reranker backend called directly on CPU: a Qwen3-Reranker-0.6B-shaped graph with random weights (the real
# shape's compute; tools/gpu-export/export_qwen3_reranker.py --random 0.6b, float32, the tiny reranker's tokenizer),
# one query against 100 passages of 200 tokens, cut into the worker's 8,192-token batches: time to the ranked list,
# pairs/s. Writes bench/results/rerank-cpu-DATE.json.
#   bash bench/rerank.sh [THREADS] [RUNS] [MODEL_DIR]
# The GPU side (4B shape, transformers on one H200): bench/gpu/rerank_torch.py. Through the whole stack (API, cache,
# queue, worker) against this, side by side: bench/rerank-stack.sh (CPU), bench/gpu/rerank_stack.sh (CUDA).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${1:-2}; RUNS=${2:-3}; M=${3:-/tmp/qwen3-reranker-0.6b-random}
if [ ! -f "$M/model.onnx" ]; then
  /usr/bin/python3 tools/gpu-export/export_qwen3_reranker.py --random 0.6b --dtype float32 --out "$M" \
    --tokenizer models/qwen3-reranker-tiny --no-verify
fi
for f in tokenizer.json tokenizer_config.json vocab.json merges.txt; do [ -f "$M/$f" ] || cp "models/qwen3-reranker-tiny/$f" "$M/"; done
dotnet build tools/Embedding.Bench -c Release -v q -nologo >/dev/null
out=bench/results/rerank-cpu-$(date -u +%F).json
dotnet tools/Embedding.Bench/bin/Release/net10.0/Embedding.Bench.dll rerank "$M" "" "$THREADS" "$RUNS" "$out"
{ grep -m1 'model name' /proc/cpuinfo; nproc; } >&2
