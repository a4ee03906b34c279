#!/usr/bin/env bash
# Tries the packed stack kit here as the device host would see it, before spending device time: in a mount
# namespace (root; util-linux unshare) where /root is empty, /root/carry is a scratch folder, and the system's .NET,
# Erlang, RabbitMQ, PostgreSQL, Redis, curl, wrk, ICU 72, time-zone files and the user postgres are hidden; in a copy
# of the working tree as a device call carries it (tracked and unignored files, plus the .carry/ parts); each step
# under env -i.
#   bash bench/device/pack-kit.sh && bash bench/device/kit-local-test.sh [COMMAND]
# COMMAND (default: bash bench/device/kit-smoke.sh) runs in the copy's root after the parts are received.
# KIT_PARTS ("stack-kit stack-cuda"): which parts travel (stack-kit alone: a CPU-only run).
# Ports: REDIS_PORT AMQP_PORT MGMT_PORT PG_PORT API_PORT (defaults 7031-7035: the shared development host's
# default ports may be taken). Scratch: T (/tmp/kit-test).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
T="${T:-/tmp/kit-test}"
ls -d .carry/stack-kit-* >/dev/null 2>&1 || { echo "no .carry/stack-kit-NN parts: run bench/device/pack-kit.sh" >&2; exit 1; }
rm -rf "$T"; mkdir -p "$T/carry" "$T/root" "$T/repo/.carry"
: > "$T/hidden"; chmod 000 "$T/hidden"  # bound over each hidden file: empty, not executable
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -C "$T/repo" -xf -
for n in ${KIT_PARTS:-stack-kit stack-cuda}; do cp -a .carry/"$n"-[0-9][0-9] "$T/repo/.carry/"; done
echo "working tree copy: $(du -sh --exclude=.carry "$T/repo" | cut -f1); parts: $(ls -d "$T"/repo/.carry/stack-*-[0-9][0-9] | wc -l)"

# /etc without the user postgres (the device may have none: servers.sh then creates it).
cp -a /etc "$T/etc"
sed -i '/^postgres:/d' "$T/etc/passwd" "$T/etc/shadow" "$T/etc/gshadow" 2>/dev/null || true
sed -i '/^postgres:/d; s/\([:,]\)postgres$/\1/; s/,postgres,/,/' "$T/etc/group"

cat > "$T/inside.sh" <<'INSIDE'
set -euo pipefail
mount --bind "$T/root" /root; mkdir -p /root/carry; mount --bind "$T/carry" /root/carry
mount --bind "$T/etc" /etc
id postgres >/dev/null 2>&1 && { echo "user postgres still visible"; exit 1; }
for d in /usr/share/dotnet /usr/lib/erlang /usr/lib/rabbitmq /usr/lib/postgresql /usr/share/postgresql /etc/rabbitmq \
         /etc/postgresql /usr/share/zoneinfo; do
  [ -d "$d" ] && mount -t tmpfs none "$d"
done
for f in /usr/bin/redis-server /usr/bin/redis-cli /usr/bin/curl /usr/bin/wrk /usr/bin/psql \
         /usr/lib/x86_64-linux-gnu/libicu*.so.72* /usr/lib/x86_64-linux-gnu/libluajit*; do
  [ -e "$f" ] && mount --bind "$T/hidden" "$(readlink -f "$f")"
done
cd "$T/repo"
run() { env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb \
          REDIS_PORT="$REDIS_PORT" AMQP_PORT="$AMQP_PORT" MGMT_PORT="$MGMT_PORT" PG_PORT="$PG_PORT" API_PORT="$API_PORT" "$@"; }
for p in .carry/stack-*-[0-9][0-9]; do run bash "$p/recv"; done
for c in dotnet erl epmd rabbitmq-server redis-server redis-cli psql curl wrk; do
  if run bash -c 'p=$(type -P "$1") && [ -x "$p" ]' _ "$c"; then echo "system $c still visible"; exit 1; fi
done
echo "hidden: system dotnet, erl, epmd, rabbitmq-server, redis-server, redis-cli, psql, curl, wrk, ICU 72, tzdata, user postgres"
run bash -c "$CMD"
INSIDE
export T CMD="${1:-bash bench/device/kit-smoke.sh}" REDIS_PORT="${REDIS_PORT:-7031}" AMQP_PORT="${AMQP_PORT:-7032}" \
       MGMT_PORT="${MGMT_PORT:-7033}" PG_PORT="${PG_PORT:-7034}" API_PORT="${API_PORT:-7035}"
unshare -m --propagation private bash "$T/inside.sh"
