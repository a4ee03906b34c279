#!/usr/bin/env python3
"""Turns Qwen3-Reranker weights (0.6B / 4B / 8B from Hugging Face, a local directory, or random weights of a named
shape) into the ONNX graph the worker's reranker backend runs (Worker:Kind=Reranker), and checks it.

Qwen3-Reranker is a Qwen3ForCausalLM whose answer to a prompt is "yes" or "no"; the score of a pair is P("yes") from a
softmax over the two logits at the last position (QwenLM/Qwen3-Embedding, examples/qwen3_reranker_transformers.py).
Only two rows of the LM head matter, so the graph computes just those (docs/reranking.md):
  inputs  input_ids, attention_mask  int64 [batch, seq], right-padded
  output  logits  float32 [batch, 1]  --form one-logit (default): lm_head[yes] - lm_head[no] at the last real token;
                                      sigmoid(logit) = P(yes), as vLLM converts the model to a one-label classifier
          logits  float32 [batch, 2]  --form two-logit: the [no, yes] logits; softmax(.)[1] = P(yes)
The transformer body is export_qwen3_embedding.py's graph (GroupQueryAttention, fused norms; --dtype float16/bfloat16
keeps the residual stream, the norms and the head in float32, MLPs that come near fp16's range in float32 too);
--dtype float32 is the CPU form. One number per pair leaves the device instead of 151k logits per token.

Verification: scores of sample pairs from the graph (onnxruntime, CUDA where it has it) against the model computed
another way: with transformers installed, Qwen3ForCausalLM's full logits scored exactly as the official example does
(prefix and suffix token ids, the body truncated, left padding, softmax over no/yes); without it, the exporter's own
float32 forward. reference-export.json in the output holds the pairs' token ids and scores for the worker to check.

  python3 tools/gpu-export/export_qwen3_reranker.py --model Qwen/Qwen3-Reranker-0.6B --dtype float32 --out models/qwen3-reranker-0.6b
  python3 tools/gpu-export/export_qwen3_reranker.py --model Qwen/Qwen3-Reranker-4B --out models/qwen3-reranker-4b-cuda
  python3 tools/gpu-export/export_qwen3_reranker.py --random 0.6b --dtype float32 --out /tmp/rr-0.6b --tokenizer models/qwen3-reranker-tiny

Needs: torch, numpy, onnx; safetensors (and huggingface_hub for a hub id) for --model; onnxruntime(-gpu) to verify;
transformers only for the official-scoring check.
"""
import argparse, glob, json, math, os, shutil, sys, time
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_qwen3_embedding as body  # noqa: E402  the transformer graph and the float32 reference forward

PREFIX = ("<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct "
          "provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n")
SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
DEFAULT_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json"]
# Qwen3-Reranker's published configs: the Qwen3 base models' shapes; the 8B's LM head is not tied to its embeddings.
SHAPES = {k: dict(v, tie_word_embeddings=(k != "8b")) for k, v in body.SHAPES.items()}
PAIRS = [
    ("What is the capital of China?", "The capital of China is Beijing."),
    ("What is the capital of China?", "Gravity is a force that attracts two bodies towards each other."),
    ("Explain gravity", "Gravity is a force that attracts two bodies towards each other. It gives weight to physical objects."),
    ("如何把文本变成向量？", "我们的服务把文本变成向量。北京是中国的首都。"),
    ("elastic workers", "Elastic GPU workers scale to zero when idle and come back in seconds when work arrives. " * 12),
]


def body_text(query, document, instruction=None):
    """The official example's format_instruction: the sections joined by single newlines."""
    return f"<Instruct>: {instruction or DEFAULT_INSTRUCTION}\n<Query>: {query}\n<Document>: {document}"


def random_weights(shape, seed, vocab=151669):
    """Random weights of a published shape, plain torch (no transformers needed): normal(0, 0.02) matrices, norms near 1.
    Only the two LM-head rows the graph uses are made (ids vocab-2 and vocab-1 stand for "no" and "yes")."""
    import torch
    g = torch.Generator().manual_seed(seed)
    c = body.config_of(dict(vocab_size=vocab, head_dim=128, max_position_embeddings=40960, rope_theta=1_000_000.0,
                            rms_norm_eps=1e-6, **{k: v for k, v in shape.items() if k != "tie_word_embeddings"}))
    H, D, Nq, Nkv, I = c["hidden"], c["head_dim"], c["heads"], c["kv_heads"], c["inter"]
    rnd = lambda *s: (torch.randn(*s, generator=g) * 0.02).numpy()
    norm = lambda n: (1.0 + 0.1 * torch.randn(n, generator=g)).numpy()
    w = {"embed_tokens.weight": rnd(vocab, H), "norm.weight": norm(H)}
    for i in range(c["layers"]):
        p = f"layers.{i}."
        w.update({p + "input_layernorm.weight": norm(H), p + "post_attention_layernorm.weight": norm(H),
                  p + "self_attn.q_proj.weight": rnd(Nq * D, H), p + "self_attn.k_proj.weight": rnd(Nkv * D, H),
                  p + "self_attn.v_proj.weight": rnd(Nkv * D, H), p + "self_attn.o_proj.weight": rnd(H, Nq * D),
                  p + "self_attn.q_norm.weight": norm(D), p + "self_attn.k_norm.weight": norm(D),
                  p + "mlp.gate_proj.weight": rnd(I, H), p + "mlp.up_proj.weight": rnd(I, H), p + "mlp.down_proj.weight": rnd(H, I)})
    # Head rows scaled so that the logit difference over a unit-RMS hidden state has a spread of about 1.5: random
    # pairs' scores then cover (0, 1) instead of sitting at 0 or 1.
    head = {k: (torch.randn(H, generator=g, dtype=torch.float64) * (1.5 / math.sqrt(2 * H))).numpy() for k in ("no", "yes")}
    config = dict(architectures=["Qwen3ForCausalLM"], model_type="qwen3", vocab_size=vocab, hidden_size=H,
                  num_hidden_layers=c["layers"], num_attention_heads=Nq, num_key_value_heads=Nkv, head_dim=D,
                  intermediate_size=I, max_position_embeddings=40960, rope_theta=1_000_000.0, rms_norm_eps=1e-6,
                  tie_word_embeddings=shape["tie_word_embeddings"], hidden_act="silu")
    return w, c, head, config


def load_model_dir(model, revision):
    """(weights as float32 numpy without the 'model.' prefix, config dict, directory) from safetensors files."""
    from safetensors.torch import load_file as load_torch  # through torch: numpy has no bfloat16
    directory = model
    if not os.path.isdir(directory):
        from huggingface_hub import snapshot_download
        directory = snapshot_download(model, revision=revision, allow_patterns=["*.json", "*.safetensors", "*.txt"])
    config = json.load(open(os.path.join(directory, "config.json")))
    files = sorted(glob.glob(os.path.join(directory, "*.safetensors")))
    if not files:
        sys.exit(f"no *.safetensors in {directory}")
    w = {}
    for f in files:
        for k, v in load_torch(f).items():
            w[k.removeprefix("model.")] = v.float().numpy()
    return w, config, directory


def head_rows(w, config, yes_id, no_id):
    """The LM head's rows for "yes" and "no" (the embedding rows where the head is tied to them)."""
    lm = w.get("lm_head.weight")
    if lm is None or config.get("tie_word_embeddings"):
        lm = w["embed_tokens.weight"]
    return {"yes": lm[yes_id].astype(np.float64), "no": lm[no_id].astype(np.float64)}


def head_builder(rows, form):
    """The graph's end: the [no, yes] logits, or their difference, from the final-normed last hidden state."""
    from onnx import helper, TensorProto as TP

    def head(g, pooled):
        if form == "one-logit":  # computed in float64, rounded once: one MatMul column instead of two and a Sub
            matrix = (rows["yes"] - rows["no"])[:, None].astype(np.float32)
        else:
            matrix = np.stack([rows["no"], rows["yes"]], 1).astype(np.float32)
        g.nodes.append(helper.make_node("MatMul", [pooled, g.weight("score_head", matrix)], ["logits"], name="score_head"))
        return [helper.make_tensor_value_info("logits", TP.FLOAT, ["batch", 1 if form == "one-logit" else 2])]
    return head


def scores_of(logits):
    """P(yes) from either form's output."""
    logits = np.asarray(logits, np.float64)
    if logits.shape[-1] == 1:
        return 1.0 / (1.0 + np.exp(-logits[:, 0]))
    z = logits - logits.max(-1, keepdims=True)
    e = np.exp(z)
    return e[:, 1] / e.sum(-1)


def hf_tokenizer(directory):
    """The model's tokenizer as the official example loads it (AutoTokenizer, left padding); where AutoTokenizer cannot
    place a tokenizer_config.json, its tokenizer.json as it is."""
    import transformers
    try:
        return transformers.AutoTokenizer.from_pretrained(directory, padding_side="left")
    except Exception as ex:  # noqa: BLE001
        print(f"AutoTokenizer: {type(ex).__name__}: {str(ex)[:200]}; loading tokenizer.json directly", flush=True)
        fast = getattr(transformers, "PreTrainedTokenizerFast", None) or getattr(transformers, "TokenizersBackend")
        return fast(tokenizer_file=os.path.join(directory, "tokenizer.json"), pad_token="<|endoftext|>", padding_side="left")


def official_scores(directory, pairs, max_length):
    """The official example's scoring with transformers on the full CausalLM: (ids per pair, P(yes) per pair)."""
    import torch
    from transformers import AutoModelForCausalLM
    tok = hf_tokenizer(directory)
    try:
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()
    except TypeError:  # transformers before 4.56 names it torch_dtype
        model = AutoModelForCausalLM.from_pretrained(directory, torch_dtype=torch.float32).eval()
    yes, no = tok.convert_tokens_to_ids("yes"), tok.convert_tokens_to_ids("no")
    prefix, suffix = tok.encode(PREFIX, add_special_tokens=False), tok.encode(SUFFIX, add_special_tokens=False)
    inputs = tok([body_text(q, d) for q, d in pairs], padding=False, truncation="longest_first",
                 return_attention_mask=False, max_length=max_length - len(prefix) - len(suffix))
    ids = [prefix + e + suffix for e in inputs["input_ids"]]
    padded = tok.pad({"input_ids": ids}, padding=True, return_tensors="pt", max_length=max_length)
    with torch.no_grad():
        last = model(**padded).logits[:, -1, :]
    two = torch.stack([last[:, no], last[:, yes]], 1)
    return ids, torch.nn.functional.log_softmax(two, 1)[:, 1].exp().tolist()


def onnx_scores(path, rows):
    import onnxruntime as ort
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
    s = ort.InferenceSession(path, providers=providers)
    L = max(len(r) for r in rows)
    ids = np.array([list(r) + [0] * (L - len(r)) for r in rows], np.int64)
    mask = np.array([[1] * len(r) + [0] * (L - len(r)) for r in rows], np.int64)
    return scores_of(s.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]), s.get_providers()[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="Hugging Face id or local directory with safetensors, e.g. Qwen/Qwen3-Reranker-0.6B")
    src.add_argument("--random", choices=sorted(SHAPES), help="random weights of this shape (benchmarks)")
    ap.add_argument("--revision", default=None)
    ap.add_argument("--out", required=True)
    ap.add_argument("--form", choices=["one-logit", "two-logit"], default="one-logit")
    ap.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    ap.add_argument("--file", default="model.onnx", help="graph file name in --out (its weights go beside it, FILE_data)")
    ap.add_argument("--max-length", type=int, default=8192, help="longest pair of the check (the official example's 8192)")
    ap.add_argument("--tokenizer", help="with --random: a directory whose tokenizer files are copied beside the graph")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-verify", action="store_true", help="skip the onnxruntime check (e.g. no onnxruntime here)")
    args = ap.parse_args()
    import torch
    t0 = time.time()
    os.makedirs(args.out, exist_ok=True)

    tok = None
    if args.random:
        w, c, rows, config = random_weights(SHAPES[args.random], args.seed)
        directory = args.tokenizer
        rng = np.random.default_rng(args.seed)
        pairs_ids = [list(map(int, rng.integers(0, c["vocab"] - 2, size=n))) for n in (40, 230, 231, 520, 12)]
    else:
        w, config, directory = load_model_dir(args.model, args.revision)
        c = body.config_of(config)
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))
        yes, no = tok.token_to_id("yes"), tok.token_to_id("no")
        if yes is None or no is None:
            sys.exit("the tokenizer has no 'yes' or 'no' token: not a Qwen3 reranker's tokenizer")
        rows = head_rows(w, config, yes, no)
        prefix = tok.encode(PREFIX, add_special_tokens=False).ids
        suffix = tok.encode(SUFFIX, add_special_tokens=False).ids
        keep = args.max_length - len(prefix) - len(suffix)
        pairs_ids = [prefix + tok.encode(body_text(q, d), add_special_tokens=False).ids[:keep] + suffix for q, d in PAIRS]
    w.pop("lm_head.weight", None)
    print(f"loaded {args.model or 'random ' + args.random}: {c} in {time.time() - t0:.1f}s", flush=True)

    # The exporter's float32 forward: calibration for fp16, and the check where transformers is absent.
    with torch.no_grad():
        stats = {}
        tw = {k: torch.from_numpy(v) for k, v in w.items()}
        hidden = body.reference_forward(tw, c, pairs_ids, stats, normalize=False).astype(np.float64)
        del tw
    ref_logits = np.stack([hidden @ rows["no"], hidden @ rows["yes"]], 1)
    ref = scores_of(ref_logits)
    limit = body.FP16_MAX / body.SAFETY
    fp32_mlps = sorted(i for i, m in stats.items() if isinstance(i, int) and m > limit) if args.dtype == "float16" else []
    print(f"calibration: MLPs kept in fp32: {fp32_mlps}; reference scores {np.round(ref, 4).tolist()}", flush=True)
    if args.model:
        try:
            official_ids, official = official_scores(directory, PAIRS, args.max_length)
            assert official_ids == pairs_ids, "the prompt's token ids differ from the official example's"
            worst = float(np.abs(np.array(official) - ref).max())
            print(f"exporter's forward vs transformers, scored the official way: max |dP| {worst:.2e}", flush=True)
            assert worst < 1e-4, "the exporter's forward disagrees with transformers"
            ref = np.array(official)
        except ImportError:
            print("transformers not installed: checking against the exporter's own float32 forward only", flush=True)

    base = os.path.splitext(args.file)[0]
    t1 = time.time()
    body.build(w, c, args.out, args.dtype, set(fp32_mlps), min(c["max_pos"], 40960),
               head=head_builder(rows, args.form), graph_name="qwen3_reranker", producer="export_qwen3_reranker.py")
    if args.file != "model.onnx":  # build writes model.onnx + model.onnx_data: rename both, and the reference inside
        import onnx
        m = onnx.load(os.path.join(args.out, "model.onnx"), load_external_data=False)
        for t in m.graph.initializer:
            for e in t.external_data:
                if e.key == "location":  # relative to the graph's own directory
                    e.value = os.path.basename(base) + ".onnx_data"
        os.makedirs(os.path.dirname(os.path.join(args.out, args.file)), exist_ok=True)
        os.replace(os.path.join(args.out, "model.onnx_data"), os.path.join(args.out, base + ".onnx_data"))
        onnx.save(m, os.path.join(args.out, args.file))
        os.remove(os.path.join(args.out, "model.onnx"))
    print(f"wrote {args.out}/{args.file} ({args.form}, {args.dtype}) in {time.time() - t1:.1f}s", flush=True)

    if directory:
        for f in TOKENIZER_FILES:
            if os.path.exists(os.path.join(directory, f)):
                shutil.copy(os.path.join(directory, f), args.out)
    config.pop("torch_dtype", None); config.pop("dtype", None)
    json.dump(config, open(os.path.join(args.out, "config.json"), "w"), indent=2, default=str)
    json.dump({"source": args.model or f"random {args.random} seed {args.seed}", "form": args.form, "dtype": args.dtype,
               "fp32_mlps": fp32_mlps}, open(os.path.join(args.out, "export.json"), "w"), indent=2)
    json.dump({"pairs": [{"ids": list(map(int, r)), "score": float(s)} for r, s in zip(pairs_ids, ref)]},
              open(os.path.join(args.out, "reference-export.json"), "w"))

    if not args.no_verify:
        got, provider = onnx_scores(os.path.join(args.out, args.file), pairs_ids)
        worst = float(np.abs(got - ref).max())
        tolerance = 1e-4 if args.dtype == "float32" else 2e-2
        print(f"ONNX ({provider}) vs reference: scores {np.round(got, 5).tolist()}, max |dP| {worst:.2e}")
        assert np.isfinite(got).all() and worst <= tolerance, f"max |dP| {worst} > {tolerance}"
        print(f"verified: max |dP| {worst:.2e} <= {tolerance} on {provider}")


if __name__ == "__main__":
    main()
