#!/usr/bin/env bash
# The worker's TokenBudgetBatcher driving the in-worker CUDA ONNX backend under Poisson load (issue 24, "through the real
# worker"), one run: per text length, the backend's own peak (a closed loop of full batches) and one-batch floor (one
# text per batch), then the batcher in front of it (BatchingBench's load generator, seed 42) at 10 requests/s and at
# 1.3x the peak's request rate, with deploy/cuda-worker/Dockerfile's settings (8,192 tokens, 256 texts, one batch in
# flight) and with two in flight. Model: the 4B shape with random weights, exported as bench/gpu/onnx_cuda.sh does.
# Needs: the self-contained OnnxCudaBench publish in PUB (see onnx_cuda.sh), python3 with torch + transformers + onnx.
#   bash bench/gpu/onnx_cuda_batching.sh PUB OUT [MODEL_DIR]
set -uo pipefail
PUB=$1; OUT=$2; M=${3:-/root/qwen3-4b-cuda}
cd "$(dirname "$0")/../.."
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
export PYTHONUNBUFFERED=1
LENGTHS=${LENGTHS:-16,128,512}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-4}
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
chmod +x "$PUB/OnnxCudaBench"
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; nproc; grep -m1 'model name' /proc/cpuinfo; } | tee "$OUT/machine.txt"
if [ ! -f "$M/model.onnx" ]; then
  log "export, 4B shape, random weights"
  python3 tools/gpu-export/export_qwen3_embedding.py --random 4b --out "$M" --no-verify 2>&1 | grep -v Warning | tail -5 | tee "$OUT/export.log"
  cp models/qwen3-tiny/{tokenizer.json,tokenizer_config.json,vocab.json,merges.txt} "$M/"
fi
log "poisson: lengths $LENGTHS, $SECONDS_PER_RUN s per run"
"$PUB/OnnxCudaBench" poisson "$M" "$LENGTHS" "$SECONDS_PER_RUN" Cuda 2>&1 | grep -v '^ *at ' | tee "$OUT/batching.jsonl"
log done
