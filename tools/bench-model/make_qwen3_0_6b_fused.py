#!/usr/bin/env python3
"""The benchmark model of make_qwen3_0_6b.py (same seed, same weights) written as tools/gpu-export's graph instead of the
traced, decomposed one: one QKV MatMul, GroupQueryAttention with the rotary embedding inside, SkipSimplifiedLayerNorm,
one gate/up MatMul, pooling and L2 normalisation inside (495 operators instead of 1,307 after ONNX Runtime's
optimizations). For measuring what that graph does for one text on the CPU, FP32 against its weight-only 8-bit form,
beside the decomposed graph.

  OUT/fp32/   model.onnx + model.onnx_data   export_qwen3_embedding.build(..., "float32")
  OUT/int8/   model.onnx                      every constant-weight MatMul as MatMulNBits bits=8 (make_qwen3_0_6b's
                                              weight_only_8bit: the same quantization as the decomposed int8 file)
  OUT/reference.json                          make_qwen3_0_6b.py's torch vectors of the same weights, copied, after
                                              checking that the exporter's own float32 forward gives them (cosine >= 0.9999)

Needs: torch (1.13 works), onnx (1.12 works), numpy; no transformers, no onnxruntime.
Run:   /usr/bin/python3 tools/bench-model/make_qwen3_0_6b_fused.py [OUT] [PLAIN]
       (defaults ~/.cache/embedding-bench/qwen3-0.6b-fused and the decomposed build ~/.cache/embedding-bench/qwen3-0.6b-random)
"""
import json, os, shutil, sys, time
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "gpu-export"))
import make_qwen3_0_6b as plain  # noqa: E402
import export_qwen3_embedding as exporter  # noqa: E402

VERSION = 1


def hf_names(model):
    """make_qwen3_0_6b's parameters under Hugging Face Qwen3Model's names (what the exporter reads), as float32 numpy."""
    w = {"embed_tokens.weight": model.embed_tokens.weight, "norm.weight": model.norm}
    for i, l in enumerate(model.layers):
        p = f"layers.{i}."
        w[p + "input_layernorm.weight"], w[p + "post_attention_layernorm.weight"] = l.input_layernorm, l.post_attention_layernorm
        w[p + "self_attn.q_norm.weight"], w[p + "self_attn.k_norm.weight"] = l.q_norm, l.k_norm
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"): w[p + f"self_attn.{name}.weight"] = getattr(l, name).weight
        for name in ("gate_proj", "up_proj", "down_proj"): w[p + f"mlp.{name}.weight"] = getattr(l, name).weight
    return {k: v.detach().float() for k, v in w.items()}


def main():
    out = os.path.expanduser(sys.argv[1] if len(sys.argv) > 1 else "~/.cache/embedding-bench/qwen3-0.6b-fused")
    source = os.path.expanduser(sys.argv[2] if len(sys.argv) > 2 else "~/.cache/embedding-bench/qwen3-0.6b-random")
    stamp = os.path.join(out, "build.json")
    if os.path.exists(stamp) and json.load(open(stamp)).get("version") == VERSION:
        print(f"{out}: already built"); return
    reference = json.load(open(os.path.join(source, "reference.json")))  # run make_qwen3_0_6b.py first
    t0 = time.time()
    torch.manual_seed(plain.SEED)
    torch.set_grad_enabled(False)
    w = hf_names(plain.Qwen3(plain.CONFIG).eval())
    c = exporter.config_of(plain.CONFIG)

    rows = [e["ids"] for e in reference["embeddings"]]
    mine = exporter.reference_forward(w, c, rows)
    theirs = np.array([e["embedding"] for e in reference["embeddings"]])
    cosine = (np.asarray(mine, np.float64) * theirs).sum(1).min()
    print(f"exporter's forward vs make_qwen3_0_6b.py's vectors: min cosine {cosine:.6f}, {time.time() - t0:.0f}s", flush=True)
    assert cosine >= 0.9999, "the weights did not map onto the exporter's names"

    fp32, int8 = os.path.join(out, "fp32"), os.path.join(out, "int8")
    for d in (fp32, int8):
        os.makedirs(d, exist_ok=True)
        for f in ("config.json", "tokenizer.json"):
            if os.path.exists(os.path.join(source, "fp32", f)): shutil.copyfile(os.path.join(source, "fp32", f), os.path.join(d, f))
    exporter.build({k: v.numpy() for k, v in w.items()}, c, fp32, "float32", set(), 32768)
    del w
    print(f"fp32: {sum(os.path.getsize(os.path.join(fp32, f)) for f in os.listdir(fp32)) / 1e9:.2f} GB, {time.time() - t0:.0f}s", flush=True)

    import onnx
    m = onnx.load(os.path.join(fp32, "model.onnx"), load_external_data=True)
    n = plain.weight_only_8bit(m)
    plain.save(m, int8, external=False)
    print(f"int8: {n} MatMulNBits, {sum(os.path.getsize(os.path.join(int8, f)) for f in os.listdir(int8)) / 1e9:.2f} GB, {time.time() - t0:.0f}s", flush=True)
    shutil.copyfile(os.path.join(source, "reference.json"), os.path.join(out, "reference.json"))
    json.dump({"version": VERSION, "generator": "tools/bench-model/make_qwen3_0_6b_fused.py", "seed": plain.SEED,
               "exporter_min_cosine": float(cosine)}, open(stamp, "w"))


if __name__ == "__main__":
    main()
