# Sourced by bench/replicas.sh: which cores each process of the run gets, and how much CPU each used.
# A core list is taskset's syntax ("0-3,8") or "all" (not pinned). Needs CORES, HZ, TMP and the caller's
# api_pids, worker_pids and broker_pids.

# expand LIST: one core number per word ("0-2,5" -> "0 1 2 5"); "all" -> every core.
expand() {
  [ "$1" = all ] && { seq -s' ' 0 $((CORES - 1)); return; }
  local part out=()
  IFS=, read -ra parts <<<"$1"
  for part in "${parts[@]}"; do
    if [[ $part == *-* ]]; then out+=($(seq "${part%-*}" "${part#*-}")); else out+=("$part"); fi
  done
  echo "${out[@]}"
}

# range FIRST COUNT: "FIRST-LAST" (or one core).
range() { [ "$2" -le 1 ] && echo "$1" || echo "$1-$(($1 + $2 - 1))"; }

# split_rest_cores WIDEST: BROKER_CORES, WORKER_CORES and LOAD_CORES (unless set) from the cores after two APIs of
# WIDEST cores, 3:2:1 (the broker carries each request and its answer; wrk does least); "all" when no cores-N
# layout runs or too few cores are left (REST_SHARED=1 then).
split_rest_cores() {
  local first=$((2 * $1)) rest b w
  rest=$((CORES - first))
  REST_SHARED=0
  if [ "$1" -eq 0 ] || [ "$rest" -lt 3 ]; then
    [ "$1" -gt 0 ] && [ -z "${BROKER_CORES:-}${WORKER_CORES:-}${LOAD_CORES:-}" ] && REST_SHARED=1
    BROKER_CORES="${BROKER_CORES:-all}" WORKER_CORES="${WORKER_CORES:-all}" LOAD_CORES="${LOAD_CORES:-all}"
    return
  fi
  b=$((rest / 2))
  w=$((rest / 3))
  BROKER_CORES="${BROKER_CORES:-$(range "$first" "$b")}"
  WORKER_CORES="${WORKER_CORES:-$(range $((first + b)) "$w")}"
  LOAD_CORES="${LOAD_CORES:-$(range $((first + b + w)) $((rest - b - w)))}"
}

# api_cores LAYOUT I: the cores of API process I under LAYOUT.
api_cores() {
  case "$1" in
    pinned) echo $(($2 % CORES)) ;;
    shared) echo all ;;
    cores-*)
      local n=${1#cores-}
      [ $((2 * n)) -le "$CORES" ] || { echo "layout $1 needs $((2 * n)) cores for the APIs; this machine has $CORES" >&2; exit 1; }
      range $(($2 * n)) "$n" ;;
    *) echo "unknown layout '$1' (pinned, shared, cores-N)" >&2; exit 1 ;;
  esac
}

# nth_share LIST I N: the I-th of N equal parts of LIST (for N workers on the worker cores; "all" stays "all").
nth_share() {
  [ "$1" = all ] && { echo all; return; }
  local cores=($(expand "$1")) size
  size=$(( ${#cores[@]} / $3 )); [ "$size" -lt 1 ] && { echo "$1"; return; }
  local part=("${cores[@]:$(($2 * size)):$size}")
  (IFS=,; echo "${part[*]}")
}

# pin LIST CMD...: runs CMD on LIST's cores.  pin_prefix LIST: the words to put before a command for that.
pin() { local cores="$1"; shift; if [ "$cores" = all ]; then "$@"; else taskset -c "$cores" "$@"; fi; }
pin_prefix() { [ "$1" = all ] || echo "taskset -c $1"; }

# port_of CONNECTION: the port in an amqp:// URI or a Redis "host:port[,options]".
port_of() { local s="${1%%,*}"; s="${s%/}"; s="${s##*:}"; echo "${s%%/*}"; }

# pids_listening PORT...: the processes with a socket listening on those loopback ports (from /proc, no ss/lsof needed).
pids_listening() {
  local port inodes=()
  for port in "$@"; do
    inodes+=($(awk -v p=":$(printf '%04X' "$port")" '$4 == "0A" && substr($2, length($2) - 4) == p { print $10 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null))
  done
  [ ${#inodes[@]} -eq 0 ] && return
  local pattern
  pattern="socket:\[($(IFS='|'; echo "${inodes[*]}"))\]"
  for fd_dir in /proc/[0-9]*/fd; do
    if ls -l "$fd_dir" 2>/dev/null | grep -qE "$pattern"; then basename "$(dirname "$fd_dir")"; fi
  done | sort -u | tr '\n' ' '
}

# allowed_cores PID...: "name: cores" for each process, from every thread's Cpus_allowed_list (what taskset set).
allowed_cores() {
  local p
  for p in "$@"; do
    printf '%s %s: %s; ' "$(cat "/proc/$p/comm" 2>/dev/null)" "$p" "$(awk '/Cpus_allowed_list/ { print $2 }' /proc/"$p"/task/*/status 2>/dev/null | sort -u | paste -sd' ')"
  done
}

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# cpu_mark WRK_PIDS...: the start of a CPU sample (per process, per core).
cpu_mark() {
  grep '^cpu[0-9]' /proc/stat > "$TMP/replicas-stat0"
  : > "$TMP/replicas-ticks0"
  for p in "${api_pids[@]}" "${worker_pids[@]}" $broker_pids "$@"; do echo "$p $(ticks "$p")" >> "$TMP/replicas-ticks0"; done
  date +%s.%N > "$TMP/replicas-t0"
}

# cpu_report LAYOUT WRK_PIDS...: "name cores" lines since cpu_mark (api0, api1, workers, broker, wrk), and for cores-N
# "busy-<group> percent" for each group's own cores.
cpu_report() {
  local layout="$1"; shift
  local seconds
  seconds=$(awk -v t0="$(cat "$TMP/replicas-t0")" -v t1="$(date +%s.%N)" 'BEGIN { print t1 - t0 }')
  used() {  # used PIDS...: cores' worth over the sample
    local total=0 p before
    for p in "$@"; do
      before=$(awk -v p="$p" '$1 == p { print $2 }' "$TMP/replicas-ticks0")
      total=$((total + $(ticks "$p") - ${before:-0}))
    done
    awk -v t="$total" -v hz="$HZ" -v s="$seconds" 'BEGIN { printf "%.2f", t / hz / s }'
  }
  echo "api0 $(used "${api_pids[0]}")"
  echo "api1 $(used "${api_pids[1]}")"
  echo "workers $(used "${worker_pids[@]}")"
  echo "broker $(used $broker_pids)"
  echo "wrk $(used "$@")"
  if [[ $layout == cores-* ]]; then
    grep '^cpu[0-9]' /proc/stat > "$TMP/replicas-stat1"
    local group cores
    for group in api0 api1 broker workers wrk; do
      case $group in
        api0) cores=$(api_cores "$layout" 0) ;; api1) cores=$(api_cores "$layout" 1) ;;
        broker) cores=$BROKER_CORES ;; workers) cores=$WORKER_CORES ;; wrk) cores=$LOAD_CORES ;;
      esac
      echo "busy-$group $(awk -v want=" $(expand "$cores") " '
        { cpu = substr($1, 4); if (index(want, " " cpu " ") == 0) next
          total = 0; for (i = 2; i <= NF; i++) total += $i; idle = $5 + $6 }
        FNR == NR { t0[cpu] = total; i0[cpu] = idle; next }
        { busy += (total - t0[cpu]) - (idle - i0[cpu]); all += total - t0[cpu] }
        END { printf "%.0f%%", (all > 0 ? 100 * busy / all : 0) }' "$TMP/replicas-stat0" "$TMP/replicas-stat1")"
    done
  fi
}

# cpu_columns FILE: cpu_report's lines as the result table's columns.
cpu_columns() {
  awk '{ v[$1] = $2 }
    END { busy = v["busy-api0"] == "" ? "—" : v["busy-api0"] " · " v["busy-api1"] " · " v["busy-broker"] " · " v["busy-workers"] " · " v["busy-wrk"]
          printf "%s | %s | %s | %s | %s | %s", v["api0"], v["api1"], v["workers"], v["broker"], v["wrk"], busy }' "$1"
}

# layout_notes: the cores each process had, in words, for the result file.
layout_notes() {
  local layout notes=()
  for layout in $LAYOUTS; do
    case $layout in
      pinned) notes+=("*pinned*: API process i on core i (1 replica = core 0; 2 replicas = one core each)") ;;
      shared) notes+=("*shared*: every process on every core") ;;
      cores-*) notes+=("*$layout*: API 0 on cores $(api_cores "$layout" 0), API 1 on cores $(api_cores "$layout" 1)") ;;
    esac
  done
  printf '%s; ' "${notes[@]}"
  echo "RabbitMQ + Redis on cores $BROKER_CORES, the worker(s) on $WORKER_CORES, wrk on $LOAD_CORES$([ "$REST_SHARED" = 1 ] && echo " (too few cores left after the APIs': they share every core)")."
}
