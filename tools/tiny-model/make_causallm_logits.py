#!/usr/bin/env python3
"""A graph shaped like a CausalLM export of the tiny model (e.g. optimum's text-generation task): inputs input_ids and
attention_mask, first output 'logits' [batch, sequence, vocab_size]. Its values do not matter: the backend must refuse
it at load, since pooling logits would serve vectors of the wrong size and no meaning.

  python3 tools/tiny-model/make_causallm_logits.py models/exports/qwen3-tiny-causallm
"""
import json, os, shutil, sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto as TP

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "models", "qwen3-tiny")
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "models", "exports", "qwen3-tiny-causallm")
os.makedirs(OUT, exist_ok=True)
cfg = json.load(open(os.path.join(TINY, "config.json")))
V, H = cfg["vocab_size"], cfg["hidden_size"]
rng = np.random.default_rng(20261202)
embed = numpy_helper.from_array(rng.standard_normal((V, 4)).astype(np.float32), "embed")
head = numpy_helper.from_array(rng.standard_normal((4, V)).astype(np.float32), "lm_head")
nodes = [helper.make_node("Gather", ["embed", "input_ids"], ["h"], axis=0),
         helper.make_node("MatMul", ["h", "lm_head"], ["logits"])]
graph = helper.make_graph(nodes, "causal_lm",
                          [helper.make_tensor_value_info("input_ids", TP.INT64, ["batch", "sequence"]),
                           helper.make_tensor_value_info("attention_mask", TP.INT64, ["batch", "sequence"])],
                          [helper.make_tensor_value_info("logits", TP.FLOAT, ["batch", "sequence", V])], [embed, head])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.save(model, os.path.join(OUT, "model.onnx"))
for f in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"):
    shutil.copy(os.path.join(TINY, f), OUT)
print(f"wrote {OUT}/model.onnx: logits [batch, sequence, {V}], hidden_size {H}")
