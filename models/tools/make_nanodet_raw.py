#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""A tiny synthetic stand-in for the raw NanoDet conversion, so nanodet_rows.py and the
detector family can be tested without TensorFlow or the real weights.

Same interface as the raw network nanodet_rows.py expects: opset 17, input `image` float32
[1,3,416,416] (NCHW BGR, normalised as NanoDet's), outputs per stride s in 8, 16, 32
(n = 416 / s, cells row-major):
  scores_strideS     [1, n*n, 80]  in 0..1
  box_logits_strideS [1, n*n, 44]  side * 11 + bin, sides left, top, right, bottom

Per stride the graph is an average pool to the cell grid (8x8 for stride 8, then 2x2 of the
previous stride's) -> 1x1 Conv (fixed seeded weights), so each cell sees the mean of its s x s
input pixels, m = (mB, mG, mR), normalised:
  person logit  = PERSON_GAIN * (mean(m) - PERSON_LEVEL) - PRIOR_STEP * row
                  (row = the cell's index over all strides, 8 then 16 then 32, as in the rows
                  nanodet_rows.py makes); a bright cell scores high, a black one ~0, and the
                  small falling prior keeps cells of a uniform area from tying
  other classes = seeded random weights and biases (only class 0 is read downstream)
  box logit     = BIN_GAIN * mean(m) * -|bin - TARGET_BIN[side]| + seeded noise; a bright cell
                  favours bins TARGET_BIN = (2, 3, 4, 6) for (left, top, right, bottom), i.e.
                  roughly a box from 2 strides left to 4 right, 3 up to 6 down of its centre
  scores = sigmoid(logits)

`forward(x, seed)` computes the same outputs with numpy alone (float64), for references that do
not depend on ONNX Runtime.

usage: make_nanodet_raw.py OUT.onnx [--seed N]   (needs numpy and onnx)
"""
import argparse

import numpy as np

SIZE = 416
STRIDES = (8, 16, 32)
CLASSES = 80
BINS = 11
SIDES = 4
OPSET = 17
PERSON_GAIN = 3.0
PERSON_LEVEL = 1.0
PRIOR_STEP = 1e-3
BIN_GAIN = 1.0
TARGET_BIN = (2, 3, 4, 6)


def cells(s):
    return (SIZE // s) ** 2


def params(seed):
    """The fixed weights: per stride (cls_w [80,3], cls_b [80], prior [n*n], reg_w [44,3],
    reg_b [44]), drawn in a fixed order from `seed`."""
    rng = np.random.default_rng(seed)
    out = {}
    first_row = 0
    for s in STRIDES:
        cls_w = rng.normal(0.0, 1.0, (CLASSES, 3))
        cls_b = rng.normal(-1.0, 1.0, CLASSES)
        cls_w[0] = PERSON_GAIN / 3.0
        cls_b[0] = -PERSON_GAIN * PERSON_LEVEL
        prior = -PRIOR_STEP * (first_row + np.arange(cells(s)))
        first_row += cells(s)
        shape = np.array([-abs(k - TARGET_BIN[side]) for side in range(SIDES) for k in range(BINS)],
                         np.float64)
        reg_w = BIN_GAIN * shape[:, None] / 3.0 + rng.normal(0.0, 0.1, (SIDES * BINS, 3))
        reg_b = rng.normal(0.0, 0.3, SIDES * BINS)
        # Stored as float32 in the model: the reference uses exactly those values.
        f32 = lambda a: np.asarray(a, np.float32).astype(np.float64)  # noqa: E731
        out[s] = dict(cls_w=f32(cls_w), cls_b=f32(cls_b), prior=f32(prior), reg_w=f32(reg_w),
                      reg_b=f32(reg_b))
    return out


def forward(x, seed):
    """numpy reference of the model: x [1,3,416,416] (normalised BGR) -> {output name: array}."""
    x = np.asarray(x, np.float64)
    assert x.shape == (1, 3, SIZE, SIZE), x.shape
    out = {}
    for s, p in params(seed).items():
        n = SIZE // s
        pooled = x[0].reshape(3, n, s, n, s).mean(axis=(2, 4)).reshape(3, n * n).T  # [n*n, 3]
        logits = pooled @ p["cls_w"].T + p["cls_b"]
        logits[:, 0] += p["prior"]
        out[f"scores_stride{s}"] = (1.0 / (1.0 + np.exp(-logits)))[None]
        out[f"box_logits_stride{s}"] = (pooled @ p["reg_w"].T + p["reg_b"])[None]
    return out


def build(seed):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, outputs = [], [], []

    def const(name, a):
        inits.append(numpy_helper.from_array(np.asarray(a), name))
        return name

    pooled = "image"
    for s, p in params(seed).items():
        n = SIZE // s
        hw = n * n
        # A pyramid (8x8, then 2x2 of that, ...): the same means as an s x s pool, with short
        # float32 sums, so ONNX Runtime stays within ~1e-6 (relative) of the float64 reference.
        k = s if pooled == "image" else 2
        nodes.append(helper.make_node("AveragePool", [pooled], [f"pool_s{s}"], kernel_shape=[k, k],
                                      strides=[k, k]))
        pooled = f"pool_s{s}"
        for kind, w, b, width in (("cls", p["cls_w"], p["cls_b"], CLASSES),
                                  ("reg", p["reg_w"], p["reg_b"], SIDES * BINS)):
            conv, rows = f"{kind}_conv_s{s}", f"{kind}_rows_s{s}"
            nodes.append(helper.make_node(
                "Conv", [pooled, const(f"{kind}_w_s{s}", w.astype(np.float32).reshape(width, 3, 1, 1)),
                         const(f"{kind}_b_s{s}", b.astype(np.float32))], [conv]))
            nodes.append(helper.make_node("Transpose", [conv], [conv + "_nhwc"], perm=[0, 2, 3, 1]))
            nodes.append(helper.make_node(
                "Reshape", [conv + "_nhwc", const(f"{kind}_shape_s{s}", np.array([1, hw, width], np.int64))],
                [rows]))
        # The person prior as [1, hw, 1] times a one-hot class row, added to the logits.
        onehot = np.zeros((1, 1, CLASSES), np.float32)
        onehot[0, 0, 0] = 1.0
        nodes.append(helper.make_node(
            "Mul", [const(f"prior_s{s}", p["prior"].astype(np.float32).reshape(1, hw, 1)),
                    const(f"person_onehot_s{s}", onehot)], [f"prior_full_s{s}"]))
        nodes.append(helper.make_node("Add", [f"cls_rows_s{s}", f"prior_full_s{s}"],
                                      [f"cls_logits_s{s}"]))
        nodes.append(helper.make_node("Sigmoid", [f"cls_logits_s{s}"], [f"scores_stride{s}"]))
        nodes.append(helper.make_node("Identity", [f"reg_rows_s{s}"], [f"box_logits_stride{s}"]))
        outputs += [helper.make_tensor_value_info(f"scores_stride{s}", TensorProto.FLOAT, [1, hw, CLASSES]),
                    helper.make_tensor_value_info(f"box_logits_stride{s}", TensorProto.FLOAT,
                                                  [1, hw, SIDES * BINS])]
    graph = helper.make_graph(
        nodes, "synthetic_nanodet_raw",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, SIZE, SIZE])], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="gst-trtpose make_nanodet_raw.py")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import onnx
    onnx.save(build(args.seed), args.out)


if __name__ == "__main__":
    main()
