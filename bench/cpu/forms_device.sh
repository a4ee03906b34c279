#!/usr/bin/env bash
# The INT8 forms of the 0.6B-shaped model side by side, through the worker's backend (Embedding.Bench cpuform), on a
# machine without .NET (the device host) or here. Forms: fp32; the 8-bit MatMulNBits file at accuracy level 4; the same
# file rewritten at load into the dynamic int8 form (Worker:Onnx:Int8Form DynamicInt8) with 8-bit (Full) and 7-bit
# (Reduced) weights. Each at THREADS (default "16 2"), for each run in RUNS (default "1 2"; one call can take RUNS=1, the
# next RUNS=2 into the same OUT), forms interleaved so all see the same machine; FORMS names a subset (default all four).
#   build [MODEL]          python3 + torch + onnx: tools/bench-model/make_qwen3_0_6b.py (~/.cache/embedding-bench/...)
#   run PUB OUT [MODEL]    PUB: a self-contained publish of tools/Embedding.Bench (with tokenizer.json beside it);
#                          writes OUT/run<run>-t<threads>-<form>.json, OUT/cpu.txt, OUT/summary.md (ratios to fp32)
set -euo pipefail
cd "$(dirname "$0")/../.."
model_default=$HOME/.cache/embedding-bench/qwen3-0.6b-random
case "${1:-}" in
  build) python3 tools/bench-model/make_qwen3_0_6b.py "${2:-$model_default}" ;;
  run)
    pub=$(cd "$2" && pwd); out=$3; model=${4:-$model_default}; mkdir -p "$out"
    [ -f "$model/build.json" ] || { echo "no model in $model: run '$0 build' first" >&2; exit 1; }
    for d in fp32 int8; do [ -f "$model/$d/tokenizer.json" ] || cp "$pub/tokenizer.json" "$model/$d/"; done
    { lscpu | grep -E "Model name|^CPU\(s\)|^Flags" | sed -E 's/^(Flags:).*/\1 '"$(grep -o -w -E 'avx2|avx512f|avx512_vnni|avx_vnni|amx_int8' /proc/cpuinfo | sort -u | tr '\n' ' ')"'/'; uptime; } >> "$out/cpu.txt"
    calls=${CALLS:-20}; passes=${PASSES:-2}
    for run in ${RUNS:-1 2}; do
      for threads in ${THREADS:-16 2}; do
        for form in ${FORMS:-fp32 nbits-acc4 dynamic-full dynamic-reduced}; do
          case $form in
            fp32)            dir=fp32; args=(4 MatMulNBits) ;;
            nbits-acc4)      dir=int8; args=(4 MatMulNBits) ;;
            dynamic-full)    dir=int8; args=(4 DynamicInt8 Full) ;;
            dynamic-reduced) dir=int8; args=(4 DynamicInt8 Reduced) ;;
          esac
          "$pub/Embedding.Bench" cpuform "$model/$dir" model.onnx "${args[0]}" "$threads" "$model/reference.json" "$calls" "$passes" \
            "$out/run$run-t$threads-$form.json" "${args[@]:1}"
        done
      done
    done
    uptime >> "$out/cpu.txt"
    python3 bench/cpu/forms_summary.py "$out" | tee "$out/summary.md" ;;
  *) sed -n 2,9p "$0"; exit 2 ;;
esac
