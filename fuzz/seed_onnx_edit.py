#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Writes fuzz/corpus/onnx_edit/seed.onnx: a tiny real model (Conv, a Constant, Mul, Resize
with float scales) that exercises every path of the fp16 and calibration editors."""
import pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

w = numpy_helper.from_array(np.ones((2, 3, 1, 1), np.float32), "w")
scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
nodes = [
    helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(np.array([0.5], np.float32))),
    helper.make_node("Conv", ["x", "w"], ["y"]),
    helper.make_node("Mul", ["y", "k"], ["z"]),
    helper.make_node("Resize", ["z", "", "scales"], ["out"], mode="nearest"),
]
graph = helper.make_graph(nodes, "seed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 2, 8, 8])], [w, scales])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.checker.check_model(model)
out = pathlib.Path(__file__).parent / "corpus/onnx_edit/seed.onnx"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_bytes(model.SerializeToString())
print(f"wrote {out}")
