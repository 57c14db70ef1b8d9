#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Wraps the raw NanoDet conversion into a detector that trtposeinfer's box-rows family reads
as it reads CenterNet's `detections`, so no Rust decoder is needed for it.

The raw network (tf2onnx from tfjs) takes `image` float32 [1,3,416,416] NCHW BGR normalised with
mean [103.53, 116.28, 123.675] / std [57.375, 57.12, 58.395] (B, G, R), and gives per stride s in
8, 16, 32 (grid n = 416/s, cell i -> gx = i % n, gy = i // n):
  scores_strideS     [1, n*n, 80]  sigmoid class probabilities (class 0 = person)
  box_logits_strideS [1, n*n, 44]  side*11 + bin, sides left, top, right, bottom;
                                   distance = sum(softmax(bins) * k, k = 0..10) * s
  box = [cx - l, cy - t, cx + r, cy + b], cx = (gx + 0.5) s, cy = (gy + 0.5) s (input pixels).

The wrapped graph:
  input  `image`      float32 [1,416,416,3] NHWC RGB, raw 0..255 (letterboxed on black); inside:
                      transpose to NCHW, channels reversed to BGR, (x - mean) / std
  output `detections` float32 [1,3549,6], one row per cell of every stride (the 52x52 cells of
                      stride 8 first, then 26x26 of 16, then 13x13 of 32, each row-major):
                      [x1, y1, x2, y2, person_score, 0] in 416-input pixels. The score is the
                      class-0 (person) sigmoid probability and the class column is always 0:
                      only people matter here, so a row is a person candidate of that cell,
                      not the cell's best class. No threshold and no NMS inside.
The six raw outputs are removed (their tensors are renamed nanodet_cls_sS / nanodet_reg_sS, so
the file no longer holds the names `scores_strideS` / `box_logits_strideS`).

usage: nanodet_rows.py IN.onnx OUT.onnx
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZE = 416
STRIDES = (8, 16, 32)
BINS = 11  # reg_max 10: distances 0..10 strides
CLASSES = 80
MEAN_BGR = (103.53, 116.28, 123.675)
STD_BGR = (57.375, 57.12, 58.395)
P = "rows/"  # prefix of every tensor and node this script adds


def const(graph, name, array):
    graph.initializer.append(numpy_helper.from_array(np.asarray(array), P + name))
    return P + name


def node(graph, op, inputs, name, **attrs):
    graph.node.append(helper.make_node(op, inputs, [P + name], name=P + name, **attrs))
    return P + name


def wrap(model):
    g = model.graph
    if [o.name for o in g.output] == ["detections"]:
        sys.exit("this is already the rows form (its one output is `detections`)")
    if [i.name for i in g.input] != ["image"] or [d.dim_value for d in
                                                  g.input[0].type.tensor_type.shape.dim] != [1, 3, SIZE, SIZE]:
        sys.exit("expected the raw NanoDet: one input `image` [1,3,416,416]")
    raw = {f"scores_stride{s}": f"nanodet_cls_s{s}" for s in STRIDES}
    raw.update({f"box_logits_stride{s}": f"nanodet_reg_s{s}" for s in STRIDES})
    if sorted(o.name for o in g.output) != sorted(raw):
        sys.exit(f"expected the raw NanoDet outputs {sorted(raw)}, found {[o.name for o in g.output]}")

    # The network's input becomes an internal tensor; its old outputs get internal names.
    net_in = P + "bgr_normalised"
    for n in g.node:
        n.input[:] = [net_in if t == "image" else raw.get(t, t) for t in n.input]
        n.output[:] = [raw.get(t, t) for t in n.output]

    old_nodes = list(g.node)
    del g.node[:]
    del g.input[:]
    del g.output[:]
    g.input.append(helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, SIZE, SIZE, 3]))

    # Pre-processing: NHWC RGB 0..255 -> NCHW BGR (x - mean) / std.
    nchw = node(g, "Transpose", ["image"], "nchw_rgb", perm=[0, 3, 1, 2])
    bgr = node(g, "Gather", [nchw, const(g, "rgb_to_bgr", np.array([2, 1, 0], np.int64))], "nchw_bgr", axis=1)
    mean = const(g, "mean_bgr", np.array(MEAN_BGR, np.float32).reshape(1, 3, 1, 1))
    std = const(g, "std_bgr", np.array(STD_BGR, np.float32).reshape(1, 3, 1, 1))
    centred = node(g, "Sub", [bgr, mean], "centred")
    g.node.append(helper.make_node("Div", [centred, std], [net_in], name=net_in))

    g.node.extend(old_nodes)

    # Decoding, per stride: distances = softmax(bins) . (k * s) with the sides' signs, plus the
    # cell centres; the person score is column 0 of the class probabilities.
    boxes, scores = [], []
    starts = const(g, "col0_start", np.array([0], np.int64))
    ends = const(g, "col0_end", np.array([1], np.int64))
    axes = const(g, "col0_axis", np.array([2], np.int64))
    for s in STRIDES:
        n = SIZE // s
        hw = n * n
        logits = node(g, "Reshape", [f"nanodet_reg_s{s}", const(g, f"bins_shape_s{s}",
                                                                  np.array([1, hw, 4, BINS], np.int64))],
                      f"bins_s{s}")
        prob = node(g, "Softmax", [logits], f"softmax_s{s}", axis=-1)
        # k * s: exact (s is a power of two), so this equals the expectation times s.
        weights = const(g, f"bin_weights_s{s}", (np.arange(BINS, dtype=np.float32) * s).reshape(BINS, 1))
        dist = node(g, "MatMul", [prob, weights], f"dist_s{s}")  # [1, hw, 4, 1]
        dist = node(g, "Reshape", [dist, const(g, f"dist_shape_s{s}", np.array([1, hw, 4], np.int64))],
                    f"dist4_s{s}")
        signed = node(g, "Mul", [dist, const(g, f"side_sign_s{s}", np.array([-1, -1, 1, 1], np.float32))],
                      f"signed_s{s}")
        i = np.arange(hw)
        cx = (i % n + 0.5) * s
        cy = (i // n + 0.5) * s
        centres = np.stack([cx, cy, cx, cy], 1).astype(np.float32)[None]  # [1, hw, 4]
        boxes.append(node(g, "Add", [const(g, f"centres_s{s}", centres), signed], f"boxes_s{s}"))
        scores.append(node(g, "Slice", [f"nanodet_cls_s{s}", starts, ends, axes], f"person_s{s}"))

    total = sum((SIZE // s) ** 2 for s in STRIDES)
    box = node(g, "Concat", boxes, "boxes", axis=1)
    score = node(g, "Concat", scores, "person_scores", axis=1)
    cls = const(g, "person_class", np.zeros((1, total, 1), np.float32))
    g.node.append(helper.make_node("Concat", [box, score, cls], ["detections"], name=P + "detections", axis=2))
    g.output.append(helper.make_tensor_value_info("detections", TensorProto.FLOAT, [1, total, 6]))
    # Shapes recorded for the raw outputs would now describe internal tensors: let checks redo them.
    del g.value_info[:]
    return model


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model = onnx.load(sys.argv[1])
    if model.opset_import[0].version != 17 or len(model.opset_import) != 1:
        sys.exit(f"expected opset 17 (default domain only), found {model.opset_import}")
    model = wrap(model)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, sys.argv[2])


if __name__ == "__main__":
    main()
