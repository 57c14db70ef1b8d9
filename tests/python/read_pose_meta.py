#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""A DeepStream-style app: runs trtposeinfer and reads the people from the standard
GstVideoRegionOfInterestMeta in a pad probe, with nothing but PyGObject (python3-gi,
python3-gst-1.0). Prints one line per person: `person SCORE NOSE_X NOSE_Y`.

usage: read_pose_meta.py IMAGE.png MODEL.onnx
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, Gst, GstVideo  # noqa: E402

Gst.init(None)
image, model = sys.argv[1], sys.argv[2]
pipeline = Gst.parse_launch(
    f'filesrc location="{image}" ! pngdec ! trtposeinfer name=infer model="{model}" ! fakesink'
)
found = []


def probe(pad, info):
    buf = info.get_buffer()
    roi_id = 0
    while True:
        meta = GstVideo.buffer_get_video_region_of_interest_meta_id(buf, roi_id)
        if meta is None:
            break
        roi_id += 1
        if GLib.quark_to_string(meta.roi_type) != "person":
            continue
        pose = meta.get_param("pose")
        names = list(pose.get_value("keypoint-names"))
        xs, ys = list(pose.get_value("x")), list(pose.get_value("y"))
        nose = names.index("nose")
        found.append((pose.get_value("score"), xs[nose], ys[nose], (meta.x, meta.y, meta.w, meta.h)))
    return Gst.PadProbeReturn.OK


pipeline.get_by_name("infer").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, probe)
pipeline.set_state(Gst.State.PLAYING)
msg = pipeline.get_bus().timed_pop_filtered(60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
pipeline.set_state(Gst.State.NULL)
if msg is None or msg.type == Gst.MessageType.ERROR:
    print("pipeline failed:", msg.parse_error() if msg else "timeout", file=sys.stderr)
    sys.exit(1)
if not found:
    print("no people found in the metadata", file=sys.stderr)
    sys.exit(1)
for score, x, y, box in found:
    print(f"person {score:.6f} {x:.4f} {y:.4f} box={box}")
