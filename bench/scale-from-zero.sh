#!/usr/bin/env bash
# Scale-from-zero benchmark (not a test): the real AppHost under `dotnet run` (local RabbitMQ/Redis processes,
# the tiny-model CPU worker at zero replicas, the local autoscaler), driven on loopback:
#   1. $ROUNDS times: one request to an idle tier -> time to its answer (worker started from zero), then wait
#      until the autoscaler has stopped the worker again (cooldown $COOLDOWN s);
#   2. a burst of $BURST requests -> replicas reached (queue consumers), time until all answered, and back to zero.
# Writes bench/results/scale-from-zero-<date>.md. Stops the AppHost it started (and so everything it started).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
ROUNDS="${ROUNDS:-5}"; BURST="${BURST:-400}"; COOLDOWN="${COOLDOWN:-5}"
API=http://localhost:5080; MODEL=qwen3-embedding-tiny-test; QUEUE=embed-$MODEL
MGMT="http://127.0.0.1:35673/api/queues/%2F/$QUEUE"
TMP="$ROOT/bench/tmp"; mkdir -p "$TMP" bench/results
bash scripts/install-prerequisites.sh
dotnet build src/Embedding.AppHost -c Release -v q -nologo >/dev/null

dotnet run --project src/Embedding.AppHost -c Release --no-build -- --Embedding:UseContainers=false \
  --Embedding:Scaling:CooldownSeconds=$COOLDOWN --Embedding:Scaling:StartupSeconds=$COOLDOWN >"$TMP/apphost.log" 2>&1 &
apphost=$!
trap 'kill -TERM $apphost 2>/dev/null; wait $apphost 2>/dev/null || true' EXIT

now() { date +%s.%N; }
consumers() { curl -s -u guest:guest "$MGMT" | python3 -c "import json,sys; print(json.load(sys.stdin).get('consumers', 0))" 2>/dev/null || echo 0; }
embed() { curl -s -o /dev/null -w "%{http_code}" -m 120 "$API/v1/embeddings" -H 'content-type: application/json' -d "{\"model\":\"$MODEL\",\"input\":\"$1\"}"; }
# Management statistics lag about a second: first see the worker's consumer, then see it gone.
wait_for_worker() { for _ in $(seq 1 40); do [ "$(consumers)" != "0" ] && return 0; sleep 0.25; done; }
wait_for_zero() { for _ in $(seq 1 600); do [ "$(consumers)" = "0" ] && sleep 1.5 && [ "$(consumers)" = "0" ] && return 0; sleep 0.5; done; echo "worker never stopped" >&2; return 1; }

for _ in $(seq 1 120); do curl -s -o /dev/null "$API/v1/models" && break; sleep 1; done
sleep 3; wait_for_zero

rows=""
for r in $(seq 1 "$ROUNDS"); do
  t0=$(now); code=$(embed "cold start round $r $(date +%s%N)"); t1=$(now)
  s=$(echo "$t1 - $t0" | bc); rows+="| $r | $code | $(printf %.2f "$s") s |"$'\n'; echo "round $r: $code in $s s"
  wait_for_worker; wait_for_zero
done

# Burst: many requests at once (each $TEXTS texts of ~120 tokens, $PARALLEL in flight); the autoscaler adds
# replicas for the queue's depth.
TEXTS="${TEXTS:-32}"; PARALLEL="${PARALLEL:-96}"
LONG=$(printf 'the quick brown fox jumps over the lazy dog %.0s' $(seq 1 12))
( while sleep 0.5; do consumers; done ) >"$TMP/consumers.log" & watcher=$!
t0=$(now)
cat >"$TMP/one.sh" <<ONE
#!/usr/bin/env bash
texts=\$(for t in \$(seq 1 $TEXTS); do printf '"burst %s %s $LONG",' "\$1" "\$t"; done)
curl -s -o /dev/null -w '%{http_code}\\n' -m 120 '$API/v1/embeddings' -H 'content-type: application/json' \\
  -d "{\\"model\\":\\"$MODEL\\",\\"input\\":[\${texts%,}]}"
ONE
seq 1 "$BURST" | xargs -P "$PARALLEL" -n 1 bash "$TMP/one.sh" >"$TMP/burst.codes"
t1=$(now); kill $watcher 2>/dev/null || true
peak=$(sort -n "$TMP/consumers.log" | tail -1)
ok=$(grep -c '^200$' "$TMP/burst.codes" || true)
burst_s=$(printf %.2f "$(echo "$t1 - $t0" | bc)")
t2=$(now); wait_for_zero; t3=$(now)
idle_s=$(printf %.1f "$(echo "$t3 - $t2" | bc)")

median=$(printf "%s" "$rows" | awk -F'|' '{gsub(/ s/,"",$4); print $4+0}' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
worst=$(printf "%s" "$rows" | awk -F'|' '{gsub(/ s/,"",$4); print $4+0}' | sort -n | tail -1)
out="bench/results/scale-from-zero-$(date +%F).md"
cat >"$out" <<MD
# Scale from zero under \`dotnet run\`, $(date +%F)

Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), no container engine: local RabbitMQ/Redis processes.
Command: \`bash bench/scale-from-zero.sh\` (ROUNDS=$ROUNDS, BURST=$BURST, cooldown $COOLDOWN s; polling 2 s as configured).
Worker: the CPU tier (tiny TEST model, ONNX) started by the local autoscaler through Aspire's start command.
Goal: first answer <= 5 s after the first request to an idle tier.

| round | status | first request -> answer (worker from zero) |
|---|---|---|
$rows
Median **${median} s**, worst **${worst} s**: $(awk -v w="$worst" 'BEGIN { printf "%.2f", w / 5 }')x the 5 s goal at worst.

Burst of $BURST requests ($TEXTS texts of ~120 tokens each, $PARALLEL in flight) at an idle tier: $ok answered 200, all within ${burst_s} s; replicas (queue consumers) peaked at $peak
(policy: $(python3 -c "import json; s=json.load(open('src/Embedding.AppHost/appsettings.json'))['Embedding']['Scaling']; print(f\"{s['TargetQueueLength']} messages per replica, max {s['MaxReplicas']}\")"));
back to zero replicas ${idle_s} s after the last answer (cooldown $COOLDOWN s + polling + drain).
MD
echo "wrote $out"; cat "$out"
