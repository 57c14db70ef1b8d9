#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Writes fuzz/corpus/pth_unpickle/: seeds cut from the shared trt_pose checkpoints (standard
library only): the legacy file's pickles with the start of its storages, the zip's data.pkl,
and a small stored zip holding that data.pkl."""
import io
import lzma
import pathlib
import zipfile

here = pathlib.Path(__file__).resolve().parent
shared = here.parent.parent / "shared" / "models" / "trt_pose_pth"
out = here / "corpus" / "pth_unpickle"
out.mkdir(parents=True, exist_ok=True)

legacy = lzma.open(shared / "resnet18_baseline_att_224x224_A.legacy.pth.xz").read(64 * 1024)
(out / "legacy_head").write_bytes(legacy)

with lzma.open(shared / "resnet50_baseline_224x224.zip-fp16-up128-flat1.pth.xz") as f:
    z = zipfile.ZipFile(io.BytesIO(f.read()))
pkl = next(n for n in z.namelist() if n.endswith("data.pkl"))
data = z.read(pkl)
(out / "data.pkl").write_bytes(data)
small = io.BytesIO()
with zipfile.ZipFile(small, "w", zipfile.ZIP_STORED) as w:
    w.writestr("archive/data.pkl", data)
    w.writestr("archive/byteorder", b"little")
(out / "small.zip").write_bytes(small.getvalue())
print(f"wrote {len(list(out.iterdir()))} seeds to {out}")
