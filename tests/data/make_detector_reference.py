#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Independent reference for the detector family: CenterNet's person boxes on the shared photos,
computed without the product: PIL decodes, numpy letterboxes (plain bilinear at pixel centres,
not the product's antialiased resize), onnxruntime runs the model, numpy filters and runs NMS.

usage: make_detector_reference.py SHARED_DIR OUT.json   (needs onnxruntime, numpy, pillow)
"""
import json
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image

PHOTOS = ["media/astronaut.png", "media/basketball1.png", "media/grace_hopper.jpg",
          "media/messi5.jpg", "media/frames/vtest_walk_10s_frame050.png"]
SIZE, MIN_SCORE, NMS_IOU = 512, 0.3, 0.5


def bilinear(img, w, h):
    sh, sw = img.shape[:2]
    ys = np.clip((np.arange(h) + 0.5) * sh / h - 0.5, 0, sh - 1)
    xs = np.clip((np.arange(w) + 0.5) * sw / w - 0.5, 0, sw - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, sh - 1), np.minimum(x0 + 1, sw - 1)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    f = img.astype(np.float32)
    top = f[y0][:, x0] * (1 - fx) + f[y0][:, x1] * fx
    bottom = f[y1][:, x0] * (1 - fx) + f[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def main():
    shared, out = sys.argv[1], sys.argv[2]
    sess = ort.InferenceSession(f"{shared}/models/centernet-512x512.onnx")
    result = {}
    for rel in PHOTOS:
        img = np.asarray(Image.open(f"{shared}/{rel}").convert("RGB"))
        h, w = img.shape[:2]
        scale = min(SIZE / w, SIZE / h)
        cw, ch = round(w * scale), round(h * scale)
        px, py = (SIZE - cw) // 2, (SIZE - ch) // 2
        inp = np.zeros((1, SIZE, SIZE, 3), np.float32)
        inp[0, py:py + ch, px:px + cw] = bilinear(img, cw, ch)
        rows = sess.run(["detections"], {"image": inp})[0][0]
        sx, sy = cw / w, ch / h
        boxes = []
        for x1, y1, x2, y2, score, cls in rows:
            if int(round(cls)) != 0 or score < MIN_SCORE:
                continue
            b = [(x1 - px) / sx, (y1 - py) / sy, (x2 - px) / sx, (y2 - py) / sy]
            b = [min(max(b[0], 0), w), min(max(b[1], 0), h), min(max(b[2], 0), w), min(max(b[3], 0), h)]
            boxes.append((float(score), b))
        boxes.sort(key=lambda t: -t[0])
        kept = []
        for s, b in boxes:
            if all(iou(b, k[1]) <= NMS_IOU for k in kept):
                kept.append((s, b))
        result[rel] = [{"score": round(s, 4), "bbox": [round(float(v), 2) for v in b]} for s, b in kept]
        print(rel, len(kept), [round(s, 2) for s, _ in kept])
    with open(out, "w") as f:
        json.dump({"model": "centernet-512x512.onnx", "min_score": MIN_SCORE, "nms_iou": NMS_IOU,
                   "letterbox": SIZE, "photos": result}, f, indent=1)


if __name__ == "__main__":
    main()
