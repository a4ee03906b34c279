#!/usr/bin/env python3
"""Turns Qwen3-Embedding weights (0.6B / 4B / 8B from Hugging Face, or random weights of a named shape) into the ONNX
graph the worker runs best on ONNX Runtime's CUDA provider (Worker:Onnx:Device=Cuda), and checks it.

The graph (opset 17 + com.microsoft contrib ops, written node by node from the weights, no tracing):
  inputs  input_ids, attention_mask  int64 [batch, seq], right-padded
  output  sentence_embedding         float32 [batch, hidden]: the last real token's hidden state after the final norm,
                                     L2-normalised (what sentence-transformers' last-token pooling gives), so only the
                                     pooled vectors leave the GPU
  per layer: one fused QKV MatMul, q/k RMSNorm, GroupQueryAttention (causal, rotary inside, flash attention on the
  GPU), o_proj, SkipSimplifiedLayerNormalization (residual add + RMSNorm in one kernel), one fused gate/up MatMul, SiLU,
  down_proj.
Precision (--dtype float16): weights, MatMuls and attention in fp16; the residual stream, every residual add and
every RMSNorm in fp32 (Qwen3-Embedding's residual stream leaves the fp16 range). Before writing, a float32 forward of
the same weights on calibration texts measures every MLP's activations; an MLP whose values come within a factor 8 of
fp16's largest (65504) runs in fp32 instead. --dtype float32 writes an all-fp32 graph (also runs on the CPU provider).

Verification: the texts' vectors from the graph (onnxruntime, CUDA where it has it) against last-token pooling over
transformers' Qwen3Model on the same weights in float32 (sentence-transformers' recipe for this model); the cosine of
every text is printed and asserted >= 0.999. reference.json in the output holds the token ids and float32 vectors, so
the worker can be checked against them where it runs.

  python3 tools/gpu-export/export_qwen3_embedding.py --model Qwen/Qwen3-Embedding-4B --out models/qwen3-embedding-4b-cuda
  python3 tools/gpu-export/export_qwen3_embedding.py --random 4b --out /tmp/qwen3-4b-cuda     # the benchmark's model

Needs: torch, transformers, numpy, onnx; onnxruntime(-gpu) to verify; internet (or HF_HUB_OFFLINE with a cache) for --model.
"""
import argparse, json, math, os, shutil, sys, time
import numpy as np

FP16_MAX = 65504.0
SAFETY = 8.0
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json"]
SHAPES = {  # Qwen3-Embedding's published configs (hidden, layers, heads, kv heads, intermediate)
    "0.6b": dict(hidden_size=1024, num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8, intermediate_size=3072),
    "4b": dict(hidden_size=2560, num_hidden_layers=36, num_attention_heads=32, num_key_value_heads=8, intermediate_size=9728),
    "8b": dict(hidden_size=4096, num_hidden_layers=36, num_attention_heads=32, num_key_value_heads=8, intermediate_size=12288),
}
TEXTS = [
    "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery: What is the capital of China?",
    "The capital of China is Beijing.",
    "Gravity is a force that attracts two bodies towards each other.",
    "def embed(texts):\n    return [model(t) for t in texts]",
    "我们的服务把文本变成向量。北京是中国的首都。",
    "Elastic GPU workers scale to zero when idle and come back in seconds when work arrives. " * 8,
]


def config_of(cfg):
    """The numbers the graph needs, from a transformers config or a config.json dict."""
    get = (lambda k, d=None: cfg.get(k, d)) if isinstance(cfg, dict) else (lambda k, d=None: getattr(cfg, k, d))
    rope = get("rope_parameters") or get("rope_scaling") or {}
    theta = get("rope_theta") or (rope.get("rope_theta") if isinstance(rope, dict) else None) or 1_000_000.0
    heads = get("num_attention_heads")
    return dict(hidden=get("hidden_size"), layers=get("num_hidden_layers"), heads=heads,
                kv_heads=get("num_key_value_heads") or heads, head_dim=get("head_dim") or get("hidden_size") // heads,
                inter=get("intermediate_size"), vocab=get("vocab_size"), eps=get("rms_norm_eps") or 1e-6,
                theta=float(theta), max_pos=get("max_position_embeddings") or 32768)


# --- the float32 reference forward (calibration; also checked against transformers in verify) ------------------------
def reference_forward(w, c, ids_rows, stats=None, normalize=True):
    """Float32 Qwen3 forward over each text alone (no padding), last-token pooled, final-normed, L2-normalised (or not,
    with normalize=False: the hidden state an LM head reads, as export_qwen3_reranker.py needs).
    With stats (a dict), records per layer the largest |value| of the MLP's inputs, gate/up, product and output."""
    import torch
    dev = w["embed_tokens.weight"].device
    H, D, Nq, Nkv = c["hidden"], c["head_dim"], c["heads"], c["kv_heads"]

    def rms(x, g):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + c["eps"]) * g

    inv = 1.0 / (c["theta"] ** (torch.arange(0, D, 2, dtype=torch.float64, device=dev) / D))
    out = []
    for ids in ids_rows:
        S = len(ids)
        t = torch.arange(S, dtype=torch.float64, device=dev)
        f = torch.outer(t, inv)
        cos, sin = torch.cat([f.cos(), f.cos()], -1).float(), torch.cat([f.sin(), f.sin()], -1).float()

        def rope(x):  # x [heads, S, D], rotate_half
            x1, x2 = x[..., : D // 2], x[..., D // 2:]
            return x * cos + torch.cat([-x2, x1], -1) * sin

        h = w["embed_tokens.weight"][torch.tensor(ids, device=dev)].float()
        causal = torch.full((S, S), float("-inf"), device=dev).triu(1)
        for i in range(c["layers"]):
            p = f"layers.{i}."
            n = rms(h, w[p + "input_layernorm.weight"])
            q = (n @ w[p + "self_attn.q_proj.weight"].T).view(S, Nq, D)
            k = (n @ w[p + "self_attn.k_proj.weight"].T).view(S, Nkv, D)
            v = (n @ w[p + "self_attn.v_proj.weight"].T).view(S, Nkv, D)
            q = rope(rms(q, w[p + "self_attn.q_norm.weight"]).transpose(0, 1))
            k = rope(rms(k, w[p + "self_attn.k_norm.weight"]).transpose(0, 1)).repeat_interleave(Nq // Nkv, 0)
            v = v.transpose(0, 1).repeat_interleave(Nq // Nkv, 0)
            a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(D) + causal, -1) @ v
            o = a.transpose(0, 1).reshape(S, Nq * D) @ w[p + "self_attn.o_proj.weight"].T
            h = h + o
            n = rms(h, w[p + "post_attention_layernorm.weight"])
            g, u = n @ w[p + "mlp.gate_proj.weight"].T, n @ w[p + "mlp.up_proj.weight"].T
            act = torch.nn.functional.silu(g) * u
            d = act @ w[p + "mlp.down_proj.weight"].T
            if stats is not None:
                m = max(float(t_.abs().max()) for t_ in (n, g, u, act, d))
                stats[i] = max(stats.get(i, 0.0), m)
                stats["attention"] = max(stats.get("attention", 0.0), float(o.abs().max()), float(q.abs().max()))
                stats["residual"] = max(stats.get("residual", 0.0), float(h.abs().max()))
            h = h + d
        e = rms(h[-1], w["norm.weight"])
        out.append((e / e.norm() if normalize else e).cpu().numpy())
    return np.stack(out)


# --- the ONNX graph ------------------------------------------------------------------------------------------------
class Writer:
    """Nodes and initializers; weights go to one external data file as they are added (no 2 GB protobuf limit)."""

    def __init__(self, out_dir, data_name):
        from onnx import TensorProto
        self.TP = TensorProto
        self.nodes, self.inits, self.n = [], [], 0
        self.data_name = data_name
        self.data = open(os.path.join(out_dir, data_name), "wb")

    def name(self, base):
        self.n += 1
        return f"{base}_{self.n}"

    def weight(self, name, array):
        from onnx import numpy_helper
        array = np.ascontiguousarray(array)
        t = numpy_helper.from_array(array if array.size < 16 else np.zeros(0, array.dtype), name)
        if array.size >= 16:  # large: external, 64-byte aligned (ORT may mmap it)
            pad = (-self.data.tell()) % 64
            self.data.write(b"\0" * pad)
            offset = self.data.tell()
            self.data.write(array.tobytes())
            del t.dims[:]
            t.dims.extend(array.shape)
            t.ClearField("raw_data")
            t.data_location = self.TP.EXTERNAL
            for k, v in (("location", self.data_name), ("offset", str(offset)), ("length", str(array.nbytes))):
                e = t.external_data.add(); e.key, e.value = k, v
        self.inits.append(t)
        return name

    def const(self, base, array):
        from onnx import numpy_helper
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, n_out=1, domain="", **attrs):
        from onnx import helper
        outs = [self.name(op_type) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=self.name("n_" + op_type), domain=domain, **attrs))
        return outs[0] if n_out == 1 else outs


def build(w, c, out_dir, dtype, fp32_mlps, max_len, head=None, graph_name="qwen3_embedding", producer="export_qwen3_embedding.py"):
    """Writes model.onnx + model.onnx_data in out_dir. w: name -> float32 numpy array (HF Qwen3Model names).
    head(g, pooled) -> output value infos: what the graph makes of the last real token's final-normed float32 hidden
    state [batch, hidden]; None: the L2-normalised sentence embedding."""
    import onnx
    from onnx import helper, TensorProto as TP
    np_dt, onnx_dt = (np.float16, TP.FLOAT16) if dtype == "float16" else (np.float32, TP.FLOAT)
    H, D, Nq, Nkv, I = c["hidden"], c["head_dim"], c["heads"], c["kv_heads"], c["inter"]
    g = Writer(out_dir, "model.onnx_data")
    to = lambda x, t: g.op("Cast", [x], to=t)
    to_dt = (lambda x: to(x, onnx_dt)) if dtype == "float16" else (lambda x: x)
    to_f32 = (lambda x: to(x, TP.FLOAT)) if dtype == "float16" else (lambda x: x)

    def norm(x, weight_name, axis=-1):
        return g.op("SimplifiedLayerNormalization", [x, g.weight(weight_name, w[weight_name].astype(np.float32))],
                    axis=axis, epsilon=c["eps"], stash_type=1)

    # Lengths and shapes: GroupQueryAttention takes seqlens_k = length - 1 per row and the total length.
    mask32 = to("attention_mask", TP.INT32)
    lengths = g.op("ReduceSum", [mask32, g.const("axis1", np.array([1], np.int64))], keepdims=0)
    seqlens_k = g.op("Sub", [lengths, g.const("one32", np.array(1, np.int32))])
    shape = g.op("Shape", ["input_ids"])
    batch = g.op("Gather", [shape, g.const("i0", np.array(0, np.int64))], axis=0)
    seq = g.op("Gather", [shape, g.const("i1", np.array(1, np.int64))], axis=0)
    total = to(seq, TP.INT32)

    inv = 1.0 / (c["theta"] ** (np.arange(0, D, 2, dtype=np.float64) / D))
    freqs = np.outer(np.arange(max_len, dtype=np.float64), inv)
    cos = g.weight("rope_cos", np.cos(freqs).astype(np_dt))
    sin = g.weight("rope_sin", np.sin(freqs).astype(np_dt))

    h = to_f32(g.op("Gather", [g.weight("embed_tokens", w["embed_tokens.weight"].astype(np_dt)), "input_ids"], axis=0))
    delta = None
    for i in range(c["layers"]):
        p = f"layers.{i}."
        if delta is None:
            n = norm(h, p + "input_layernorm.weight")
        else:  # residual add + RMSNorm in one kernel, both in fp32; output 3 is the sum (the new residual stream)
            n, _, _, h = g.op("SkipSimplifiedLayerNormalization", [h, delta, g.weight(p + "input_layernorm.weight", w[p + "input_layernorm.weight"].astype(np.float32))],
                              n_out=4, domain="com.microsoft", epsilon=c["eps"])
        wqkv = np.concatenate([w[p + "self_attn.q_proj.weight"], w[p + "self_attn.k_proj.weight"], w[p + "self_attn.v_proj.weight"]], 0).T
        qkv = g.op("MatMul", [to_dt(n), g.weight(p + "qkv", wqkv.astype(np_dt))])
        q, k, v = g.op("Split", [qkv, g.const("split_qkv", np.array([Nq * D, Nkv * D, Nkv * D], np.int64))], n_out=3, axis=2)

        def head_norm(x, heads, weight_name):  # RMSNorm over each head's D values, in fp32
            x = g.op("Reshape", [x, g.const("heads", np.array([0, 0, heads, D], np.int64))])
            x = to_dt(norm(to_f32(x), weight_name))
            return g.op("Reshape", [x, g.const("flat", np.array([0, 0, heads * D], np.int64))])

        q, k = head_norm(q, Nq, p + "self_attn.q_norm.weight"), head_norm(k, Nkv, p + "self_attn.k_norm.weight")
        attn, _, _ = g.op("GroupQueryAttention", [q, k, v, "", "", seqlens_k, total, cos, sin], n_out=3, domain="com.microsoft",
                          num_heads=Nq, kv_num_heads=Nkv, scale=1.0 / math.sqrt(D), do_rotary=1, rotary_interleaved=0)
        o = to_f32(g.op("MatMul", [attn, g.weight(p + "o_proj", w[p + "self_attn.o_proj.weight"].T.astype(np_dt))]))
        n, _, _, h = g.op("SkipSimplifiedLayerNormalization", [h, o, g.weight(p + "post_attention_layernorm.weight", w[p + "post_attention_layernorm.weight"].astype(np.float32))],
                          n_out=4, domain="com.microsoft", epsilon=c["eps"])
        mlp_dt, mlp_np = (np.float32, (lambda x: x)) if i in fp32_mlps else (np_dt, to_dt)
        wgu = np.concatenate([w[p + "mlp.gate_proj.weight"], w[p + "mlp.up_proj.weight"]], 0).T
        gu = g.op("MatMul", [mlp_np(n), g.weight(p + "gate_up", wgu.astype(mlp_dt))])
        gate, up = g.op("Split", [gu, g.const("split_gu", np.array([I, I], np.int64))], n_out=2, axis=2)
        act = g.op("Mul", [g.op("Mul", [gate, g.op("Sigmoid", [gate])]), up])
        d = g.op("MatMul", [act, g.weight(p + "down_proj", w[p + "mlp.down_proj.weight"].T.astype(mlp_dt))])
        delta = d if i in fp32_mlps else to_f32(d)
    h = g.op("Add", [h, delta])

    # Last-token pooling on the GPU: row r's token lengths[r]-1 of the flattened [batch*seq, hidden] stream.
    flat = g.op("Reshape", [h, g.const("rows", np.array([-1, H], np.int64))])
    rows = g.op("Range", [g.const("zero64", np.array(0, np.int64)), batch, g.const("one64", np.array(1, np.int64))])
    last = g.op("Sub", [g.op("Add", [g.op("Mul", [rows, seq]), to(lengths, TP.INT64)]), g.const("one64b", np.array(1, np.int64))])
    pooled = norm(g.op("Gather", [flat, last], axis=0), "norm.weight")
    if head is None:
        l2 = g.op("ReduceL2", [pooled], axes=[-1], keepdims=1)
        g.nodes.append(helper.make_node("Div", [pooled, l2], ["sentence_embedding"], name="l2_normalise"))
        outputs = [helper.make_tensor_value_info("sentence_embedding", TP.FLOAT, ["batch", H])]
    else:
        outputs = head(g, pooled)
    g.data.close()

    graph = helper.make_graph(g.nodes, graph_name,
                              [helper.make_tensor_value_info("input_ids", TP.INT64, ["batch", "sequence"]),
                               helper.make_tensor_value_info("attention_mask", TP.INT64, ["batch", "sequence"])],
                              outputs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
                              producer_name=producer)
    model.ir_version = 8
    onnx.save(model, os.path.join(out_dir, "model.onnx"))


# --- loading, calibration, verification ------------------------------------------------------------------------------
def load(args):
    """(weights name -> torch tensor on the best device, float32; config dict; transformers model or None; tokenizer or None)."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer, Qwen3Config, Qwen3Model
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    if args.random:
        torch.manual_seed(args.seed)
        cfg = Qwen3Config(vocab_size=151669, head_dim=128, max_position_embeddings=40960, rope_theta=1_000_000,
                          rms_norm_eps=1e-6, tie_word_embeddings=True, **SHAPES[args.random])
        with torch.device(dev):
            model = Qwen3Model(cfg).float().eval()
        tok = None
    else:
        tok = AutoTokenizer.from_pretrained(args.model, revision=args.revision)
        try:
            model = AutoModel.from_pretrained(args.model, revision=args.revision, dtype=torch.float32)
        except TypeError:  # transformers before 4.56 names it torch_dtype
            model = AutoModel.from_pretrained(args.model, revision=args.revision, torch_dtype=torch.float32)
        model = model.to(dev).eval()
        cfg = model.config
    w = {k.removeprefix("model."): v.detach() for k, v in model.state_dict().items()}
    return w, config_of(cfg), model, tok, cfg


def token_rows(tok, vocab, seed):
    if tok is None:  # random weights: random ids of the texts' lengths, ending in <|endoftext|>-like id vocab-1
        rng = np.random.default_rng(seed)
        return [list(rng.integers(0, vocab - 1, size=n)) + [vocab - 1] for n in (16, 9, 31, 128, 511, 5)]
    # Qwen3-Embedding's tokenizer appends <|endoftext|>, the token whose hidden state is pooled (as the worker's does);
    # an older tokenizer revision may not, so make sure.
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    return [ids if ids[-1] == eot else ids + [eot] for ids in (tok(t)["input_ids"] for t in TEXTS)]


def transformers_vectors(model, rows):
    """Last-token pooling over transformers' Qwen3Model (sentence-transformers' recipe), float32, one text at a time."""
    import torch
    out = []
    with torch.no_grad():
        for ids in rows:
            x = torch.tensor([ids], device=model.device)
            hs = model(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state[0, -1].float()
            out.append((hs / hs.norm()).cpu().numpy())
    return np.stack(out)


def onnx_vectors(out_dir, rows):
    import onnxruntime as ort
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
    s = ort.InferenceSession(os.path.join(out_dir, "model.onnx"), providers=providers)
    L = max(len(r) for r in rows)
    ids = np.array([r + [r[-1]] * (L - len(r)) for r in rows], np.int64)
    mask = np.array([[1] * len(r) + [0] * (L - len(r)) for r in rows], np.int64)
    return s.run(None, {"input_ids": ids, "attention_mask": mask})[0], s.get_providers()[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="Hugging Face id or local directory, e.g. Qwen/Qwen3-Embedding-4B")
    src.add_argument("--random", choices=sorted(SHAPES), help="random weights of this shape (benchmarks)")
    ap.add_argument("--revision", default=None)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    ap.add_argument("--max-length", type=int, default=0, help="rotary cache length; 0 = max_position_embeddings")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--unsafe-all-fp16", action="store_true", help="keep no MLP in fp32 whatever calibration says (to show the overflow)")
    ap.add_argument("--no-verify", action="store_true", help="skip the onnxruntime check (e.g. an fp16 graph without a CUDA onnxruntime)")
    args = ap.parse_args()
    import torch
    t0 = time.time()
    os.makedirs(args.out, exist_ok=True)
    w, c, model, tok, cfg = load(args)
    print(f"loaded {args.model or 'random ' + args.random}: {c} in {time.time() - t0:.1f}s", flush=True)

    rows = token_rows(tok, c["vocab"], args.seed)
    with torch.no_grad():
        stats = {}
        ref = reference_forward(w, c, rows, stats)
    limit = FP16_MAX / SAFETY
    fp32_mlps = sorted(i for i, m in stats.items() if isinstance(i, int) and m > limit) if args.dtype == "float16" and not args.unsafe_all_fp16 else []
    print(f"calibration: largest MLP value {max(v for k, v in stats.items() if isinstance(k, int)):.1f}, residual {stats['residual']:.1f}, "
          f"attention {stats['attention']:.1f}; MLPs kept in fp32 (values > {limit:.0f}): {fp32_mlps}", flush=True)
    if args.dtype == "float16" and stats["attention"] > limit:
        sys.exit(f"attention values reach {stats['attention']:.0f}: too close to fp16's range; export with --dtype float32")

    if model is not None:
        tv = transformers_vectors(model, rows)
        cos = (tv * ref).sum(1)
        print(f"reference forward vs transformers (last-token pooling): min cosine {cos.min():.6f}", flush=True)
        assert cos.min() >= 0.9999, "the exporter's reference forward disagrees with transformers"
        ref = tv

    wn = {k: v.float().cpu().numpy() for k, v in w.items()}
    del w, model
    t1 = time.time()
    build(wn, c, args.out, args.dtype, set(fp32_mlps), args.max_length or min(c["max_pos"], 40960))
    size = sum(os.path.getsize(os.path.join(args.out, f)) for f in ("model.onnx", "model.onnx_data"))
    print(f"wrote {args.out}/model.onnx (+ model.onnx_data, {size / 1e9:.2f} GB) in {time.time() - t1:.1f}s", flush=True)

    with open(os.path.join(args.out, "config.json"), "w") as f:
        d = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
        d.pop("torch_dtype", None); d.pop("dtype", None)
        json.dump(d, f, indent=2, default=str)
    if tok is not None:
        tok.save_pretrained(args.out)
        for f in os.listdir(args.out):
            if f.endswith(".jinja") or f == "chat_template.json":
                os.remove(os.path.join(args.out, f))
    with open(os.path.join(args.out, "export.json"), "w") as f:
        json.dump({"source": args.model or f"random {args.random} seed {args.seed}", "dtype": args.dtype, "fp32_mlps": fp32_mlps,
                   "calibration_max": {str(k): v for k, v in stats.items()}}, f, indent=2)
    with open(os.path.join(args.out, "reference-export.json"), "w") as f:
        json.dump({"embeddings": [{"ids": [int(i) for i in r], "embedding": [float(x) for x in v]} for r, v in zip(rows, ref)]}, f)

    if not args.no_verify:
        ov, provider = onnx_vectors(args.out, rows)
        cos = (ov * ref).sum(1)
        for r, cval in zip(rows, cos):
            print(f"  {len(r):4d} tokens: cosine {cval:.6f} ({provider})")
        assert np.isfinite(ov).all() and cos.min() >= 0.999, f"ONNX vs float32 reference: min cosine {cos.min()}"
        print(f"verified: min cosine {cos.min():.6f} >= 0.999 on {provider}")


if __name__ == "__main__":
    main()
