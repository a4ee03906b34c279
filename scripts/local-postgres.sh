#!/usr/bin/env bash
# Runs PostgreSQL from the Debian package as a local process for the AppHost (no container engine): a cluster of its
# own in DATA_DIR (made on first start, trusting loopback connections: a development server), listening on 127.0.0.1:PORT.
# PostgreSQL refuses to run as root: as root it runs as the `postgres` user the package creates.
# Usage: local-postgres.sh DATA_DIR PORT
set -euo pipefail
DATA_DIR="$1"; PORT="$2"
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$PG_BIN/postgres" ] || { echo "PostgreSQL is not installed: bash scripts/install-prerequisites.sh (apt-get install postgresql)" >&2; exit 1; }
as_pg=(); if [ "$(id -u)" -eq 0 ]; then as_pg=(runuser -u postgres --); mkdir -p "$DATA_DIR"; chown postgres "$DATA_DIR"; fi
if [ ! -f "$DATA_DIR/cluster/PG_VERSION" ]; then
  "${as_pg[@]}" "$PG_BIN/initdb" -D "$DATA_DIR/cluster" -U postgres --auth=trust --encoding=UTF8 --no-instructions
fi
exec "${as_pg[@]}" "$PG_BIN/postgres" -D "$DATA_DIR/cluster" -c listen_addresses=127.0.0.1 -p "$PORT" -c unix_socket_directories="$DATA_DIR"
