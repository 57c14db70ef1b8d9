#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Deterministic trt_pose-architecture ONNX models, for exercising the trt_pose path without
the real weights.

  resnet18   resnet18_baseline_att (torchvision ResNet-18 backbone + trt_pose's
             CmapPafHeadAttention head: 3 transposed-conv up-samplings per branch, sigmoid /
             tanh attention, 1x1 output convs) with seeded random weights. The output convs
             are rescaled so the maps look like a trained network's (cmap mostly below the
             0.1 threshold, a few peaks), which keeps parsing cost realistic.
  constant   a tiny model whose outputs are a trt_pose parse vector's cmap and paf, exactly
             (output = constant + 0 * sum(input)); feeding it through trtposeinfer must
             reproduce that vector's people.

--layout nchw gives the PyTorch/torch2trt I/O (input normalized outside, cmap/paf NCHW);
--layout nhwc gives trt_pose's isaac export (input in [0,1], normalization inside the graph,
outputs part_affinity_fields, heatmap, maxpool_heatmap in NHWC).

Needs numpy and onnx (scripts/setup.sh installs them into .venv); onnxruntime is used for
the rescaling step of `resnet18`.
"""

import argparse
import json
import pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


class Graph:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.count = [], [], 0

    def model(self, name, image, in_shape, outputs):
        """The checked model: one float input, and `outputs` as (name, source, shape), each
        named by an Identity."""
        for out, src, _ in outputs:
            self.nodes.append(helper.make_node("Identity", [src], [out]))
        graph = helper.make_graph(
            self.nodes, name,
            [helper.make_tensor_value_info(image, TensorProto.FLOAT, in_shape)],
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, _, s in outputs],
            self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="gst-trtpose make_trt_pose_onnx.py")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model

    def name(self, prefix):
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, array, prefix="c"):
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
        return name

    def op(self, op_type, inputs, prefix=None, **attrs):
        out = self.name(prefix or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def conv(self, x, cin, cout, k, stride=1, pad=0, bias=False, gain=2.0):
        w = self.rng.standard_normal((cout, cin, k, k)) * np.sqrt(gain / (cin * k * k))
        inputs = [x, self.const(w, "w")]
        if bias:
            inputs.append(self.const(np.zeros(cout), "b"))
        return self.op("Conv", inputs, kernel_shape=[k, k], strides=[stride] * 2, pads=[pad] * 4)

    def bn(self, x, c):
        r = self.rng
        params = [1 + 0.1 * r.standard_normal(c), 0.1 * r.standard_normal(c),
                  0.1 * r.standard_normal(c), 1 + 0.1 * np.abs(r.standard_normal(c))]
        return self.op("BatchNormalization", [x] + [self.const(p) for p in params], epsilon=1e-5)

    def relu(self, x):
        return self.op("Relu", [x])

    def up(self, x, cin, cout):
        # ConvTranspose2d(k=4, s=2, p=1): weight [in, out, kh, kw] as in PyTorch.
        w = self.rng.standard_normal((cin, cout, 4, 4)) * np.sqrt(2.0 / (cin * 4))
        y = self.op("ConvTranspose", [x, self.const(w, "w"), self.const(np.zeros(cout), "b")],
                    kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1])
        return self.relu(self.bn(y, cout))


def basic_block(g, x, cin, cout, stride):
    y = g.relu(g.bn(g.conv(x, cin, cout, 3, stride, 1), cout))
    y = g.bn(g.conv(y, cout, cout, 3, 1, 1), cout)
    short = x if stride == 1 and cin == cout else g.bn(g.conv(x, cin, cout, 1, stride), cout)
    return g.relu(g.op("Add", [y, short]))


def resnet18_backbone(g, x):
    x = g.relu(g.bn(g.conv(x, 3, 64, 7, 2, 3), 64))
    x = g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 64
    for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        x = basic_block(g, x, cin, cout, stride)
        x = basic_block(g, x, cout, cout, 1)
        cin = cout
    return x, cin


def head_branch(g, x, cin, out_channels, activation, out_gain):
    for c in (cin, 256, 256):
        x = g.up(x, c, 256)
    att = g.op(activation, [g.conv(x, 256, 256, 3, 1, 1, bias=True, gain=1.0)])
    x = g.op("Mul", [x, att])
    return g.conv(x, 256, out_channels, 1, bias=True, gain=out_gain)


def finish(g, image, cmap, paf, layout, size, parts, links):
    """Adds layout-specific inputs/outputs and returns the model."""
    h = w = size
    if layout == "nchw":
        outputs = [("cmap", cmap, [1, parts, h // 4, w // 4]),
                   ("paf", paf, [1, 2 * links, h // 4, w // 4])]
    else:
        pool = g.op("MaxPool", [cmap], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
        t = lambda x: g.op("Transpose", [x], perm=[0, 2, 3, 1])
        outputs = [("part_affinity_fields", t(paf), [1, h // 4, w // 4, 2 * links]),
                   ("heatmap", t(cmap), [1, h // 4, w // 4, parts]),
                   ("maxpool_heatmap", t(pool), [1, h // 4, w // 4, parts])]
    return g.model("trt_pose", image, [1, 3, h, w], outputs)


def build_resnet18(seed, size, layout, cmap_gain, paf_gain, parts=18, links=21):
    g = Graph(seed)
    image = "input"
    x = image
    if layout == "nhwc":
        # isaac export: [0,1] input, normalization inside the graph.
        x = g.op("Div", [g.op("Sub", [x, g.const(MEAN.reshape(1, 3, 1, 1))]),
                         g.const(STD.reshape(1, 3, 1, 1))])
    feat, c = resnet18_backbone(g, x)
    cmap = head_branch(g, feat, c, parts, "Sigmoid", cmap_gain)
    paf = head_branch(g, feat, c, 2 * links, "Tanh", paf_gain)
    return finish(g, image, cmap, paf, layout, size, parts, links)


def probe_input(size, layout):
    """A deterministic smooth test image in the model's input convention."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    rgb = np.stack([0.5 + 0.4 * np.sin(6 * xx), 0.5 + 0.4 * np.cos(5 * yy), xx * yy])
    if layout == "nchw":
        rgb = (rgb - MEAN[:, None, None]) / STD[:, None, None]
    return rgb[None].astype(np.float32)


def resnet18(args):
    # First pass with unit gains measures the output spread; the second rescales the output
    # convs so cmap has std `--cmap-std` and paf `--paf-std` on a probe image.
    model = build_resnet18(args.seed, args.size, args.layout, 1.0, 1.0)
    import onnxruntime as ort
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    outs = sess.run(None, {"input": probe_input(args.size, args.layout)})
    if args.layout == "nchw":
        cmap, paf = outs
    else:
        paf, cmap, _ = outs
    cmap_gain = (args.cmap_std / max(float(cmap.std()), 1e-12)) ** 2
    paf_gain = (args.paf_std / max(float(paf.std()), 1e-12)) ** 2
    return build_resnet18(args.seed, args.size, args.layout, cmap_gain, paf_gain)


def constant(args):
    spec_path = pathlib.Path(args.vector)
    spec = json.loads(spec_path.read_text())
    h, w = spec["height"], spec["width"]
    c, k = spec["num_parts"], spec["num_links"]
    read = lambda f, n: np.fromfile(spec_path.parent / spec[f], "<f4").reshape(n, h, w)
    maps = {"cmap": read("cmap_file", c), "paf": read("paf_file", 2 * k)}
    g = Graph(0)
    image = "input"
    zero = g.op("Mul", [g.op("ReduceSum", [image], keepdims=1), g.const(np.zeros((1, 1, 1, 1)))])
    outs = {}
    for name, arr in maps.items():
        if args.layout == "nhwc":
            arr = arr.transpose(1, 2, 0)
        outs[name] = g.op("Add", [g.const(arr[None]), zero])
    nodes_cmap, nodes_paf = outs["cmap"], outs["paf"]
    if args.layout == "nchw":
        outputs = [("cmap", nodes_cmap, [1, c, h, w]), ("paf", nodes_paf, [1, 2 * k, h, w])]
    else:
        outputs = [("part_affinity_fields", nodes_paf, [1, h, w, 2 * k]),
                   ("heatmap", nodes_cmap, [1, h, w, c])]
    return g.model("trt_pose_constant", image, [1, 3, 4 * h, 4 * w], outputs)


def broken(args):
    """Models that must be refused or warned about: `nan` (outputs NaN/Inf: a division by
    zero), `notimage` (a [1, 10] vector input), `badrank` (rank-3 cmap/paf outputs)."""
    g = Graph(0)
    image = "input"
    in_shape = [1, 10] if args.flavor == "notimage" else [1, 3, 224, 224]
    # A scalar zero that depends on the input, so outputs keep their declared rank.
    zero = g.op("Mul", [g.op("ReduceSum", [image], keepdims=0), g.const(np.zeros(()))])
    shapes = {"cmap": [1, 18, 56, 56], "paf": [1, 42, 56, 56]}
    if args.flavor == "badrank":
        shapes = {"cmap": [1, 18, 56], "paf": [1, 42, 56]}
    outs = []
    for name, shape in shapes.items():
        value = g.op("Add", [g.const(np.full(shape, 0.5, np.float32)), zero])
        if args.flavor == "nan":
            # 0/0 = NaN in cmap, x/0 = Inf in paf.
            num = zero if name == "cmap" else value
            value = g.op("Div", [num, g.const(np.zeros(shape, np.float32))])
        outs.append((name, value, shape))
    return g.model("broken", image, in_shape, outs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="kind", required=True)
    r = sub.add_parser("resnet18", help="random-weight resnet18_baseline_att")
    r.add_argument("--size", type=int, default=224)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--cmap-std", type=float, default=0.03)
    r.add_argument("--paf-std", type=float, default=0.05)
    r.add_argument("--batch", type=int, default=1,
                   help="batch dimension of input and outputs; 0 = dynamic ('batch')")
    c = sub.add_parser("constant", help="outputs equal to a parse vector's maps")
    c.add_argument("vector", help="a parse vector's NAME.json")
    b = sub.add_parser("broken", help="models the element must refuse or warn about")
    b.add_argument("flavor", choices=["nan", "notimage", "badrank"])
    b.add_argument("-o", "--output", required=True)
    for p in (r, c):
        p.add_argument("--layout", choices=["nchw", "nhwc"], default="nchw")
        p.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    if args.kind == "resnet18":
        model = resnet18(args)
        if args.batch != 1:
            for v in list(model.graph.input) + list(model.graph.output):
                d = v.type.tensor_type.shape.dim[0]
                if args.batch == 0:
                    d.dim_param = "batch"
                else:
                    d.dim_value = args.batch
            onnx.checker.check_model(model)
    elif args.kind == "constant":
        model = constant(args)
    else:
        model = broken(args)
    onnx.save(model, args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
