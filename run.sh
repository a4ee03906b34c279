#!/usr/bin/env bash
# Runs the whole system: the Aspire AppHost starts Redis, RabbitMQ, the API (http://localhost:5080),
# the worker, and the dashboard (http://localhost:15080). Installs RabbitMQ/Redis first if missing.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/install-prerequisites.sh
exec dotnet run --project src/Embedding.AppHost "$@"
