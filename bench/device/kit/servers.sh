#!/usr/bin/env bash
# The stack kit's servers: RabbitMQ (with rabbitmq_management, for queue depth), Redis and PostgreSQL 15, from the
# kit alone (no system packages), bound to 127.0.0.1, data under $STATE.
#   bash $KIT/servers.sh start   # waits until each answers, then prints the environment the services and tests read:
#                                #   export EMBEDDING_TEST_REDIS=... _RABBITMQ=... _RABBITMQ_MANAGEMENT=... _POSTGRES=...
#   bash $KIT/servers.sh stop    # stops exactly the processes start started (by their recorded PIDs)
# Knobs (same for start and stop): STATE (/tmp/stack-kit-servers), REDIS_PORT (6379), AMQP_PORT (5672),
# MGMT_PORT (15672), PG_PORT (5432), SERVERS ("redis rabbitmq postgres": a subset starts only those).
# PostgreSQL refuses to run as root: as root it runs as the user `postgres`, created (no home, no login) if missing,
# from a copy of its files under $STATE (the kit may sit under /root, which other users cannot enter).
set -euo pipefail
KIT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
STATE="${STATE:-/tmp/stack-kit-servers}"
REDIS_PORT="${REDIS_PORT:-6379}"; AMQP_PORT="${AMQP_PORT:-5672}"; MGMT_PORT="${MGMT_PORT:-15672}"; PG_PORT="${PG_PORT:-5432}"
SERVERS="${SERVERS:-redis rabbitmq postgres}"
ERL_ROOT="$KIT/root/usr/lib/erlang"
export LD_LIBRARY_PATH="$KIT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PATH="$ERL_ROOT/bin:$PATH"
mkdir -p "$STATE"; chmod 755 "$STATE"
wants() { [[ " $SERVERS " == *" $1 "* ]]; }
open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stop() {
  for name in redis rabbitmq postgres epmd; do
    [ -f "$STATE/$name.pid" ] || continue
    pid=$(cat "$STATE/$name.pid")
    # rabbitmq-server is a shell that stops its Erlang VM on SIGTERM; the VM is its child.
    kids=$(awk -v p="$pid" '$4 == p { print $1 }' /proc/[0-9]*/stat 2>/dev/null || true)
    # PostgreSQL's fast shutdown is SIGINT (SIGTERM waits for every client to leave).
    if [ "$name" = postgres ]; then kill -INT "$pid" 2>/dev/null || true; else kill "$pid" 2>/dev/null || true; fi
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "servers.sh: $name ($pid) did not stop in 30 s; killing it" >&2
      [ "$name" = rabbitmq ] && for k in $kids; do kill -KILL "$k" 2>/dev/null || true; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/$name.pid"
  done
}
[ "${1:-start}" = stop ] && { stop; exit 0; }
[ "${1:-start}" = start ] || { sed -n 2,11p "$0"; exit 2; }

if wants redis && ! open "$REDIS_PORT"; then
  "$KIT/root/usr/bin/redis-server" --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --daemonize no \
    --dir "$STATE" --logfile "$STATE/redis.log" >/dev/null 2>&1 &
  echo $! > "$STATE/redis.pid"
fi

if wants rabbitmq && ! open "$AMQP_PORT"; then
  R="$STATE/rabbitmq"; mkdir -p "$R/mnesia" "$R/log"
  # Erlang's port mapper: ours (in the foreground of its own background job, so its PID is known), unless one runs.
  if ! open 4369; then
    "$ERL_ROOT/bin/epmd" -address 127.0.0.1 >"$R/epmd.log" 2>&1 &
    echo $! > "$STATE/epmd.pid"
    for _ in $(seq 1 50); do open 4369 && break; sleep 0.1; done
  fi
  echo "[rabbitmq_management]." > "$R/enabled_plugins"
  : > "$R/rabbitmq-env.conf"
  cat > "$R/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$AMQP_PORT
management.tcp.ip = 127.0.0.1
management.tcp.port = $MGMT_PORT
loopback_users = none
CONF
  env RABBITMQ_NODENAME="stack-kit-$AMQP_PORT@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
      RABBITMQ_DIST_PORT=$((AMQP_PORT + 20000)) ERL_EPMD_ADDRESS=127.0.0.1 ERL_CRASH_DUMP="$R/erl_crash.dump" \
      RABBITMQ_CONF_ENV_FILE="$R/rabbitmq-env.conf" RABBITMQ_MNESIA_BASE="$R/mnesia" RABBITMQ_LOG_BASE="$R/log" \
      RABBITMQ_ENABLED_PLUGINS_FILE="$R/enabled_plugins" RABBITMQ_CONFIG_FILE="$R/rabbitmq" \
      RABBITMQ_ADVANCED_CONFIG_FILE="$R/advanced.config" HOME="$R" \
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="${RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS-+sbwt none +sbwtdcpu none +sbwtdio none}" \
      "$KIT/root/usr/lib/rabbitmq/bin/rabbitmq-server" >"$R/stdout.log" 2>&1 &
  echo $! > "$STATE/rabbitmq.pid"
fi

if wants postgres && ! open "$PG_PORT"; then
  P="$STATE/postgres"; mkdir -p "$P"
  PGRT="$P/runtime"  # bin, lib, share as laid out under /usr, so postgres finds share/ relative to its binary
  if [ ! -x "$PGRT/usr/lib/postgresql/15/bin/postgres" ]; then
    mkdir -p "$PGRT/usr/lib/postgresql" "$PGRT/usr/share"
    cp -a "$KIT/root/usr/lib/postgresql/15" "$PGRT/usr/lib/postgresql/"
    cp -a "$KIT/root/usr/share/postgresql" "$PGRT/usr/share/"
    cp -a "$KIT/lib" "$PGRT/lib"
    chmod -R a+rX "$PGRT"
  fi
  PG_BIN="$PGRT/usr/lib/postgresql/15/bin"
  as_pg=()
  if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
      useradd --system --no-create-home --home-dir /nonexistent --shell /bin/false postgres 2>/dev/null ||
        { echo "postgres:x:$(( 60000 + RANDOM % 4000 )):65534:PostgreSQL (stack kit):/nonexistent:/bin/false" >> /etc/passwd; }
    fi
    if command -v runuser >/dev/null; then as_pg=(runuser -u postgres --)
    elif command -v setpriv >/dev/null; then as_pg=(setpriv --reuid="$(id -u postgres)" --regid="$(id -g postgres)" --clear-groups --)
    else as_pg=(su postgres -s /bin/sh -c '"$0" "$@"'); fi
    chown postgres "$P"
  fi
  # GMT needs no time-zone files (the host may have no tzdata).
  pgenv=(env LD_LIBRARY_PATH="$PGRT/lib" TZ=GMT LC_ALL=C)
  if [ ! -f "$P/data/PG_VERSION" ]; then
    "${as_pg[@]}" "${pgenv[@]}" "$PG_BIN/initdb" -D "$P/data" -U postgres --auth=trust --encoding=UTF8 --locale=C \
      --no-instructions >"$P/initdb.log" 2>&1 || { echo "initdb failed:" >&2; tail -20 "$P/initdb.log" >&2; exit 1; }
  fi
  "${as_pg[@]}" "${pgenv[@]}" "$PG_BIN/postgres" -D "$P/data" -c listen_addresses=127.0.0.1 -p "$PG_PORT" \
    -c unix_socket_directories="$P" -c max_connections=300 -c jit=off -c timezone=GMT -c log_timezone=GMT \
    >"$P/postgres.log" 2>&1 &
  # The PID to stop is the postmaster's (runuser stays its parent); it writes it to postmaster.pid once it runs.
  for _ in $(seq 1 100); do [ -s "$P/data/postmaster.pid" ] && break; sleep 0.1; done
  head -1 "$P/data/postmaster.pid" > "$STATE/postgres.pid" 2>/dev/null || true
fi

# Wait until each answers; RabbitMQ takes a few seconds, its management API a little longer.
mgmt_up() { "$KIT/bin/curl" -sf -o /dev/null "http://guest:guest@127.0.0.1:$MGMT_PORT/api/overview"; }
for _ in $(seq 1 240); do
  up=1
  wants redis && ! open "$REDIS_PORT" && up=0
  wants rabbitmq && { open "$AMQP_PORT" && mgmt_up || up=0; }
  wants postgres && ! open "$PG_PORT" && up=0
  if [ $up = 1 ]; then
    wants redis && echo "export EMBEDDING_TEST_REDIS=127.0.0.1:$REDIS_PORT"
    wants rabbitmq && echo "export EMBEDDING_TEST_RABBITMQ=amqp://guest:guest@127.0.0.1:$AMQP_PORT/" &&
      echo "export EMBEDDING_TEST_RABBITMQ_MANAGEMENT=http://guest:guest@127.0.0.1:$MGMT_PORT/"
    wants postgres && echo "export EMBEDDING_TEST_POSTGRES='Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=postgres'"
    exit 0
  fi
  sleep 0.5
done
echo "Servers did not start within 120 s; logs are in $STATE" >&2
for f in "$STATE/redis.log" "$STATE/rabbitmq/stdout.log" "$STATE/postgres/postgres.log"; do
  [ -f "$f" ] && { echo "== $f" >&2; tail -20 "$f" >&2; }
done
exit 1
