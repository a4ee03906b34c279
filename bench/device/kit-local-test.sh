#!/usr/bin/env bash
# Tries the packed stack kit here as the device host would see it, before spending device time: in a mount namespace
# (root; util-linux unshare) where /root is empty, /root/carry is a scratch folder, and the system's .NET, Erlang,
# RabbitMQ, PostgreSQL, Redis, curl, wrk, ICU 72 and time-zone files are hidden; a copy of the working tree as a
# device call carries it (tracked and unignored files, plus the .carry/stack-kit-NN parts); every step under env -i.
#   bash bench/device/pack-kit.sh && bash bench/device/kit-local-test.sh [COMMAND]
# COMMAND (default: bash bench/device/kit-smoke.sh) runs in the copy's root after the parts are received.
# Ports: REDIS_PORT AMQP_PORT MGMT_PORT PG_PORT API_PORT (defaults 7031-7035: the shared development host's
# default ports may be taken). Scratch: T (/tmp/kit-test).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
T="${T:-/tmp/kit-test}"
CMD="${1:-bash bench/device/kit-smoke.sh}"
ls -d .carry/stack-kit-* >/dev/null 2>&1 || { echo "no .carry/stack-kit-NN parts: run bench/device/pack-kit.sh" >&2; exit 1; }
rm -rf "$T"; mkdir -p "$T/carry" "$T/root" "$T/repo/.carry"
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -C "$T/repo" -xf -
cp -a .carry/stack-kit-* "$T/repo/.carry/"
echo "working tree copy: $(du -sh --exclude=.carry "$T/repo" | cut -f1); parts: $(ls -d .carry/stack-kit-* | wc -l)"

ports="REDIS_PORT=${REDIS_PORT:-7031} AMQP_PORT=${AMQP_PORT:-7032} MGMT_PORT=${MGMT_PORT:-7033} PG_PORT=${PG_PORT:-7034} API_PORT=${API_PORT:-7035}"
unshare -m --propagation private bash -euo pipefail -c "
  mount --bind '$T/root' /root; mkdir -p /root/carry; mount --bind '$T/carry' /root/carry
  for d in /usr/share/dotnet /usr/lib/erlang /usr/lib/rabbitmq /usr/lib/postgresql /usr/share/postgresql /etc/rabbitmq \
           /usr/share/zoneinfo /etc/postgresql; do [ -d \"\$d\" ] && mount -t tmpfs none \"\$d\"; done
  for f in /usr/bin/redis-server /usr/bin/redis-cli /usr/bin/redis-check-rdb /usr/bin/curl /usr/bin/wrk /usr/bin/psql \
           /usr/lib/x86_64-linux-gnu/libicu*.so.72* /usr/lib/x86_64-linux-gnu/libluajit*; do
    [ -e \"\$f\" ] && [ ! -L \"\$f\" ] && mount --bind /dev/null \"\$f\"
  done
  cd '$T/repo'
  run() { env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb $ports \"\$@\"; }
  for p in .carry/stack-kit-*; do run bash \"\$p/recv\"; done
  for c in dotnet erl epmd rabbitmq-server redis-server redis-cli psql curl wrk; do
    run bash -c \"command -v \$c\" >/dev/null && { echo \"system \$c still visible\"; exit 1; }
  done
  run bash -c '$CMD'
"
