#!/usr/bin/env bash
# The worker's ONNX backend on ONNX Runtime's CUDA provider against transformers/torch on the same GPU, one run:
#   1. fp16 safety on the GPU: the tiny model whose residual stream reaches 2e5 (tools/tiny-model/make_fp16_overflow.py),
#      its GPU form, its all-fp16 form and its fp32 form against the float32 reference;
#   2. the Qwen3-Embedding-4B shape with random weights, exported by tools/gpu-export/export_qwen3_embedding.py
#      exactly as a user exports the real weights (fp16 GPU form);
#   3. cold start: page cache dropped, a new process to its first vector; then once more with the files cached;
#   4. fidelity of the 4B graph on the GPU to the export's float32 transformers vectors;
#   5. throughput per batch shape, ONNX (OnnxCudaBench, through OnnxQwen3Backend) then torch (torch_forward.py).
# Needs: a self-contained `dotnet publish bench/gpu/OnnxCudaBench -c Release -r linux-x64 --self-contained
# -p:OnnxRuntimeGpu=true` in PUB, python3 with torch + transformers + onnx, CUDA 13 and cuDNN 9.
#   bash bench/gpu/onnx_cuda.sh PUB OUT [MODEL_DIR]
set -uo pipefail
PUB=$1; OUT=$2; M=${3:-/root/qwen3-4b-cuda}
cd "$(dirname "$0")/../.."
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
export PYTHONUNBUFFERED=1
CELLS=${CELLS:-1x16,8x16,32x16,128x16,512x16,64x128,256x128,16x512,64x512,4x2048,16x2048}
SECONDS_PER_CELL=${SECONDS_PER_CELL:-2.0}
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
drop_caches() {  # the model's and the program's files out of the page cache
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  python3 - "$@" <<'PY'
import os, sys
for root in sys.argv[1:]:
    for d, _, files in os.walk(root):
        for f in files:
            try:
                fd = os.open(os.path.join(d, f), os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)
            except OSError: pass
PY
}
chmod +x "$PUB/OnnxCudaBench"
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; nproc; grep -m1 'model name' /proc/cpuinfo;
  python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'; } | tee "$OUT/machine.txt"

log "1. fp16 safety, tiny model with a residual stream beyond fp16's range"
for form in "" unsafe fp32; do
  "$PUB/OnnxCudaBench" fidelity "models/qwen3-tiny-fp16-overflow/$form" models/qwen3-tiny-fp16-overflow/reference.json Cuda 2>&1 | grep -v '^ *at ' | tail -2 | tee -a "$OUT/fp16-overflow.jsonl"
done

if [ ! -f "$M/model.onnx" ]; then
  log "2. export, 4B shape, random weights"
  python3 tools/gpu-export/export_qwen3_embedding.py --random 4b --out "$M" --no-verify 2>&1 | grep -v Warning | tee "$OUT/export.log"
  cp models/qwen3-tiny/{tokenizer.json,tokenizer_config.json,vocab.json,merges.txt} "$M/"
fi
cp "$M/export.json" "$OUT/" 2>/dev/null

log "3. cold start"
for run in cold:8 cold:0 cached:8; do  # page cache dropped or not : Worker:Onnx:PrefetchThreads
  [ "${run%:*}" = cold ] && drop_caches "$M" "$PUB" /usr/local/cuda-13.0 /usr/lib/x86_64-linux-gnu
  free -g | sed -n 2p
  t0=$(date +%s%N)
  line=$(PREFETCH_THREADS=${run#*:} "$PUB/OnnxCudaBench" cold "$M" Cuda 2>&1 | tail -1)
  echo "{\"run\":\"${run%:*}\",\"outer_ms\":$(( ($(date +%s%N) - t0) / 1000000 )),\"inner\":$line}" | tee -a "$OUT/cold-start.jsonl"
done

log "4. fidelity"
"$PUB/OnnxCudaBench" fidelity "$M" "$M/reference-export.json" Cuda 2>&1 | tail -1 | tee "$OUT/fidelity.json"

log "5. throughput: ONNX Runtime CUDA, then torch"
"$PUB/OnnxCudaBench" throughput "$M" "$CELLS" "$SECONDS_PER_CELL" Cuda 2>&1 | tee "$OUT/onnx.jsonl"
nvidia-smi --query-gpu=memory.used --format=csv,noheader
python3 bench/gpu/torch_forward.py "$CELLS" "$SECONDS_PER_CELL" 2>&1 | grep -v Warning | tee "$OUT/torch.jsonl"
cat "$OUT"/*.jsonl "$OUT/fidelity.json" > "$OUT/all.jsonl"
log done
