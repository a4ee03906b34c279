"""Renders bench/gpu/onnx_cuda.sh's output folder as the markdown tables of bench/results/cuda-onnx-<date>.md.

    python3 bench/gpu/report.py OUT_DIR
"""
import json, os, sys

d = sys.argv[1]
rows = []
for name in ("onnx.jsonl", "torch.jsonl", "run.log"):
    p = os.path.join(d, name)
    if os.path.exists(p):
        for line in open(p):
            line = line.strip()
            if line.startswith("{") and '"batch"' in line:
                rows.append(json.loads(line))
onnx = {(r["batch"], r["tokens"]): r for r in rows if r.get("device") == "Cuda"}
torch = {(r["batch"], r["tokens"]): r for r in rows if r.get("side") == "torch"}
print("| batch x tokens | torch bf16 ms | torch tok/s | ORT CUDA ms | ORT tok/s | ORT / torch |")
print("|---|---|---|---|---|---|")
for k in onnx:
    if k in torch:
        o, t = onnx[k], torch[k]
        print(f"| {k[0]} x {k[1]} | {t['mean_ms']:.1f} | {t['tokens_per_s'] / 1e3:.1f}k | {o['mean_ms']:.1f} | {o['tokens_per_s'] / 1e3:.1f}k | "
              f"{o['tokens_per_s'] / t['tokens_per_s']:.2f}x |")
for name in ("cold-start.jsonl", "fidelity.json", "fp16-overflow.jsonl"):
    p = os.path.join(d, name)
    if os.path.exists(p):
        print(f"\n{name}:")
        for line in open(p):
            print("    " + line.strip())
