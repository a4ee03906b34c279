#!/usr/bin/env python3
"""INT8 variant of an embedding model's ONNX export: weight-only 8-bit quantization (MatMulNBits, symmetric blocks of
32 weights, accuracy_level 0 = fp32 arithmetic), the form of the public exports' onnx/model_quantized.onnx.

Why weight-only: the former dynamic quantization (MatMulInteger, uint8 activations x int8 weights) runs on AVX2-only
CPUs through a u8s8 kernel whose 16-bit intermediate sums saturate, so the same file gave cosine 0.79 to FP32 on an
AMD EPYC and 0.997 on a VNNI Xeon. Weight-only keeps activations in fp32: the vectors no longer depend on the CPU's
instruction set, and weights still take a quarter of the space. `--compare` measures the alternatives.

Reproducible: no calibration data and no randomness; the same input model and onnxruntime give the same file.
Writes OUT_DIR/model.onnx, copies tokenizer/config files; for a model with reference.json (the tiny test model) also
reference-int8.json: the INT8 model's vectors from onnxruntime's Python API and each one's cosine to the FP32 vector.

Needs: onnx, onnxruntime, numpy.   Run: python3 tools/tiny-model/quantize_int8.py models/qwen3-tiny models/qwen3-tiny-int8 [--compare OUT.json]
"""
import json, os, platform, shutil, sys, tempfile
import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer, DefaultWeightOnlyQuantConfig

SRC, OUT = sys.argv[1], sys.argv[2]
COMPARE = sys.argv[sys.argv.index("--compare") + 1] if "--compare" in sys.argv else None
os.makedirs(OUT, exist_ok=True)
src_model = os.path.join(SRC, "model.onnx")
dst_model = os.path.join(OUT, "model.onnx")
large = os.path.getsize(src_model) > 1_800_000_000


def weight_only(src, dst, bits=8, accuracy_level=0, block_size=32):
    config = DefaultWeightOnlyQuantConfig(block_size=block_size, is_symmetric=True, accuracy_level=accuracy_level, bits=bits)
    q = MatMulNBitsQuantizer(onnx.load(src, load_external_data=True), algo_config=config)
    q.process()
    q.model.save_model_to_file(dst, use_external_data_format=large)


def dynamic(src, dst, reduce_range=False):
    quantize_dynamic(src, dst, weight_type=QuantType.QInt8, per_channel=True, reduce_range=reduce_range,
                     op_types_to_quantize=["MatMul"], use_external_data_format=large)


def vectors(path, embeddings):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    out = []
    for e in embeddings:
        ids = np.array([e["ids"]], dtype=np.int64)
        h = sess.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]
        v = h[0, -1].astype(np.float64); out.append(v / np.linalg.norm(v))
    return out


weight_only(src_model, dst_model)
for name in ["config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"]:
    if os.path.exists(os.path.join(SRC, name)):
        shutil.copyfile(os.path.join(SRC, name), os.path.join(OUT, name))
print(f"{src_model}: {os.path.getsize(src_model)/1e6:.1f} MB -> {dst_model}: {os.path.getsize(dst_model)/1e6:.1f} MB")

ref_path = os.path.join(SRC, "reference.json")
if os.path.exists(ref_path):
    ref = json.load(open(ref_path))
    out, worst = [], 1.0
    for e, v in zip(ref["embeddings"], vectors(dst_model, ref["embeddings"])):
        cos = float(np.dot(v, np.array(e["embedding"])))
        worst = min(worst, cos)
        out.append({"text": e["text"], "embedding": v.tolist(), "cosine_to_fp32": cos})
    json.dump({"generator": "tools/tiny-model/quantize_int8.py",
               "note": "Vectors of the INT8 model from onnxruntime's Python API (last token, L2-normalised), one text at a time.",
               "quantization": "MatMulNBits bits=8, block_size=32, symmetric, accuracy_level=0 (weight-only; fp32 arithmetic)",
               "versions": {"onnxruntime": ort.__version__},
               "worst_cosine_to_fp32": worst, "embeddings": out},
              open(os.path.join(OUT, "reference-int8.json"), "w"), indent=1)
    print(f"reference-int8.json: worst cosine INT8 vs FP32 over {len(out)} texts = {worst:.6f}")

    if COMPARE:
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
        flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
        fp32 = [np.array(e["embedding"]) for e in ref["embeddings"]]
        results = []
        with tempfile.TemporaryDirectory() as tmp:
            for label, make in [
                ("dynamic u8s8 per-channel (former)", lambda p: dynamic(src_model, p)),
                ("dynamic u8s8 per-channel, reduce_range (7-bit weights)", lambda p: dynamic(src_model, p, True)),
                ("weight-only 8-bit MatMulNBits, accuracy_level 0 (fp32 math; chosen)", lambda p: weight_only(src_model, p, 8, 0)),
                ("weight-only 8-bit MatMulNBits, accuracy_level 4 (int8 math)", lambda p: weight_only(src_model, p, 8, 4)),
                ("weight-only 4-bit MatMulNBits, accuracy_level 0", lambda p: weight_only(src_model, p, 4, 0)),
            ]:
                path = os.path.join(tmp, "m.onnx")
                try:
                    make(path)
                    cos = [float(np.dot(a, b)) for a, b in zip(vectors(path, ref["embeddings"]), fp32)]
                    results.append({"method": label, "min_cosine": min(cos), "mean_cosine": float(np.mean(cos)),
                                    "bytes": os.path.getsize(path)})
                except Exception as ex:
                    results.append({"method": label, "error": f"{type(ex).__name__}: {str(ex)[:300]}"})
                print(results[-1])
        json.dump({"cpu": cpu, "isa": [f for f in flags if f.startswith(("avx", "amx")) or "vnni" in f],
                   "onnxruntime": ort.__version__, "texts": len(fp32), "results": results}, open(COMPARE, "w"), indent=1)
