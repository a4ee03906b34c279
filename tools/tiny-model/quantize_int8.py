#!/usr/bin/env python3
"""INT8 variant of an embedding model's ONNX export, made with ONNX Runtime's dynamic quantization
(weights of every MatMul as signed 8-bit, per output channel; activations quantized at run time).

Reproducible: dynamic quantization has no calibration data and no randomness, so the same input model
and onnxruntime version give the same file. Used for the repo's tiny test model and, with the same
command, for a real export (e.g. Qwen3-Embedding-0.6B's model.onnx).

Writes OUT_DIR/model.onnx and copies the tokenizer/config files next to it; for a model directory that
has reference.json (the tiny test model) it also writes reference-int8.json: the INT8 model's vectors from
onnxruntime's Python API, for the C# backend's test, and each one's cosine to the FP32 reference vector.

Needs: onnx, onnxruntime, numpy.   Run: python3 tools/tiny-model/quantize_int8.py models/qwen3-tiny models/qwen3-tiny-int8
"""
import json, os, shutil, sys
import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic

SRC, OUT = sys.argv[1], sys.argv[2]
os.makedirs(OUT, exist_ok=True)
src_model = os.path.join(SRC, "model.onnx")
dst_model = os.path.join(OUT, "model.onnx")
large = os.path.getsize(src_model) > 1_800_000_000
quantize_dynamic(src_model, dst_model, weight_type=QuantType.QInt8, per_channel=True,
                 op_types_to_quantize=["MatMul"], use_external_data_format=large)
for name in ["config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"]:
    if os.path.exists(os.path.join(SRC, name)):
        shutil.copyfile(os.path.join(SRC, name), os.path.join(OUT, name))
print(f"{src_model}: {os.path.getsize(src_model)/1e6:.1f} MB -> {dst_model}: {os.path.getsize(dst_model)/1e6:.1f} MB")

ref_path = os.path.join(SRC, "reference.json")
if os.path.exists(ref_path):
    ref = json.load(open(ref_path))
    sess = ort.InferenceSession(dst_model, providers=["CPUExecutionProvider"])
    out, worst = [], 1.0
    for e in ref["embeddings"]:
        ids = np.array([e["ids"]], dtype=np.int64)
        h = sess.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]
        v = h[0, -1].astype(np.float64); v /= np.linalg.norm(v)
        cos = float(np.dot(v, np.array(e["embedding"])))
        worst = min(worst, cos)
        out.append({"text": e["text"], "embedding": v.tolist(), "cosine_to_fp32": cos})
    json.dump({"generator": "tools/tiny-model/quantize_int8.py",
               "note": "Vectors of the INT8 model from onnxruntime's Python API (last token, L2-normalised), one text at a time.",
               "quantization": "quantize_dynamic(weight_type=QInt8, per_channel=True, op_types_to_quantize=[MatMul])",
               "versions": {"onnxruntime": ort.__version__},
               "worst_cosine_to_fp32": worst, "embeddings": out},
              open(os.path.join(OUT, "reference-int8.json"), "w"), indent=1)
    print(f"reference-int8.json: worst cosine INT8 vs FP32 over {len(out)} texts = {worst:.6f}")
