#!/usr/bin/env bash
# Padding benchmark (not a test): the worker's real TokenBudgetBatcher and ONNX backend (tiny model) on a pile of
# single-text requests of mixed length, batched in arrival order vs grouped by length (Worker:MaxPaddingShare).
# Writes bench/results/padding-<date>.md. About ten seconds.
set -euo pipefail
source "$(dirname "$0")/common.sh"
dotnet build tools/Embedding.Bench -c Release -v q -nologo >/dev/null
bench_report padding "Padded CPU batches: arrival order vs grouped by length" "Command: \`bash bench/padding.sh\`." \
  dotnet tools/Embedding.Bench/bin/Release/net10.0/Embedding.Bench.dll padding models/qwen3-tiny
