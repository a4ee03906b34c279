#!/usr/bin/env bash
# One ONNX Runtime operator's cost apart from its work, on this machine (not a test): chains of 1,000 Mul operators on
# one 16-token text's hidden state ([1, 16, 1024]) and on a tiny tensor ([1, 16, 16]), at 1 and 2 threads (THREADS).
# Needs python3 with onnx (Debian's python3-onnx) and a Release build of tools/Embedding.Bench.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p bench/tmp
echo "| graph | shape | threads | 1,000 operators (p50 of 50) | per operator |"
echo "|---|---|---|---|---|"
for shape in 1x16x1024 1x16x16; do
  /usr/bin/python3 bench/cpu/op_overhead.py "bench/tmp/mul1000-$shape.onnx" 1000 "$shape"
  dotnet tools/Embedding.Bench/bin/Release/net10.0/Embedding.Bench.dll opoverhead "bench/tmp/mul1000-$shape.onnx" 1000 "$shape" "${THREADS:-1,2}" 50
done
