#!/usr/bin/env python3
"""FP32 vs INT8 (ONNX Runtime dynamic quantization) for a Qwen3-Embedding-0.6B-shaped model on CPU.

No model hub is reachable where this runs, so the weights are random (same architecture and sizes as
Qwen3-Embedding-0.6B: 28 layers, hidden 1024, vocab 151669). Speed and memory depend on the shapes, not
the values, so those figures carry over; the cosine between INT8 and FP32 vectors is indicative only
(trained weights have outliers that random ones lack; measure on the real export with --model DIR).

Each variant runs in a fresh subprocess so that its peak RSS is its own. Writes a JSON report to argv[1].
Run on a machine with torch, transformers, onnx, onnxruntime: python3 bench/cpu/quantization_bench.py out.json
"""
import json, os, pickle, platform, subprocess, sys, tempfile, time
import numpy as np

THREADS = int(os.environ.get("BENCH_THREADS", "16"))

def child(model_path, ids_path, result_path):
    import onnxruntime as ort
    so = ort.SessionOptions(); so.intra_op_num_threads = THREADS
    t0 = time.time()
    sess = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    load_s = time.time() - t0
    batches = pickle.load(open(ids_path, "rb"))
    vecs, times, tokens = [], [], 0
    for rep in range(3):
        t0 = time.time()
        for ids in batches:
            h = sess.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]
            if rep == 0:
                for row in h[:, -1]:
                    v = row.astype(np.float64); vecs.append(v / np.linalg.norm(v))
            if rep == 0: tokens += ids.size
        times.append(time.time() - t0)
    # VmHWM is this process's own peak (ru_maxrss would carry the parent's peak across fork + exec).
    rss_mb = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
    np.save(result_path, np.array(vecs))
    print(json.dumps({"load_s": load_s, "tokens": tokens, "best_s": min(times), "tokens_per_s": tokens / min(times),
                      "peak_rss_mb": rss_mb}))

if len(sys.argv) > 1 and sys.argv[1] == "--child":
    child(*sys.argv[2:5]); sys.exit(0)

import torch, onnx
from transformers import Qwen3Config, Qwen3Model
from onnxruntime.quantization import QuantType, quantize_dynamic

out_json = sys.argv[1]
work = tempfile.mkdtemp(prefix="qbench-")
torch.manual_seed(20261125)
cfg = Qwen3Config(vocab_size=151669, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                  num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=32768,
                  rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True)
model = Qwen3Model(cfg).eval()
params = sum(p.numel() for p in model.parameters())

class LastHidden(torch.nn.Module):
    def __init__(self, m): super().__init__(); self.m = m
    def forward(self, input_ids, attention_mask):
        return self.m(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state

fp32_dir = os.path.join(work, "fp32"); os.makedirs(fp32_dir)
fp32 = os.path.join(fp32_dir, "model.onnx")
ids = torch.randint(0, cfg.vocab_size, (2, 16))
t0 = time.time()
torch.onnx.export(LastHidden(model), (ids, torch.ones_like(ids)), fp32, dynamo=False, opset_version=17,
                  input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                  dynamic_axes={"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}, "last_hidden_state": {0: "b", 1: "s"}})
export_s = time.time() - t0
int8_dir = os.path.join(work, "int8"); os.makedirs(int8_dir)
int8 = os.path.join(int8_dir, "model.onnx")
t0 = time.time()
quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"],
                 use_external_data_format=True)
quant_s = time.time() - t0
def size(d): return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))

# Fixed inputs: 8 batches of 16 texts x 128 tokens, plus 16 short ones (random ids, fixed seed).
rng = np.random.default_rng(7)
batches = [rng.integers(0, cfg.vocab_size, (16, 128), dtype=np.int64) for _ in range(8)] + \
          [rng.integers(0, cfg.vocab_size, (16, 16), dtype=np.int64)]
ids_path = os.path.join(work, "ids.pkl")
pickle.dump(batches, open(ids_path, "wb"))
report = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.node()} {platform.processor()} ({os.cpu_count()} cores), {THREADS} ORT threads",
          "model": "Qwen3-Embedding-0.6B architecture, random weights", "parameters": params,
          "export_s": export_s, "quantize_s": quant_s, "variants": {}}
vectors = {}
for name, path in [("fp32", fp32), ("int8", int8)]:
    res = os.path.join(work, name + "-vecs.npy")
    r = subprocess.run([sys.executable, __file__, "--child", path, ids_path, res], capture_output=True, text=True)
    if r.returncode != 0: print(r.stderr[-3000:]); sys.exit(1)
    stats = json.loads(r.stdout.strip().splitlines()[-1])
    stats["file_mb"] = size(os.path.dirname(path)) / 1e6
    report["variants"][name] = stats
    vectors[name] = np.load(res)
    print(name, stats, flush=True)
cos = np.sum(vectors["fp32"] * vectors["int8"], axis=1)
report["cosine_int8_vs_fp32"] = {"texts": int(cos.size), "mean": float(cos.mean()), "min": float(cos.min()), "p5": float(np.percentile(cos, 5))}
f, i = report["variants"]["fp32"], report["variants"]["int8"]
report["ratios"] = {"speed_int8_over_fp32": i["tokens_per_s"] / f["tokens_per_s"], "rss_int8_over_fp32": i["peak_rss_mb"] / f["peak_rss_mb"],
                    "file_int8_over_fp32": i["file_mb"] / f["file_mb"]}
import onnxruntime; report["versions"] = {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__}
json.dump(report, open(out_json, "w"), indent=1)
print(json.dumps(report, indent=1))
