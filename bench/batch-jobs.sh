#!/usr/bin/env bash
# Batch-job benchmark (not a test): a corpus embedded as one OpenAI batch job through the whole stack (API, RabbitMQ,
# one worker with the tiny ONNX test model), next to interactive traffic. Measures, on loopback only:
#   1. interactive requests alone (open loop, $RATE requests/s of one input, $DURATION s)
#   2. the same interactive load while the job runs: job lines wait on the queue at the lower priority, so interactive
#      requests overtake them there (they still share the worker's batches and this machine's cores)
#   3. the job: texts and tokens per second from creation to completion
#   4. the same kind of texts sent through /v1/embeddings by a closed-loop client (8 at a time, $INPUTS inputs each)
# Writes bench/results/batch-jobs-<date>.md. Servers run on their own ports and are stopped at the end. A few minutes.
set -euo pipefail
source "$(dirname "$0")/common.sh"
LINES="${LINES:-3000}"; INPUTS="${INPUTS:-8}"; RATE="${RATE:-20}"; DURATION="${DURATION:-20}"
MODEL=batch-tiny; API=http://127.0.0.1:5195
bench_servers batch-state 6495 5795 15795
rm -rf "$TMP/batch-store"

env ConnectionStrings__messaging="$EMBEDDING_TEST_RABBITMQ" Worker__Model=$MODEL Worker__Backend=Onnx \
    Worker__Onnx__ModelPath="$ROOT/models/qwen3-tiny" ASPNETCORE_URLS=http://127.0.0.1:0 Logging__LogLevel__Default=Warning \
    dotnet src/Embedding.Worker/bin/Release/net10.0/Embedding.Worker.dll >"$TMP/batch-worker.log" 2>&1 &
pids+=($!)
env ConnectionStrings__messaging="$EMBEDDING_TEST_RABBITMQ" ConnectionStrings__cache="$EMBEDDING_TEST_REDIS" \
    Api__Models__0__Name=$MODEL Api__Models__0__Dimensions=128 Api__Batches__StoragePath="$TMP/batch-store" \
    ASPNETCORE_URLS=$API Logging__LogLevel__Default=Warning \
    dotnet src/Embedding.Api/bin/Release/net10.0/Embedding.Api.dll >"$TMP/batch-api.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do curl -sf "$API/health" >/dev/null && break; sleep 0.5; done
for _ in $(seq 1 60); do curl -sf "$API/v1/embeddings" -H 'content-type: application/json' -d "{\"model\":\"$MODEL\",\"input\":\"warm\"}" -o /dev/null && break; sleep 0.5; done

python3 - "$TMP/corpus.jsonl" "$LINES" "$INPUTS" "$MODEL" <<'PY'
import json, random, sys
out, lines, inputs, model = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
r = random.Random(7)
words = ("embedding queue worker vector cache model token batch search index document passage corpus cluster replica "
         "engine latency budget priority cold start scale zero night peak request answer").split()
with open(out, "w") as f:
    for i in range(lines):
        texts = [f"{i}.{j} " + " ".join(r.choice(words) for _ in range(r.randint(16, 64))) for j in range(inputs)]
        f.write(json.dumps({"custom_id": f"doc-{i}", "method": "POST", "url": "/v1/embeddings", "body": {"model": model, "input": texts}}) + "\n")
PY

load() {  # load NAME ARGS...: the load tool, its markdown table row for the stack
  local name=$1; shift
  dotnet tools/Embedding.Load/bin/Release/net10.0/Embedding.Load.dll --url "$API/v1/embeddings" --name stack --model $MODEL \
    --words 16-64 --out "$TMP" --file "batch-$name" "$@" >"$TMP/batch-$name.log" 2>&1
  grep '^| stack' "$TMP/batch-$name.md" | head -1
}
alone=$(load alone --rates "$RATE" --duration "$DURATION")

file=$(curl -sf "$API/v1/files" -F purpose=batch -F "file=@$TMP/corpus.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
start=$(date +%s.%N)
batch=$(curl -sf "$API/v1/batches" -H 'content-type: application/json' \
  -d "{\"input_file_id\":\"$file\",\"endpoint\":\"/v1/embeddings\",\"completion_window\":\"24h\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
during=$(load during --rates "$RATE" --duration "$DURATION")
progress_after_load=$(curl -sf "$API/v1/batches/$batch" | python3 -c 'import json,sys; b=json.load(sys.stdin); c=b["request_counts"]; print(c["completed"]+c["failed"])')
status=""
for _ in $(seq 1 1200); do
  status=$(curl -sf "$API/v1/batches/$batch" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  [ "$status" = completed ] || [ "$status" = failed ] && break
  sleep 0.5
done
end=$(date +%s.%N)
[ "$status" = completed ] || { echo "job ended $status"; exit 1; }
output=$(curl -sf "$API/v1/batches/$batch" | python3 -c 'import json,sys; print(json.load(sys.stdin)["output_file_id"])')
read -r ok texts tokens < <(curl -sf "$API/v1/files/$output/content" | python3 -c '
import json, sys
ok = texts = tokens = 0
for line in sys.stdin:
    r = json.loads(line)["response"]
    ok += r["status_code"] == 200; texts += len(r["body"]["data"]); tokens += r["body"]["usage"]["prompt_tokens"]
print(ok, texts, tokens)')
closed=$(load closed --concurrency 8 --inputs "$INPUTS" --duration "$DURATION")

seconds=$(python3 -c "print(f'{$end - $start:.1f}')")
texts_per_s=$(python3 -c "print(f'{$texts / ($end - $start):.0f}')")
tokens_per_s=$(python3 -c "print(f'{$tokens / ($end - $start):.0f}')")
closed_texts_per_s=$(awk -F'|' -v n="$INPUTS" '{ printf "%.0f", $4 * n }' <<<"$closed")
ratio=$(python3 -c "print(f'{$texts_per_s / $closed_texts_per_s:.2f}')")
out="bench/results/batch-jobs-$(date -u +%F).md"
{
  echo "# Batch jobs next to interactive traffic, $(date -u +%F)"
  echo
  echo "Machine: $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)); API, one worker, RabbitMQ, Redis and the load tool share them."
  echo "Command: \`bash bench/batch-jobs.sh\` (LINES=$LINES, INPUTS=$INPUTS, RATE=$RATE, DURATION=$DURATION). Model: the tiny ONNX TEST model (models/qwen3-tiny)."
  echo
  echo "Job: $LINES lines x $INPUTS inputs of 16-64 words = $texts texts, $tokens tokens; $ok lines answered 200; created to completed in **$seconds s**:"
  echo "**$texts_per_s texts/s, $tokens_per_s tokens/s**. The same kind of texts through \`/v1/embeddings\` by a closed-loop client (8 at a time,"
  echo "$INPUTS inputs per request): **$closed_texts_per_s texts/s**; job / interactive path = **$ratio**."
  echo
  echo "Interactive requests (open loop, $RATE requests/s of one 16-64-word input, $DURATION s), alone and while the job ran"
  echo "(the job had answered $progress_after_load of $LINES lines when this load ended):"
  echo
  echo "| when | target | rate | QPS | avg | p50 | p95 | p99 | errors |"
  echo "|---|---|---|---|---|---|---|---|---|"
  echo "| alone ${alone}"
  echo "| during the job ${during}"
  echo
  echo "Closed-loop client, for the throughput comparison:"
  echo
  echo "| target | concurrency | QPS (requests of $INPUTS texts) | avg | p50 | p95 | p99 | errors |"
  echo "|---|---|---|---|---|---|---|---|"
  echo "${closed}"
} > "$out"
cat "$out"
