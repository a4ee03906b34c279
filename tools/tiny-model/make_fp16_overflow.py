#!/usr/bin/env python3
"""A tiny Qwen3 whose residual stream leaves the fp16 range, exported in the GPU form by
tools/gpu-export/export_qwen3_embedding.py, to prove that form stays finite and exact where plain fp16 overflows.

Like Qwen3-Embedding's real "massive activations": layer 0's MLP writes ~2e5 into one channel of the residual stream
(fp16's largest value is 65504), and the norms that read that channel give it a small weight, so the pooled vector
still depends on every other channel. Reproducible (fixed seed); the tokenizer is models/qwen3-tiny's.
Writes, under OUT (default models/qwen3-tiny-fp16-overflow):
  model.onnx (+ model.onnx_data)  the GPU form: fp16 MatMuls, fp32 residual stream and norms, this MLP kept in fp32
  unsafe/model.onnx               the same weights with every MLP in fp16: overflows (inf/NaN), for the contrast
  fp32/model.onnx                 the same graph in float32 (runs on the CPU provider)
  reference.json                  token ids and the float32 reference forward's vectors
Needs torch, numpy, onnx (Debian's python3-torch and python3-onnx will do).

  python3 tools/tiny-model/make_fp16_overflow.py models/qwen3-tiny-fp16-overflow
"""
import importlib.util, json, os, shutil, sys
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
spec = importlib.util.spec_from_file_location("export", os.path.join(ROOT, "tools", "gpu-export", "export_qwen3_embedding.py"))
export = importlib.util.module_from_spec(spec); spec.loader.exec_module(export)

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "models", "qwen3-tiny-fp16-overflow")
TINY = os.path.join(ROOT, "models", "qwen3-tiny")
SEED, CHANNEL, BOOST = 20261202, 5, 2.0e5

config = json.load(open(os.path.join(TINY, "config.json")))
c = export.config_of(config)
H, D, Nq, Nkv, I, V = c["hidden"], c["head_dim"], c["heads"], c["kv_heads"], c["inter"], c["vocab"]
g = torch.Generator().manual_seed(SEED)
rnd = lambda *shape, s=0.08: torch.randn(*shape, generator=g) * s
w = {"embed_tokens.weight": rnd(V, H, s=1.0), "norm.weight": 1 + rnd(H, s=0.1)}
for i in range(c["layers"]):
    p = f"layers.{i}."
    w.update({p + "self_attn.q_proj.weight": rnd(Nq * D, H), p + "self_attn.k_proj.weight": rnd(Nkv * D, H),
              p + "self_attn.v_proj.weight": rnd(Nkv * D, H), p + "self_attn.o_proj.weight": rnd(H, Nq * D),
              p + "self_attn.q_norm.weight": 1 + rnd(D, s=0.1), p + "self_attn.k_norm.weight": 1 + rnd(D, s=0.1),
              p + "mlp.gate_proj.weight": rnd(I, H), p + "mlp.up_proj.weight": rnd(I, H), p + "mlp.down_proj.weight": rnd(H, I),
              p + "input_layernorm.weight": 1 + rnd(H, s=0.1), p + "post_attention_layernorm.weight": 1 + rnd(H, s=0.1)})
# The massive activation: layer 0's down_proj row CHANNEL adds ~BOOST for every token; the norms after it mute it.
d = w["layers.0.mlp.down_proj.weight"]
d[CHANNEL] = torch.full((I,), 1.0)
for name in ["norm.weight"] + [f"layers.{i}.{n}" for i in range(c["layers"]) for n in ("input_layernorm.weight", "post_attention_layernorm.weight") if (i, n) != (0, "input_layernorm.weight")]:
    w[name][CHANNEL] = 1e-3


# The tiny model's reference texts, as its tokenizer splits them.
rows = [e["ids"] for e in json.load(open(os.path.join(TINY, "reference.json")))["embeddings"]]
with torch.no_grad():  # scale the row so that layer 0's MLP writes about BOOST on these texts
    s0 = {}
    export.reference_forward(w, c, rows, s0)
    d[CHANNEL] *= BOOST / s0[0]
    stats = {}
    ref = export.reference_forward(w, c, rows, stats)
print(f"layer 0 MLP max {stats[0]:.0f}, residual max {stats['residual']:.0f} (fp16 max 65504)")
assert stats["residual"] > export.FP16_MAX

wn = {k: v.numpy().astype(np.float32) for k, v in w.items()}
limit = export.FP16_MAX / export.SAFETY
safe = sorted(i for i, m in stats.items() if isinstance(i, int) and m > limit)
print(f"MLPs kept in fp32: {safe}")
for sub, dtype, keep in (("", "float16", safe), ("unsafe", "float16", []), ("fp32", "float32", [])):
    d_ = os.path.join(OUT, sub)
    os.makedirs(d_, exist_ok=True)
    export.build(wn, c, d_, dtype, set(keep), c["max_pos"])
    for f in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"):
        shutil.copy(os.path.join(TINY, f), d_)
json.dump({"channel": CHANNEL, "layer0_mlp_max": stats[0], "residual_max": stats["residual"], "fp32_mlps": safe,
           "embeddings": [{"ids": r, "embedding": [float(x) for x in v]} for r, v in zip(rows, ref)]},
          open(os.path.join(OUT, "reference.json"), "w"))
print(f"wrote {OUT}")
