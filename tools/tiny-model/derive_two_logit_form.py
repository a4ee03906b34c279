#!/usr/bin/env python3
"""Writes the tiny reranker's two-logit form (onnx/model_yes_no.onnx, logits [batch, 2]) from its one-logit form
(model.onnx, logits [batch, 1] = lm_head[yes] - lm_head[no]), for the worker's two-logit path to be tested on.

The two columns are [0, lm_head[yes] - lm_head[no]]: the "no" and "yes" logits shifted by the "no" logit, which a
softmax cannot tell from the model's own pair (softmax(x - c) = softmax(x)), so P(yes) and the yes-no difference are
the model's. make_tiny_qwen3_reranker.py also exports the two-logit form by tracing transformers (onnx/model_yes_no.onnx
on the device, 1e-6 from transformers and from the one-logit form: reference.json's checks); that file is the one to
keep where it can be brought back. This derivation needs only onnx (no transformers), so it runs anywhere.

  /usr/bin/python3 tools/tiny-model/derive_two_logit_form.py models/qwen3-reranker-tiny
"""
import os, sys
import numpy as np
import onnx
from onnx import numpy_helper

d = sys.argv[1] if len(sys.argv) > 1 else "models/qwen3-reranker-tiny"
m = onnx.load(os.path.join(d, "model.onnx"), load_external_data=True)
(head,) = [t for t in m.graph.initializer if t.name == "score_head"]
diff = numpy_helper.to_array(head)
assert diff.shape[1] == 1, f"model.onnx is not the one-logit form: score_head {diff.shape}"
two = np.concatenate([np.zeros_like(diff), diff], 1)
head.CopyFrom(numpy_helper.from_array(two, "score_head"))
(out,) = [o for o in m.graph.output if o.name == "logits"]
out.type.tensor_type.shape.dim[1].dim_value = 2
os.makedirs(os.path.join(d, "onnx"), exist_ok=True)
onnx.save(m, os.path.join(d, "onnx", "model_yes_no.onnx"), save_as_external_data=False)
print("wrote", os.path.join(d, "onnx", "model_yes_no.onnx"), os.path.getsize(os.path.join(d, "onnx", "model_yes_no.onnx")))
