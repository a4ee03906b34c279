#!/usr/bin/env bash
# One scale unit = SGLang engine + embedding worker in one container, so scaling the worker to zero frees the GPU.
# Start: the engine, then the worker (which takes no message until the engine's /health answers).
# Stop (SIGTERM on scale-in): the worker first — it stops taking messages, answers what it holds, exits —
# then the engine. If either dies on its own, the other is stopped and the container exits with that status.
set -uo pipefail

# The engine's flags and the worker's options are the AppHost's tier plan (infra/tier-plan.json: ENGINE_ARGS, Worker__*),
# not defaults of this script: the unit runs what the AppHost's own engine container and the Kubernetes sidecar run.
ENGINE_CMD=${ENGINE_CMD:-"python3 -m sglang.launch_server ${ENGINE_ARGS:?ENGINE_ARGS: the engine arguments of the tier plan (infra/tier-plan.json)}"}
WORKER_CMD=${WORKER_CMD:-"dotnet /app/Embedding.Worker.dll"}

$ENGINE_CMD &
engine=$!
$WORKER_CMD &
worker=$!

stop() {
  echo "entrypoint: stopping the worker (drain), then the engine"
  kill -TERM "$worker" 2>/dev/null; wait "$worker"; status=$?
  kill -TERM "$engine" 2>/dev/null; wait "$engine"
  exit "$status"
}
trap stop TERM INT

# Whichever exits first ends the unit: a worker without its engine (or the reverse) is useless.
wait -n "$engine" "$worker"
status=$?
echo "entrypoint: a process exited ($status); stopping the other"
kill -TERM "$worker" "$engine" 2>/dev/null
wait
exit "$status"
