"""The tiny model in the shapes the public ONNX exports of Qwen3-Embedding are published in, each a directory laid out
like its hub repository, so the C# backend and the model download are tested against every shape users meet:

  qwen3-tiny-fastembed/      FastEmbed (Qdrant/Qwen3-Embedding-0.6B-onnx): inputs input_ids + attention_mask, the first
                             output is the hidden state (named token_embeddings here: not last_hidden_state);
                             onnx/model.onnx + onnx/model.onnx_data (external weights), onnx/model_quantized.onnx.
  qwen3-tiny-transformersjs/ transformers.js (onnx-community/Qwen3-Embedding-0.6B-ONNX): also position_ids and
                             past_key_values.N.key/value (given empty), outputs last_hidden_state + present.N.*;
                             onnx/model.onnx, onnx/model_fp16.onnx (fp16 weights, past inputs and outputs),
                             onnx/model_quantized.onnx (8-bit), onnx/model_q4.onnx (4-bit).
  qwen3-tiny-batch1/         a graph whose batch dimension is fixed at 1 (model.onnx at the root).

Each directory has reference.json: per ONNX file, the vectors of TEXTS (last token, L2-normalised): transformers'
for the fp32 graphs, onnxruntime Python's on that very file for the fp16/8-bit/4-bit ones (weight-only quantization
computes in fp32, so those vectors do not depend on the CPU that runs them).

Called by make_tiny_qwen3.py (which owns the model and tokenizer) when it is given a second directory.
"""
import json, os, shutil
import numpy as np
import torch
import onnx
from onnx import helper, numpy_helper, TensorProto
import onnxruntime as ort

TOKENIZER_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"]


def weight_only_quantize(src, dst, bits):
    """MatMul weights to `bits`-bit blocks (MatMulNBits), activations untouched: what the 8-bit and 4-bit hub files are."""
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer, DefaultWeightOnlyQuantConfig
    config = DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=True, accuracy_level=0, bits=bits)
    quantizer = MatMulNBitsQuantizer(onnx.load(src, load_external_data=True), algo_config=config)
    quantizer.process()
    quantizer.model.save_model_to_file(dst, use_external_data_format=False)
    n = sum(1 for node in onnx.load(dst).graph.node if node.op_type == "MatMulNBits")
    print(f"  {os.path.basename(dst)}: {bits}-bit weights, {n} MatMulNBits nodes, {os.path.getsize(dst)/1e6:.2f} MB")
    if n == 0:
        raise RuntimeError("the quantizer found no MatMul with constant weights")


def fp16_file(src, dst, fp16_inputs):
    """An fp16 export as transformers.js ships them: weights stored in fp16, the past_key_values inputs and every output
    fp16. Computation stays fp32 inside (Cast after each weight), so onnxruntime's CPU provider can run it."""
    m = onnx.load(src, load_external_data=True)
    g = m.graph
    pre, inits = [], []
    for init in g.initializer:
        if init.data_type == TensorProto.FLOAT and np.prod(init.dims) > 1:
            name16 = init.name + "__fp16"
            inits.append(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), name16))
            pre.append(helper.make_node("Cast", [name16], [init.name], to=TensorProto.FLOAT))
        else:
            inits.append(init)
    del g.initializer[:]
    g.initializer.extend(inits)
    for inp in g.input:
        if inp.name in fp16_inputs:
            inp.type.tensor_type.elem_type = TensorProto.FLOAT16
            inner = inp.name + "__f32"
            for node in g.node:
                node.input[:] = [inner if x == inp.name else x for x in node.input]
            pre.append(helper.make_node("Cast", [inp.name], [inner], to=TensorProto.FLOAT))
    post = []
    for out in g.output:
        inner = out.name + "__f32"
        for node in g.node:  # the producer and any node inside that reads it (present.* feed the attention)
            node.output[:] = [inner if x == out.name else x for x in node.output]
            node.input[:] = [inner if x == out.name else x for x in node.input]
        out.type.tensor_type.elem_type = TensorProto.FLOAT16
        post.append(helper.make_node("Cast", [inner], [out.name], to=TensorProto.FLOAT16))
    nodes = pre + list(g.node) + post
    del g.node[:]
    g.node.extend(nodes)
    onnx.checker.check_model(m)
    onnx.save(m, dst)


def ort_vectors(path, batch, eos_id):
    """Vectors from onnxruntime Python, one text at a time (works for batch-1 graphs too), empty past where declared."""
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    inputs = {i.name: i for i in sess.get_inputs()}
    out = []
    for ids in batch:
        n = len(ids)
        feed = {"input_ids": np.array([ids], dtype=np.int64), "attention_mask": np.ones((1, n), dtype=np.int64)}
        if "position_ids" in inputs:
            feed["position_ids"] = np.arange(n, dtype=np.int64)[None, :]
        for name, meta in inputs.items():
            if name.startswith("past_key_values"):
                dtype = np.float16 if meta.type == "tensor(float16)" else np.float32
                feed[name] = np.zeros((1, meta.shape[1], 0, meta.shape[3]), dtype=dtype)
        h = sess.run(None, feed)[0]
        v = h[0, n - 1].astype(np.float64)
        out.append((v / np.linalg.norm(v)).tolist())
    return out


def rope_theta(cfg):
    return getattr(cfg, "rope_parameters", None) and cfg.rope_parameters.get("rope_theta") or cfg.rope_theta


class KvQwen3(torch.nn.Module):
    """Qwen3's forward with position_ids and a KV cache in the signature, as transformers.js exports have."""
    def __init__(self, explicit):
        super().__init__(); self.e = explicit

    def forward(self, input_ids, attention_mask, position_ids, *past):
        e, cfg, m = self.e, self.e.cfg, self.e.m
        b, s = input_ids.shape
        hd, nh, nkv = cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads
        x = m.embed_tokens(input_ids)
        inv = 1.0 / (rope_theta(cfg) ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        f = position_ids.float().unsqueeze(-1) * inv  # [b, s, hd/2]
        emb = torch.cat([f, f], -1); cos, sin = emb.cos().unsqueeze(1), emb.sin().unsqueeze(1)
        def rope(t):
            t1, t2 = t[..., : hd // 2], t[..., hd // 2:]
            return t * cos + torch.cat([-t2, t1], -1) * sin
        past_len = past[0].shape[2]
        total = past_len + s
        q_pos = torch.arange(s).unsqueeze(1) + past_len
        k_pos = torch.arange(total).unsqueeze(0)
        allowed = (k_pos <= q_pos).unsqueeze(0) & attention_mask.bool().unsqueeze(1)
        bias = torch.where(allowed, 0.0, torch.finfo(torch.float32).min).unsqueeze(1)
        presents = []
        for i, layer in enumerate(m.layers):
            a = layer.self_attn
            h = e.rms(x, layer.input_layernorm.weight, cfg.rms_norm_eps)
            q = a.q_proj(h).view(b, s, nh, hd); k = a.k_proj(h).view(b, s, nkv, hd); v = a.v_proj(h).view(b, s, nkv, hd)
            q = e.rms(q, a.q_norm.weight, cfg.rms_norm_eps).transpose(1, 2)
            k = e.rms(k, a.k_norm.weight, cfg.rms_norm_eps).transpose(1, 2)
            v = v.transpose(1, 2)
            q, k = rope(q), rope(k)
            k = torch.cat([past[2 * i], k], 2); v = torch.cat([past[2 * i + 1], v], 2)
            presents += [k, v]
            rep = nh // nkv
            kr = k.repeat_interleave(rep, dim=1); vr = v.repeat_interleave(rep, dim=1)
            w = torch.softmax(q @ kr.transpose(2, 3) / (hd ** 0.5) + bias, dim=-1)
            o = (w @ vr).transpose(1, 2).reshape(b, s, nh * hd)
            x = x + a.o_proj(o)
            h = e.rms(x, layer.post_attention_layernorm.weight, cfg.rms_norm_eps)
            mlp = layer.mlp
            x = x + mlp.down_proj(torch.nn.functional.silu(mlp.gate_proj(h)) * mlp.up_proj(h))
        return (e.rms(x, m.norm.weight, cfg.rms_norm_eps), *presents)


def build(root, model_dir, explicit, config, tok, texts, hf_embed):
    os.makedirs(root, exist_ok=True)
    batch = [tok.encode(t).ids for t in texts]
    fp32_reference = [hf_embed(ids) for ids in batch]
    nkv, hd, layers = config.num_key_value_heads, config.head_dim, config.num_hidden_layers
    sample = (torch.tensor([batch[0], batch[0]]), torch.ones(2, len(batch[0]), dtype=torch.long))

    def repo(name):
        d = os.path.join(root, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(os.path.join(d, "onnx"), exist_ok=True)
        for f in TOKENIZER_FILES:
            shutil.copyfile(os.path.join(model_dir, f), os.path.join(d, f))
        return d

    def write_reference(d, files):
        cases = {}
        for rel, kind in files.items():
            path = os.path.join(d, rel)
            vectors = fp32_reference if kind == "transformers" else ort_vectors(path, batch, None)
            check = ort_vectors(path, batch, None)
            worst_fp32 = min(float(np.dot(a, b)) for a, b in zip(check, fp32_reference))
            print(f"  {os.path.basename(d)}/{rel}: onnxruntime vs transformers fp32, worst cosine {worst_fp32:.6f}")
            if kind == "transformers" and worst_fp32 < 0.99999:
                raise RuntimeError(f"{rel} does not match transformers")
            cases[rel] = {"source": kind, "worst_cosine_to_fp32": worst_fp32,
                          "embeddings": [[round(x, 7) for x in v] for v in vectors]}
        json.dump({"generator": "tools/tiny-model/export_shapes.py", "texts": texts, "ids": batch, "files": cases},
                  open(os.path.join(d, "reference.json"), "w", encoding="utf-8"), ensure_ascii=False, indent=0)

    # FastEmbed: two inputs, hidden state as the first (and only) output under another name, external weights.
    d = repo("qwen3-tiny-fastembed")
    tmp = os.path.join(d, "onnx", "tmp.onnx")
    torch.onnx.export(explicit, sample, tmp, dynamo=False, opset_version=17,
                      input_names=["input_ids", "attention_mask"], output_names=["token_embeddings"],
                      dynamic_axes={"input_ids": {0: "batch_size", 1: "sequence_length"},
                                    "attention_mask": {0: "batch_size", 1: "sequence_length"},
                                    "token_embeddings": {0: "batch_size", 1: "sequence_length"}})
    onnx.save(onnx.load(tmp), os.path.join(d, "onnx", "model.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="model.onnx_data", size_threshold=0)
    os.remove(tmp)
    weight_only_quantize(os.path.join(d, "onnx", "model.onnx"), os.path.join(d, "onnx", "model_quantized.onnx"), 8)
    write_reference(d, {"onnx/model.onnx": "transformers", "onnx/model_quantized.onnx": "onnxruntime"})

    # transformers.js: position_ids and an (empty) KV cache; fp16 and quantized variants.
    d = repo("qwen3-tiny-transformersjs")
    names = [f"past_key_values.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    presents = [f"present.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    past = tuple(torch.zeros(2, nkv, 1, hd) for _ in names)  # traced with one past step, run with none
    ids2, mask2 = sample
    kv_sample = (ids2, torch.ones(2, ids2.shape[1] + 1, dtype=torch.long),
                 torch.arange(1, ids2.shape[1] + 1).unsqueeze(0).repeat(2, 1), *past)
    dyn = {"input_ids": {0: "batch_size", 1: "sequence_length"},
           "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
           "position_ids": {0: "batch_size", 1: "sequence_length"},
           "last_hidden_state": {0: "batch_size", 1: "sequence_length"}}
    for n in names: dyn[n] = {0: "batch_size", 2: "past_sequence_length"}
    for n in presents: dyn[n] = {0: "batch_size", 2: "total_sequence_length"}
    fp32 = os.path.join(d, "onnx", "model.onnx")
    torch.onnx.export(KvQwen3(explicit), kv_sample, fp32, dynamo=False, opset_version=17,
                      input_names=["input_ids", "attention_mask", "position_ids", *names],
                      output_names=["last_hidden_state", *presents], dynamic_axes=dyn)
    onnx.save(onnx.load(fp32), fp32)  # one self-contained file
    fp16_file(fp32, os.path.join(d, "onnx", "model_fp16.onnx"), set(names))
    weight_only_quantize(fp32, os.path.join(d, "onnx", "model_quantized.onnx"), 8)
    weight_only_quantize(fp32, os.path.join(d, "onnx", "model_q4.onnx"), 4)
    write_reference(d, {"onnx/model.onnx": "transformers", "onnx/model_fp16.onnx": "onnxruntime",
                        "onnx/model_quantized.onnx": "onnxruntime", "onnx/model_q4.onnx": "onnxruntime"})

    # Batch dimension fixed at 1: the backend must run such a graph row by row.
    d = repo("qwen3-tiny-batch1")
    os.rmdir(os.path.join(d, "onnx"))
    one = (torch.tensor([batch[0]]), torch.ones(1, len(batch[0]), dtype=torch.long))
    torch.onnx.export(explicit, one, os.path.join(d, "model.onnx"), dynamo=False, opset_version=17,
                      input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                      dynamic_axes={"input_ids": {1: "sequence_length"}, "attention_mask": {1: "sequence_length"},
                                    "last_hidden_state": {1: "sequence_length"}})
    onnx.save(onnx.load(os.path.join(d, "model.onnx")), os.path.join(d, "model.onnx"))
    write_reference(d, {"model.onnx": "transformers"})
