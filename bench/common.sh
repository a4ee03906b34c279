# Sourced by the benchmarks: the repository root as working directory, a scratch folder ($TMP), and
# bench_servers, which installs what is missing, builds Release, and starts RabbitMQ/Redis of the bench's own on
# its own ports. Everything a bench starts goes into `pids`; on exit those are stopped (with $KILL_SIGNAL, TERM by
# default) and then the servers.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TMP="$ROOT/bench/tmp"
mkdir -p "$TMP" bench/results
pids=()

need_wrk() {
  command -v wrk >/dev/null || { local sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd=sudo; $sudo_cmd apt-get install -y -qq wrk >/dev/null; }
}

# bench_servers STATE_NAME REDIS_PORT AMQP_PORT MGMT_PORT
bench_servers() {
  bash scripts/install-prerequisites.sh
  dotnet build Embedding.sln -c Release -v q -nologo >/dev/null
  export STATE="$TMP/$1" REDIS_PORT="$2" AMQP_PORT="$3" MGMT_PORT="$4"
  eval "$(bash scripts/test-servers.sh)"
  trap bench_cleanup EXIT
}

bench_cleanup() {
  for p in "${pids[@]}"; do kill "-${KILL_SIGNAL:-TERM}" "$p" 2>/dev/null || true; done
  bash scripts/test-servers.sh stop
}
