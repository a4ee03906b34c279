#!/usr/bin/env bash
# The stack's added latency at one client against MassTransit's own floor, in one run (not a test): bench/roundtrip.sh
# (MassTransit request/response to a server that holds each message 2 ms) and then BACKEND=fake bench/load.sh at one
# client (stack and direct endpoint, the FAKE backend's same 2 ms), ROUNDS times alternated. Goal (issue 26): stack p50 -
# direct p50 <= MassTransit's round trip (minus its 2 ms hold) + 1.5 ms. Writes bench/results/latency-floor-<date>.md.
# TRACES=otlp: the API and worker export their traces (OTLP/HTTP) to bench/otlp_sink.py, as a deployment with a
# collector does; writes latency-floor-<date>-otlp.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-2}"; DURATION="${DURATION:-10}"; TRACES="${TRACES:-off}"; day=$(date -u +%F); mkdir -p bench/tmp
out="bench/results/latency-floor-$day.md"; rows=(); traces_note="no collector configured, so no spans"
if [ "$TRACES" = otlp ]; then
  out="bench/results/latency-floor-$day-otlp.md"; traces_note="traces exported over OTLP/HTTP to bench/otlp_sink.py"
  /usr/bin/python3 bench/otlp_sink.py 4319 > bench/tmp/otlp-sink.log & sink=$!
  trap 'kill $sink' EXIT
  export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4319 OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
fi
for round in $(seq 1 "$ROUNDS"); do
  bash bench/roundtrip.sh >/dev/null
  mt=$(awk -F'|' '/MassTransit request\/response/ { gsub(/[ ms]/, "", $4); print $4 }' "bench/results/roundtrip-$day.md")
  cp "bench/results/roundtrip-$day.md" "bench/tmp/latency-floor-roundtrip-$round.md"
  BACKEND=fake LEVELS=1 DURATION="$DURATION" bash bench/load.sh >/dev/null
  stack=$(awk -F, '$1 == "stack" && $2 == 1 { print $8 }' "bench/results/load-$day-fake.csv")
  direct=$(awk -F, '$1 == "direct" && $2 == 1 { print $8 }' "bench/results/load-$day-fake.csv")
  rows+=("$(awk -v r="$round" -v mt="$mt" -v s="$stack" -v d="$direct" 'BEGIN {
    added = s - d; goal = mt + 1.5
    printf "| %d | %.2f ms | %.2f ms | %.2f ms | **%.2f ms** | %.2f ms | %s |", r, mt, s, d, added, goal, (added <= goal ? "met" : "not met") }')")
done
{
  echo "# The stack's added latency at one client against MassTransit's floor, $day"
  echo
  echo "Machine: $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), shared by the load tool, broker, API and worker; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "Telemetry: $traces_note."
  echo "Command: \`ROUNDS=$ROUNDS DURATION=$DURATION TRACES=$TRACES bash bench/latency-floor.sh\`: per round \`bash bench/roundtrip.sh\` (median of its 3 runs) then"
  echo "\`BACKEND=fake LEVELS=1 DURATION=$DURATION bash bench/load.sh\`, back to back. Goal: added p50 <= MassTransit round trip + 1.5 ms."
  echo
  echo "| round | MassTransit round trip (p50, minus the 2 ms hold) | stack p50 | direct p50 | stack added | goal | |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} > "$out"
cat "$out"
