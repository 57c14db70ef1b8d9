#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""numpy reference for tests/nanodet_rows.rs: what nanodet_rows.py's wrapped model and
trtposeinfer's detector family must give for the synthetic raw NanoDet of make_nanodet_raw.py,
computed without ONNX Runtime and without the product's code:

  letterbox  the frame into 416x416 as the product documents it (scale = min(416/w, 416/h),
             content round(w * scale) x round(h * scale), centred, black padding), resized with
             PIL's BILINEAR algorithm (triangle filter widened by the downscale factor), kept
             as floats (the product does not round to 8 bits for float inputs)
  normalise  NHWC RGB 0..255 -> NCHW BGR (x - mean) / std, NanoDet's constants
  network    make_nanodet_raw.forward (numpy, float64)
  decode     per stride: distance = sum(softmax(bins) * k) * s, box = centre -+ distances,
             score = class 0 probability, class 0; strides 8, 16, 32, cells row-major
  filter     score >= MIN_SCORE, greedy NMS (best first, drop IoU > NMS_IOU with a kept box),
             the best MAX_PEOPLE kept, boxes mapped back to frame pixels ((x - pad) / scale)
             and clipped to the frame

It also runs the raw model with onnxruntime on the same input and fails when that differs
from the numpy forward by more than 1e-4 (the reference is only as good as that match).

Writes to OUT_DIR: input.f32 (the letterboxed NHWC float32 input), rows.f32 (the decoded
[3549, 6] rows, float32) and expected.json (geometry, the boxes in frame pixels with scores,
best first, and margins: how close any decision came to flipping).

usage: nanodet_reference.py RAW.onnx SEED FRAME.rgb WIDTH HEIGHT OUT_DIR
"""
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "models/tools"))
import make_nanodet_raw as raw  # noqa: E402

SIZE = 416
STRIDES = (8, 16, 32)
BINS = 11
MEAN_BGR = np.array([103.53, 116.28, 123.675])
STD_BGR = np.array([57.375, 57.12, 58.395])
MIN_SCORE = 0.3
NMS_IOU = 0.5
MAX_PEOPLE = 100  # trtposeinfer's max-people default


def pil_bilinear_weights(in_size, out_size):
    """[out_size, in_size] matrix of PIL's BILINEAR resampling (ImagingResample's precompute)."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 1.0 * filterscale
    m = np.zeros((out_size, in_size))
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(np.floor(center - support + 0.5)), 0)
        xmax = min(int(np.floor(center + support + 0.5)), in_size)
        x = np.arange(xmin, xmax)
        w = np.maximum(1.0 - np.abs((x - center + 0.5) / filterscale), 0.0)
        m[xx, xmin:xmax] = w / w.sum()
    return m


def letterbox(frame):
    h, w = frame.shape[:2]
    scale = min(SIZE / w, SIZE / h)
    cw, ch = int(np.floor(w * scale + 0.5)), int(np.floor(h * scale + 0.5))
    px, py = (SIZE - cw) // 2, (SIZE - ch) // 2
    img = frame.astype(np.float64)
    img = np.einsum("yY,YXc->yXc", pil_bilinear_weights(h, ch), img)
    img = np.einsum("xX,yXc->yxc", pil_bilinear_weights(w, cw), img)
    out = np.zeros((SIZE, SIZE, 3))
    out[py:py + ch, px:px + cw] = img
    return out, dict(scale=scale, pad_x=px, pad_y=py, content_w=cw, content_h=ch)


def decode(outputs):
    rows = []
    for s in STRIDES:
        n = SIZE // s
        logits = outputs[f"box_logits_stride{s}"][0].reshape(n * n, 4, BINS)
        e = np.exp(logits - logits.max(-1, keepdims=True))
        dist = (e / e.sum(-1, keepdims=True) * np.arange(BINS)).sum(-1) * s  # [hw, 4] l t r b
        i = np.arange(n * n)
        cx, cy = (i % n + 0.5) * s, (i // n + 0.5) * s
        box = np.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]], 1)
        score = outputs[f"scores_stride{s}"][0][:, 0:1]
        rows.append(np.concatenate([box, score, np.zeros_like(score)], 1))
    return np.concatenate(rows)


def iou(a, b):
    ix = np.clip(np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def nms(rows):
    """Greedy NMS of the rows above MIN_SCORE; returns the kept rows and the margins of the
    decisions: every score against MIN_SCORE, every IoU compared against NMS_IOU, and the score
    gap of every (candidate, kept box) pair whose order decided a suppression (and of the last
    kept and first dropped box when more than MAX_PEOPLE are kept)."""
    order = np.argsort(-rows[:, 4], kind="stable")
    cand = rows[order][rows[order][:, 4] >= MIN_SCORE]
    kept = []
    iou_margin, order_margin = np.inf, np.inf
    for c in cand:
        if kept:
            k = np.array(kept)
            o = iou(c, k)
            iou_margin = min(iou_margin, np.abs(o - NMS_IOU).min())
            over = o > NMS_IOU
            if over.any():
                order_margin = min(order_margin, (k[over, 4] - c[4]).min())
                continue
        kept.append(c)
    if len(kept) > MAX_PEOPLE:
        order_margin = min(order_margin, kept[MAX_PEOPLE - 1][4] - kept[MAX_PEOPLE][4])
        kept = kept[:MAX_PEOPLE]
    return np.array(kept).reshape(-1, 6), dict(
        score_threshold=float(np.abs(rows[:, 4] - MIN_SCORE).min()),
        nms_iou=float(iou_margin), score_order=float(order_margin), candidates=len(cand))


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    model, seed, frame_path, w, h, out_dir = sys.argv[1:]
    seed, w, h, out_dir = int(seed), int(w), int(h), pathlib.Path(out_dir)
    frame = np.fromfile(frame_path, np.uint8).reshape(h, w, 3)

    nhwc, geo = letterbox(frame)
    x = ((nhwc[..., ::-1] - MEAN_BGR) / STD_BGR).transpose(2, 0, 1)[None]
    outputs = raw.forward(x, seed)

    import onnxruntime as ort
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    got = dict(zip(names, sess.run(None, {"image": x.astype(np.float32)})))
    ort_diff = max(float(np.abs(got[k] - v).max()) for k, v in outputs.items())
    if ort_diff > 1e-4:
        sys.exit(f"the raw model under onnxruntime differs from make_nanodet_raw.forward by {ort_diff}")

    rows = decode(outputs)
    kept, margins = nms(rows)
    boxes = []
    for x1, y1, x2, y2, score, _ in kept:
        fx = lambda v: float(np.clip((v - geo["pad_x"]) / geo["scale"], 0, w))  # noqa: E731
        fy = lambda v: float(np.clip((v - geo["pad_y"]) / geo["scale"], 0, h))  # noqa: E731
        boxes.append([fx(min(x1, x2)), fy(min(y1, y2)), fx(max(x1, x2)), fy(max(y1, y2)), float(score)])

    out_dir.mkdir(parents=True, exist_ok=True)
    nhwc.astype(np.float32).tofile(out_dir / "input.f32")
    rows.astype(np.float32).tofile(out_dir / "rows.f32")
    with open(out_dir / "expected.json", "w") as f:
        json.dump(dict(geometry=geo, boxes=boxes, margins=margins, raw_ort_max_diff=ort_diff,
                       max_person_score=float(rows[:, 4].max())), f, indent=1)
    print(f"{len(boxes)} boxes of {margins['candidates']} candidates, margins {margins}, "
          f"raw model onnxruntime vs numpy {ort_diff:.2e}")


if __name__ == "__main__":
    main()
