#!/usr/bin/env bash
# Starts Redis, RabbitMQ and PostgreSQL for the tests as our own processes, bound to 127.0.0.1, with their
# data in $STATE (default .ci/state). Prints the environment the tests read. `test-servers.sh stop` stops
# exactly the processes it started (by the PIDs it recorded). PostgreSQL refuses to run as root: as root it
# runs as the `postgres` user the Debian package creates.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="${STATE:-$ROOT/.ci/state}"
REDIS_PORT="${REDIS_PORT:-6379}"
AMQP_PORT="${AMQP_PORT:-5672}"
MGMT_PORT="${MGMT_PORT:-15672}"
PG_PORT="${PG_PORT:-5432}"
mkdir -p "$STATE"

stop() {
  for name in redis rabbitmq postgres; do
    if [ -f "$STATE/$name.pid" ]; then
      pid=$(cat "$STATE/$name.pid")
      # PostgreSQL's fast shutdown is SIGINT (SIGTERM waits for every client to leave).
      if [ "$name" = postgres ]; then kill -INT "$pid" 2>/dev/null || true; else kill "$pid" 2>/dev/null || true; fi
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      rm -f "$STATE/$name.pid"
    fi
  done
  # RabbitMQ's Erlang port mapper daemon outlives the node; stop the one we started.
  if [ -f "$STATE/epmd.pid" ]; then kill "$(cat "$STATE/epmd.pid")" 2>/dev/null || true; rm -f "$STATE/epmd.pid"; fi
}

if [ "${1:-start}" = "stop" ]; then stop; exit 0; fi

# Redis: no persistence, loopback only.
if ! (exec 3<>/dev/tcp/127.0.0.1/"$REDIS_PORT") 2>/dev/null; then
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --daemonize no \
    --logfile "$STATE/redis.log" >/dev/null 2>&1 &
  echo $! > "$STATE/redis.pid"
fi

# RabbitMQ: run the server script directly (as whoever we are), with its own node name, data and logs, and without
# Erlang's idle scheduler spinning, which takes the cores of the processes under test on a small machine.
if ! (exec 3<>/dev/tcp/127.0.0.1/"$AMQP_PORT") 2>/dev/null; then
  mkdir -p "$STATE/rabbitmq/mnesia" "$STATE/rabbitmq/log"
  if [ ! -f "$STATE/epmd.pid" ] && ! pgrep -x epmd >/dev/null; then
    epmd -address 127.0.0.1 -daemon
    sleep 0.3; pgrep -n -x epmd > "$STATE/epmd.pid" || true
  fi
  echo "[rabbitmq_management]." > "$STATE/rabbitmq/enabled_plugins"
  cat > "$STATE/rabbitmq/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$AMQP_PORT
management.tcp.ip = 127.0.0.1
management.tcp.port = $MGMT_PORT
loopback_users = none
CONF
  env RABBITMQ_NODENAME="embedding-test-$AMQP_PORT@localhost" ERL_CRASH_DUMP="$STATE/rabbitmq/erl_crash.dump" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
      RABBITMQ_DIST_PORT=$((AMQP_PORT + 20000)) ERL_EPMD_ADDRESS=127.0.0.1 \
      RABBITMQ_MNESIA_BASE="$STATE/rabbitmq/mnesia" RABBITMQ_LOG_BASE="$STATE/rabbitmq/log" \
      RABBITMQ_ENABLED_PLUGINS_FILE="$STATE/rabbitmq/enabled_plugins" \
      RABBITMQ_CONFIG_FILE="$STATE/rabbitmq/rabbitmq" \
      HOME="$STATE/rabbitmq" \
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="${RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS-+sbwt none +sbwtdcpu none +sbwtdio none}" \
      /usr/lib/rabbitmq/bin/rabbitmq-server >"$STATE/rabbitmq/stdout.log" 2>&1 &
  echo $! > "$STATE/rabbitmq.pid"
fi

# PostgreSQL: a cluster of our own in $STATE/postgres, loopback only, trusting local connections (test data only).
if ! (exec 3<>/dev/tcp/127.0.0.1/"$PG_PORT") 2>/dev/null; then
  PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  [ -x "$PG_BIN/postgres" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
  PG_DATA="$STATE/postgres/data"
  as_pg=(); [ "$(id -u)" -eq 0 ] && as_pg=(runuser -u postgres --)
  mkdir -p "$STATE/postgres"
  [ "$(id -u)" -eq 0 ] && chown postgres "$STATE/postgres"
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    "${as_pg[@]}" "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --no-instructions >"$STATE/postgres/initdb.log" 2>&1
  fi
  "${as_pg[@]}" "$PG_BIN/postgres" -D "$PG_DATA" -c listen_addresses=127.0.0.1 -p "$PG_PORT" -c unix_socket_directories="$STATE/postgres" \
    -c max_connections=300 >"$STATE/postgres/postgres.log" 2>&1 &
  # The PID to stop is the postmaster's (runuser stays its parent); it writes it to postmaster.pid once it runs.
  for _ in $(seq 1 100); do [ -f "$PG_DATA/postmaster.pid" ] && break; sleep 0.1; done
  head -1 "$PG_DATA/postmaster.pid" > "$STATE/postgres.pid" 2>/dev/null || true
fi

# Wait until all accept connections (RabbitMQ takes a few seconds).
for _ in $(seq 1 120); do
  if (exec 3<>/dev/tcp/127.0.0.1/"$REDIS_PORT") 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/"$AMQP_PORT") 2>/dev/null \
     && (exec 3<>/dev/tcp/127.0.0.1/"$PG_PORT") 2>/dev/null; then
    echo "export EMBEDDING_TEST_REDIS=127.0.0.1:$REDIS_PORT"
    echo "export EMBEDDING_TEST_RABBITMQ=amqp://guest:guest@127.0.0.1:$AMQP_PORT/"
    echo "export EMBEDDING_TEST_RABBITMQ_MANAGEMENT=http://guest:guest@127.0.0.1:$MGMT_PORT/"
    echo "export EMBEDDING_TEST_POSTGRES='Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=postgres'"
    exit 0
  fi
  sleep 0.5
done
echo "Servers did not start; logs are in $STATE" >&2
tail -20 "$STATE/rabbitmq/stdout.log" >&2 || true
tail -20 "$STATE/postgres/postgres.log" >&2 || true
exit 1
