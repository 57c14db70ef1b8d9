#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Makes an old tfjs graph-model JSON acceptable to TensorFlow 2.15 for tf2onnx's --tfjs reader.

tf2onnx rebuilds each node as a TensorFlow NodeDef and imports it into the installed
TensorFlow. Graphs exported by older TensorFlow lack attributes that TF 2.15's op definitions
require, so the import fails (`NodeDef missing attr 'TArgs'`, then `KeyError: 'index_type'`).
This adds `TArgs` (one input type per extra argument) to `_FusedConv2D` and fills every
attribute that a node lacks but whose op definition gives a default. Nothing that a node
computes changes; the weight files are copied unchanged. It prints, per op, which attributes it
filled in how many nodes (e.g. CenterNet's one TopKV2 gets `Tk` and `index_type`).

usage: fix_tfjs_attrs.py MODEL.json OUT_DIR
"""
import json
import pathlib
import shutil
import sys

from google.protobuf import json_format
import tensorflow  # noqa: F401  (registers the op definitions, internal ones included)
from tensorflow.python.framework import op_def_registry


def fix_nodes(nodes):
    """Fills the attributes in place; returns {op: {attribute: how many nodes got it}}."""
    filled = {}

    def count(op, name):
        per_op = filled.setdefault(op, {})
        per_op[name] = per_op.get(name, 0) + 1

    for node in nodes:
        attr = node.setdefault("attr", {})
        if node["op"] == "_FusedConv2D" and "TArgs" not in attr:
            t = attr.get("T", {"type": "DT_FLOAT"})["type"]
            attr["TArgs"] = {"list": {"type": [t] * int(attr.get("num_args", {"i": "0"})["i"])}}
            count(node["op"], "TArgs")
        op_def = op_def_registry.get(node["op"])
        if op_def is None:
            continue
        for a in op_def.attr:
            if a.name not in attr and a.HasField("default_value"):
                attr[a.name] = json_format.MessageToDict(a.default_value)
                count(node["op"], a.name)
    return filled


def main():
    src, out_dir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    model = json.loads(src.read_text())
    topo = model["modelTopology"]
    nodes = list(topo.get("node", []))
    for fn in topo.get("library", {}).get("function", []):
        nodes.extend(fn.get("nodeDef", []))
    filled = fix_nodes(nodes)
    (out_dir / src.name).write_text(json.dumps(model))
    for group in model.get("weightsManifest", []):
        for p in group["paths"]:
            shutil.copyfile(src.parent / p, out_dir / p)
    total = sum(n for per_op in filled.values() for n in per_op.values())
    print(f"{src.name}: filled {total} attributes")
    for op, per_op in sorted(filled.items()):
        print(f"  {op}: " + ", ".join(f"{a} x{n}" for a, n in sorted(per_op.items())))


if __name__ == "__main__":
    main()
