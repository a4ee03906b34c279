#!/usr/bin/env bash
# Padding benchmark (not a test): the worker's real TokenBudgetBatcher and ONNX backend (tiny model) on a pile of
# single-text requests of mixed length, batched in arrival order vs grouped by length (Worker:MaxPaddingShare).
# Writes bench/results/padding-<date>.md. About ten seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build tools/Embedding.Bench -c Release -v q -nologo >/dev/null
date_utc=$(date -u +%Y-%m-%d)
out="bench/results/padding-$date_utc.md"
table=$(mktemp)
dotnet tools/Embedding.Bench/bin/Release/net10.0/Embedding.Bench.dll padding models/qwen3-tiny "$table" >/dev/null
{
  echo "# Padded CPU batches: arrival order vs grouped by length, $date_utc"
  echo
  echo "Machine: $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))."
  echo "Command: \`bash bench/padding.sh\`."
  echo
  cat "$table"
} > "$out"
rm -f "$table"
cat "$out"
