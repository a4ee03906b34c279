#!/usr/bin/env bash
# Round-trip benchmark (not a test): the floor of one request through RabbitMQ on this machine, without our API or worker:
# one message at a time to a server process that holds it for the FAKE backend's 2 ms and answers, with the bare
# RabbitMQ.Client and with MassTransit request/response. Writes bench/results/roundtrip-<date>.md. About a minute.
set -euo pipefail
source "$(dirname "$0")/common.sh"
bench_servers roundtrip-state 6494 5794 15794
bench_report roundtrip "One request through RabbitMQ: the floor" \
  "Client, broker and server share the cores. Command: \`bash bench/roundtrip.sh\` (tools/Embedding.Bench/RoundTripBench.cs)." \
  dotnet tools/Embedding.Bench/bin/Release/net10.0/Embedding.Bench.dll roundtrip "$EMBEDDING_TEST_RABBITMQ"
