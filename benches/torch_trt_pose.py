#!/usr/bin/env python3
"""PyTorch reference for the trt_pose resnet18_baseline_att 224 architecture (random weights):
eager fp32, eager fp16 channels-last and torch.compile fp16, batch 1 and 8, ms per batch on
the GPU (CUDA events, after warm-up). Run on the device next to `trtposeconvert bench`."""
import time

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


def main():
    torch.manual_seed(0)
    dev = "cuda"
    print(torch.cuda.get_device_name(0), "torch", torch.__version__)
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


if __name__ == "__main__":
    main()
