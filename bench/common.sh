# Sourced by the benchmarks: the repository root as working directory, a scratch folder ($TMP), bench_servers, which
# installs what is missing, builds Release, and starts RabbitMQ/Redis of the bench's own on its own ports, and
# bench_report, which turns a tool's table into a dated result file. Everything a bench starts goes into `pids`; on exit those are stopped (with $KILL_SIGNAL, TERM by
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

# bench_report NAME TITLE NOTES COMMAND...: runs COMMAND with a table file as its last argument (its progress on stderr
# shows; the table it also prints does not), then writes bench/results/NAME-<date>.md (the title, the machine, NOTES,
# the table) and prints it.
bench_report() {
  local name="$1" title="$2" notes="$3"; shift 3
  local date_utc out table
  date_utc=$(date -u +%Y-%m-%d)
  out="bench/results/$name-$date_utc.md"
  table=$(mktemp)
  "$@" "$table" >/dev/null
  {
    echo "# $title, $date_utc"
    echo
    echo "Machine: $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))."
    echo "$notes"
    echo
    cat "$table"
  } > "$out"
  rm -f "$table"
  cat "$out"
}
