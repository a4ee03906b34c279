#!/usr/bin/env bash
# One scale unit = SGLang engine + embedding worker in one container, so scaling the worker to zero frees the GPU.
# Start: the engine, then the worker (which takes no message until the engine's /health answers).
# Stop (SIGTERM on scale-in): the worker first — it stops taking messages, answers what it holds, exits —
# then the engine. If either dies on its own, the other is stopped and the container exits with that status.
set -uo pipefail

ENGINE_CMD=${ENGINE_CMD:-"python3 -m sglang.launch_server --model-path ${ENGINE_MODEL:?} --is-embedding --host 127.0.0.1 --port ${ENGINE_PORT:-30000} --dtype ${ENGINE_DTYPE:-bfloat16} --mem-fraction-static ${ENGINE_MEM_FRACTION:-0.80} --max-running-requests ${ENGINE_MAX_RUNNING_REQUESTS:-128} ${ENGINE_EXTRA_ARGS:-}"}
WORKER_CMD=${WORKER_CMD:-"dotnet /app/Embedding.Worker.dll"}
export Worker__Backend=${Worker__Backend:-OpenAI}
export Worker__OpenAI__BaseUrl=${Worker__OpenAI__BaseUrl:-http://127.0.0.1:${ENGINE_PORT:-30000}}
export Worker__OpenAI__Model=${Worker__OpenAI__Model:-${ENGINE_MODEL:-}}

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
