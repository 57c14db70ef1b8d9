#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# On the device machine after gpu-stage.sh: trtposeinfer inside real GStreamer pipelines.
# The device has no GStreamer, so a runtime is carried from the build machine in .gpu/gst
# (Debian 12 libraries: gst-launch-1.0, core elements, videotestsrc, videoconvertscale, this
# plugin, and their non-libc dependencies) with raw frames of a photo (RGB and NV12, 640x480).
set -uo pipefail
cd "$(dirname "$0")/.."
NV=$(python3 -c "import nvidia, os; b = nvidia.__path__[0]; print(':'.join(os.path.join(b, d, 'lib') for d in sorted(os.listdir(b)) if os.path.isdir(os.path.join(b, d, 'lib'))))")
G=$PWD/.gpu/gst
export LD_LIBRARY_PATH="$G/lib:$NV:/tmp/ort/onnxruntime/capi"
export ORT_DYLIB_PATH=/tmp/ort/onnxruntime/capi/libonnxruntime.so.1.31.1
export GST_PLUGIN_SYSTEM_PATH_1_0=$G/plugins GST_PLUGIN_PATH_1_0=$G/ours
export GST_REGISTRY_1_0=/tmp/gst-registry.bin GST_REGISTRY_FORK=no
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
L=$G/bin/gst-launch-1.0
M=/tmp/rn18_b1.onnx
[ -f $M ] || python3 models/tools/make_trt_pose_onnx.py resnet18 --size 224 --cmap-std 0.015 -o $M
[ -f /tmp/rn18_b1.fp16.onnx ] || .gpu/bin/trtposeconvert half $M
src() { # format frames
  local size=921600 caps="format=RGB"
  [ "$1" = nv12 ] && size=460800 caps="format=NV12"
  echo "multifilesrc location=$G/frame.$1 loop=true num-buffers=$2 caps=video/x-raw,$caps,width=640,height=480,framerate=30/1"
}
# Seconds for a pipeline; per-frame cost = difference between a long and a short run.
calc() { python3 -c "print(round($1, 3))"; }
timed() { local t0 t1; t0=$(date +%s.%N); "$L" -q "$@" > /tmp/launch.log 2>&1 || cat /tmp/launch.log >&2; t1=$(date +%s.%N); calc "$t1 - $t0"; }
per_frame() { # format backend extra...
  local f=$1 b=$2; shift 2
  local a z
  a=$(timed $(src $f 50) ! trtposeinfer model=$M backend=$b post-messages=false "$@" ! fakesink sync=false)
  z=$(timed $(src $f 5050) ! trtposeinfer model=$M backend=$b post-messages=false "$@" ! fakesink sync=false)
  echo "$f backend=$b $*: 5000 more frames took $(calc "$z - $a") s = $(calc "($z - $a) / 5") ms/frame, $(calc "5000 / ($z - $a)") fps (start-up + 50 frames: $a s)"
}
{
  echo "== one frame, GST_DEBUG=trtposeinfer:4"
  GST_DEBUG=trtposeinfer:4 "$L" $(src rgb 1) ! trtposeinfer model=$M backend=cuda ! fakesink 2>&1 | grep -E "loaded|pre-processing|backend" | sed 's/^.*trtposeinfer //' | head -5
  echo "== per-frame cost in a pipeline (multifilesrc ! trtposeinfer ! fakesink sync=false)"
  per_frame rgb cuda
  per_frame rgb cuda precision=fp16
  per_frame nv12 cuda precision=fp16
  per_frame rgb cuda cuda-graph=false
  per_frame rgb cuda gpu-preprocess=false
  echo "== the same photo's people, CPU vs CUDA (json-output, 3 frames)"
  for b in cpu cuda; do "$L" -q $(src rgb 3) ! trtposeinfer model=$M backend=$b json-output=$OUT/people-$b.jsonl ! fakesink > /dev/null 2>&1; done
  python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
a = [json.loads(l) for l in open(f"{out}/people-cpu.jsonl")]
b = [json.loads(l) for l in open(f"{out}/people-cuda.jsonl")]
def kps(frame):
    return [(k["x"], k["y"]) for p in frame["people"] for k in p["keypoints"] if k is not None]
for i, (x, y) in enumerate(zip(a, b)):
    d = max((abs(p[0] - q[0]) + abs(p[1] - q[1]) for p, q in zip(kps(x), kps(y))), default=0.0)
    print(f"frame {i}: cpu {len(x['people'])} people, cuda {len(y['people'])} people, keypoints {len(kps(x))}/{len(kps(y))}, max |dx|+|dy| {d:.4f} px")
PY
  echo "== gpu-mem-limit=1: CUDA cannot load, the element warns and runs on the CPU (-m shows the bus)"
  "$L" -m $(src rgb 3) ! trtposeinfer name=i model=$M backend=cuda gpu-mem-limit=1 post-messages=false ! fakesink 2>&1 | grep -iE "warn|error|debug info" | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-400 | head -6
} 2>&1 | tee "$OUT/pipeline.txt"
