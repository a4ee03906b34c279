#!/usr/bin/env bash
# Installs what the system and its tests need on Debian, only where it is missing:
# RabbitMQ, Redis and PostgreSQL servers (used as local processes when no container engine runs), and Node.js + npm
# for the tests that validate published Kubernetes manifests against the real schemas (--tests), plus a headless
# Chromium for the dashboard screenshots (--screenshots).
set -euo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
if [ "${1:-}" = "--tests" ] || [ "${1:-}" = "--screenshots" ]; then
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
fi
if [ "${1:-}" = "--screenshots" ]; then
  command -v chromium-headless-shell >/dev/null 2>&1 || command -v chromium >/dev/null 2>&1 || missing+=(chromium-headless-shell fonts-dejavu-core)
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "Installing ${missing[*]} ..."
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  # The packages try to start system services; we run our own processes, on our own ports.
fi
