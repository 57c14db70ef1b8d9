#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""PyTorch reference for the trt_pose resnet18_baseline_att 224 architecture (random weights):
eager fp32, eager fp16 channels-last and torch.compile fp16, batch 1 and 8, ms per batch on
the GPU (CUDA events, after warm-up). Run on the device next to `trtposeconvert bench`.

With a PPM frame argument it also times frame-in to maps-on-host the way a PyTorch app does
it: upload the uint8 frame, resize (bilinear, antialiased) and normalize on the GPU, run the
network, copy cmap and paf back. Decoding is not included (trt_pose's parser is a C++
extension that is not installed there); add `trtposeconvert bench --e2e`'s decode ms."""
import sys
import time

import numpy as np

import torch
import torch.nn as nn
import torchvision


class Head(nn.Module):
    def __init__(self, cin, cout, act):
        super().__init__()
        layers = []
        for c in (cin, 256, 256):
            layers += [nn.ConvTranspose2d(c, 256, 4, 2, 1), nn.BatchNorm2d(256), nn.ReLU()]
        self.up = nn.Sequential(*layers)
        self.att = nn.Conv2d(256, 256, 3, 1, 1)
        self.act = act
        self.out = nn.Conv2d(256, cout, 1)

    def forward(self, x):
        x = self.up(x)
        return self.out(x * self.act(self.att(x)))


class TrtPose(nn.Module):
    def __init__(self):
        super().__init__()
        r = torchvision.models.resnet18()
        self.backbone = nn.Sequential(*list(r.children())[:-2])
        self.cmap = Head(512, 18, torch.sigmoid)
        self.paf = Head(512, 42, torch.tanh)

    def forward(self, x):
        f = self.backbone(x)
        return self.cmap(f), self.paf(f)


def bench(model, x, iters=200):
    with torch.inference_mode():
        for _ in range(20):
            model(x)
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            model(x)
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / iters


def read_ppm(path):
    data = open(path, "rb").read()
    fields, i = [], 0
    while len(fields) < 4:
        while data[i:i + 1].isspace():
            i += 1
        j = i
        while not data[j:j + 1].isspace():
            j += 1
        fields.append(data[i:j])
        i = j
    w, h = int(fields[1]), int(fields[2])
    return np.frombuffer(data[i + 1:i + 1 + w * h * 3], np.uint8).reshape(h, w, 3)


def frame_to_maps(model, frames, half, iters=200):
    """ms per batch: upload, resize + normalize, network, cmap/paf to pinned host memory."""
    mean = torch.tensor([0.485, 0.456, 0.406], device="cuda").view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device="cuda").view(1, 3, 1, 1)
    host = torch.from_numpy(np.stack(frames)).pin_memory()
    outs = None

    def step():
        nonlocal outs
        x = host.to("cuda", non_blocking=True).permute(0, 3, 1, 2).float()
        x = torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear",
                                            antialias=True, align_corners=False)
        x = (x / 255.0 - mean) / std
        if half:
            x = x.half().contiguous(memory_format=torch.channels_last)
        cmap, paf = model(x)
        if outs is None:
            outs = [torch.empty(t.shape, dtype=torch.float32, pin_memory=True) for t in (cmap, paf)]
        outs[0].copy_(cmap, non_blocking=True)
        outs[1].copy_(paf, non_blocking=True)
        torch.cuda.synchronize()

    with torch.inference_mode():
        for _ in range(20):
            step()
        t = time.perf_counter()
        for _ in range(iters):
            step()
        return (time.perf_counter() - t) * 1e3 / iters


def main():
    torch.manual_seed(0)
    dev = "cuda"
    print(torch.cuda.get_device_name(0), "torch", torch.__version__)
    frame = read_ppm(sys.argv[1]) if len(sys.argv) > 1 else None
    base = TrtPose().eval().to(dev)
    for batch in (1, 8):
        x = torch.randn(batch, 3, 224, 224, device=dev)
        print(f"batch {batch}: eager fp32            {bench(base, x):7.3f} ms")
        half = TrtPose().eval().to(dev).half().to(memory_format=torch.channels_last)
        xh = x.half().to(memory_format=torch.channels_last)
        print(f"batch {batch}: eager fp16 chan-last  {bench(half, xh):7.3f} ms")
        t = time.time()
        comp = torch.compile(half)
        ms = bench(comp, xh)
        print(f"batch {batch}: torch.compile fp16     {ms:7.3f} ms (compile {time.time() - t:.0f} s)")
        if frame is not None:
            frames = [frame] * batch
            print(f"batch {batch}: frame-to-maps eager fp16    {frame_to_maps(half, frames, True):7.3f} ms")
            print(f"batch {batch}: frame-to-maps compile fp16  {frame_to_maps(comp, frames, True):7.3f} ms")


if __name__ == "__main__":
    main()
