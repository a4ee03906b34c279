#!/usr/bin/env bash
# Round-trip benchmark (not a test): the floor of one request through RabbitMQ on this machine, without our API or worker:
# one message at a time to a server process that holds it for the FAKE backend's 2 ms and answers, with the bare
# RabbitMQ.Client and with MassTransit request/response. Writes bench/results/roundtrip-<date>.md. About a minute.
set -euo pipefail
source "$(dirname "$0")/common.sh"
bench_servers roundtrip-state 6494 5794 15794
date_utc=$(date -u +%Y-%m-%d)
out="bench/results/roundtrip-$date_utc.md"
table=$(mktemp)
dotnet tools/Embedding.Bench/bin/Release/net10.0/Embedding.Bench.dll roundtrip "$EMBEDDING_TEST_RABBITMQ" "$table"
{
  echo "# One request through RabbitMQ: the floor, $date_utc"
  echo
  echo "Machine: $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)); client, broker and server share them."
  echo "Command: \`bash bench/roundtrip.sh\` (tools/Embedding.Bench/RoundTripBench.cs)."
  echo
  cat "$table"
} > "$out"
rm -f "$table"
cat "$out"
