#!/usr/bin/env bash
# Batching benchmark (not a test): the worker's real TokenBudgetBatcher under open-loop Poisson load against a
# SIMULATED GPU engine that follows the latency model of Qwen3-Embedding-4B on an H100 (bench/results/gpu-batches-2026-11-25.md:
# t = max(8.6 ms, tokens / 48k tokens/s), +15% at 8k tokens; one forward at a time; packed, no padding).
# Writes bench/results/batching-<date>.md. About two minutes.
set -euo pipefail
source "$(dirname "$0")/common.sh"
dotnet build tools/Embedding.Bench -c Release -v q -nologo >/dev/null
export SECONDS_PER_RUN="${SECONDS_PER_RUN:-6}"
bench_report batching "Batching against a simulated GPU" "The load driver shares the cores.
Command: \`bash bench/batching.sh\` ($SECONDS_PER_RUN s of Poisson arrivals per row, seed 42, one text per request).
Engine: SIMULATED (SimulatedGpuBackend): floor 8.6 ms, peak 48,000 tokens/s, packed batches, one forward at a time.
Goals: >= 90% of peak tokens/s at saturation; p50 <= 2x the engine floor at low load." \
  dotnet tools/Embedding.Bench/bin/Release/net10.0/Embedding.Bench.dll batching
