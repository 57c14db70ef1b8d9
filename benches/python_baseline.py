#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""The original system's way, as the baseline: OpenCV decode, onnxruntime, numpy/Python
post-processing and cv2 drawing (MoveNet multipose, letterboxed as trtposeinfer does).
Prints `RESULT python_fps=...` (first frame to last, model loading excluded).

usage: python_baseline.py VIDEO MODEL THREADS INPUT_SIZE
"""
import math
import resource
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort

EDGES = [(0, 1), (0, 2), (1, 3), (2, 4), (0, 5), (0, 6), (5, 7), (7, 9), (6, 8), (8, 10),
         (5, 6), (5, 11), (6, 12), (11, 12), (11, 13), (13, 15), (12, 14), (14, 16)]


def input_size(w, h, long_side):
    up = lambda v: max(1, math.ceil(v / 32)) * 32
    return (long_side, min(up(h * long_side / w), long_side)) if w >= h else (min(up(w * long_side / h), long_side), long_side)


def main():
    video, model, threads, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    fixed = sess.get_inputs()[0].shape
    cap = cv2.VideoCapture(video)
    frames, people_total, start = 0, 0, None
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        h, w = bgr.shape[:2]
        if isinstance(fixed[1], int) and isinstance(fixed[2], int):
            in_w, in_h = fixed[2], fixed[1]
        else:
            in_w, in_h = input_size(w, h, size)
        scale = min(in_w / w, in_h / h)
        nw, nh = round(w * scale), round(h * scale)
        px, py = (in_w - nw) // 2, (in_h - nh) // 2
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        canvas = np.zeros((in_h, in_w, 3), np.int32)
        canvas[py:py + nh, px:px + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
        out = sess.run(None, {sess.get_inputs()[0].name: canvas[None]})[0][0]
        people = []
        for row in out:
            if row[55] < 0.2:
                continue
            kps = row[:51].reshape(17, 3)
            people.append([((x * in_w - px) / scale, (y * in_h - py) / scale, s) for y, x, s in kps])
        for pts in people:
            for a, b in EDGES:
                if pts[a][2] >= 0.3 and pts[b][2] >= 0.3:
                    cv2.line(bgr, (int(pts[a][0]), int(pts[a][1])), (int(pts[b][0]), int(pts[b][1])), (0, 255, 0), 3)
            for x, y, s in pts:
                if s >= 0.3:
                    cv2.circle(bgr, (int(x), int(y)), 4, (0, 0, 255), -1)
        people_total += len(people)
        frames += 1
        if start is None:
            start = time.perf_counter()
    span = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"python baseline   : {(frames - 1) / span:8.2f} FPS ({frames} frames, {people_total} people, peak RSS {rss:.0f} MB)")
    print(f"RESULT python_fps={(frames - 1) / span:.3f}")


if __name__ == "__main__":
    main()
