#!/usr/bin/env bash
# The device host's facts, then bench/gpu/cpu_gpu_fidelity.py (Qwen3-Embedding-0.6B shape unless told otherwise);
# everything it writes, the log included, goes to OUT.
#   bash bench/gpu/cpu_gpu_fidelity.sh OUT [cpu_gpu_fidelity.py options]
set -uo pipefail
OUT=$1; shift
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; echo "cpus $(nproc)"
  grep -m1 'model name' /proc/cpuinfo; grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx|amx)|vnni' | tr '\n' ' '; echo; } > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"
python3 bench/gpu/cpu_gpu_fidelity.py --out "$OUT" "$@" 2>&1 | tee "$OUT/log.txt"
