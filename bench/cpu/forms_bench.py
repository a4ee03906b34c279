#!/usr/bin/env python3
"""Which form of the 0.6B-shaped model is fastest on this CPU, and how close each stays to torch's fp32 vectors:
the same measurements as tools/Embedding.Bench's `cpuform` mode (CpuFormBench.cs), with onnxruntime's Python API,
for machines without .NET (the device host). Forms, all from tools/bench-model/make_qwen3_0_6b.py's directory:

  fp32           fp32/model.onnx
  int8-acc0      int8/model.onnx: weight-only 8-bit MatMulNBits, accuracy_level 0 (the public model_quantized.onnx's form)
  int8-acc4      the same nodes with accuracy_level 4 (int8 arithmetic; what Worker:Onnx:MatMulNBitsAccuracyLevel sets)
  dynamic-u8s8   onnxruntime.quantization.quantize_dynamic of fp32 (MatMulInteger, per-channel int8 weights, uint8
                 activations quantized at run time; the former INT8 file)

For each form and thread count: min/mean cosine to the reference vectors (one row at a time), one 16-token text
(median of N calls after 2 warm-ups), 32 x 128 tokens (best of P passes after a 2-row warm-up). Forms run in turn, one
session at a time.
  python3 bench/cpu/forms_bench.py MODEL_ROOT OUT.json [--threads 16,2] [--calls 20] [--passes 2] [--forms a,b]
"""
import argparse, json, os, platform, time
import numpy as np
import onnx
import onnxruntime as ort


def acc4(root):
    """int8/model-acc4.onnx: the int8 graph with every MatMulNBits at accuracy_level 4, sharing int8/model.onnx_data."""
    path = os.path.join(root, "int8", "model-acc4.onnx")
    if not os.path.exists(path):
        m = onnx.load(os.path.join(root, "int8", "model.onnx"), load_external_data=False)
        for n in m.graph.node:
            if n.op_type == "MatMulNBits":
                for a in n.attribute:
                    if a.name == "accuracy_level": a.i = 4
        onnx.save(m, path)
    return path


def dynamic(root):
    path = os.path.join(root, "dynamic", "model.onnx")
    if not os.path.exists(path):
        from onnxruntime.quantization import QuantType, quantize_dynamic
        os.makedirs(os.path.dirname(path), exist_ok=True)
        quantize_dynamic(os.path.join(root, "fp32", "model.onnx"), path, weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"], use_external_data_format=True)
    return path


FORMS = {"fp32": lambda r: os.path.join(r, "fp32", "model.onnx"), "int8-acc0": lambda r: os.path.join(r, "int8", "model.onnx"),
         "int8-acc4": acc4, "dynamic-u8s8": dynamic}


def run(sess, rows):
    L = max(len(r) for r in rows)
    ids = np.array([r + [r[-1]] * (L - len(r)) for r in rows], np.int64)
    mask = np.array([[1] * len(r) + [0] * (L - len(r)) for r in rows], np.int64)
    h = sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    v = np.stack([h[i, len(r) - 1] for i, r in enumerate(rows)]).astype(np.float64)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def measure(path, threads, ref, calls, passes):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    t0 = time.perf_counter()
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    load_s = time.perf_counter() - t0
    cos = [float(run(sess, [e["ids"]])[0] @ np.array(e["embedding"])) for e in ref]
    query = next(e["ids"] for e in ref if len(e["ids"]) == 16)
    for _ in range(2): run(sess, [query])
    single = []
    for _ in range(calls):
        t = time.perf_counter(); run(sess, [query]); single.append((time.perf_counter() - t) * 1000)
    passage = next(e["ids"] for e in ref if len(e["ids"]) == 128)
    ids = max(max(e["ids"][:-1]) for e in ref) + 1
    batch = [[(t + 7919 * (k + i)) % ids if i < 4 else t for i, t in enumerate(passage[:127])] + [passage[-1]] for k in range(32)]
    run(sess, batch[:2])
    best = float("inf")
    for _ in range(passes):
        t = time.perf_counter(); run(sess, batch); best = min(best, time.perf_counter() - t)
    return {"threads": threads, "load_s": load_s, "min_cosine": min(cos), "mean_cosine": float(np.mean(cos)), "rows": len(cos),
            "single_16_tokens_ms_p50": float(np.median(single)), "single_16_tokens_ms_min": min(single), "single_calls": calls,
            "batch_32x128_s": best, "batch_32x128_tokens_per_s": 32 * 128 / best, "batch_passes": passes}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root"); ap.add_argument("out")
    ap.add_argument("--threads", default="16,2"); ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--passes", type=int, default=2); ap.add_argument("--forms", default=",".join(FORMS))
    ap.add_argument("--passes-few-threads", type=int, default=1, help="batch passes at <= 4 threads (a pass takes ~40 s)")
    a = ap.parse_args()
    ref = json.load(open(os.path.join(a.root, "reference.json")))["embeddings"]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
    out = {"cpu": cpu, "cores": os.cpu_count(), "isa": [f for f in flags if f.startswith(("avx", "amx")) or "vnni" in f],
           "onnxruntime": ort.__version__, "results": []}
    for threads in [int(t) for t in a.threads.split(",")]:
        for form in a.forms.split(","):
            t = time.time()
            try:
                r = measure(FORMS[form](a.root), threads, ref, a.calls, a.passes if threads > 4 else a.passes_few_threads)
            except Exception as ex:  # one form failing (e.g. the quantizer) leaves the others measured
                out["results"].append({"form": form, "threads": threads, "error": f"{type(ex).__name__}: {str(ex)[:300]}"})
                print(out["results"][-1], flush=True)
                continue
            r["form"] = form
            out["results"].append(r)
            print(f"{form:13s} {threads:2d} threads: min cos {r['min_cosine']:.5f}, one 16-token text {r['single_16_tokens_ms_p50']:.1f} ms, "
                  f"32x128 {r['batch_32x128_s']:.2f} s ({r['batch_32x128_tokens_per_s']:.0f} tok/s) [{time.time() - t:.0f}s]", flush=True)
            json.dump(out, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
