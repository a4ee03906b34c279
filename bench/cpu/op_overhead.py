#!/usr/bin/env python3
"""A chain of N Mul operators (x * w, w broadcast over the last axis, as a norm's weight is) of one shape, opset 17,
for Embedding.Bench opoverhead: python3 bench/cpu/op_overhead.py OUT.onnx N D0xD1x..."""
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

path, count, shape = sys.argv[1], int(sys.argv[2]), [int(d) for d in sys.argv[3].split("x")]
weight = numpy_helper.from_array(np.full(shape[-1:], 1.0001, np.float32), "w")
nodes = [helper.make_node("Mul", ["x" if i == 0 else f"y{i - 1}", "w"], [f"y{i}"]) for i in range(count)]
graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info(f"y{count - 1}", TensorProto.FLOAT, shape)], [weight])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.save(model, path)
