#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Post-steps after tf2onnx that change no output: names MoveNet multipose's symbolic input dims
`height`/`width` and drops the unused ai.onnx.ml opset import tf2onnx adds.

usage: finish_onnx.py MODEL.onnx
"""
import sys

import onnx


def main():
    path = sys.argv[1]
    model = onnx.load(path)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) == 4:
        for d, name in ((dims[1], "height"), (dims[2], "width")):
            if d.dim_param:
                d.dim_param = name
    keep = [o for o in model.opset_import if o.domain != "ai.onnx.ml"]
    del model.opset_import[:]
    model.opset_import.extend(keep)
    onnx.checker.check_model(model)
    onnx.save(model, path)


if __name__ == "__main__":
    main()
