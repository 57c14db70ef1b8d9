#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# On the device machine after the staging of gpu-stage.sh (xz form, chunks in /tmp/ort-chunks),
# with .gpu/gst holding a GStreamer runtime carried from here (gst-launch-1.0, its libraries,
# coreelements/multifile/videotestsrc, this plugin in .gpu/gst/ours, trtposeconvert, and a raw
# 640x480 RGB frame.rgb). #15: N gst-launch branches through one shared engine against one branch
# alone, trt_pose rn18 224 with a dynamic batch on CUDA, 640x480 RGB frames.
set -uo pipefail
mkdir -p /tmp/ortlib && cat /tmp/ort-chunks/part* | xz -d | tar x -C /tmp/ortlib || exit 1
NV=$(python3 -c "import nvidia, os; b = nvidia.__path__[0]; print(':'.join(sorted({r for r, d, f in os.walk(b) if os.path.basename(r) == 'lib'})))")
G=$PWD/.gpu/gst
export LD_LIBRARY_PATH="$G/lib:$NV:/tmp/ortlib" ORT_DYLIB_PATH=/tmp/ortlib/libonnxruntime.so.1.31.1
export GST_PLUGIN_SYSTEM_PATH_1_0=$G/plugins GST_PLUGIN_PATH_1_0=$G/ours GST_REGISTRY_1_0=/tmp/gst-registry.bin GST_REGISTRY_FORK=no
L=$G/bin/gst-launch-1.0; chmod +x $L
M=/tmp/rn18_b0.onnx
python3 models/tools/make_trt_pose_onnx.py resnet18 --size 224 --cmap-std 0.015 --batch 0 -o $M >/dev/null
src() { echo "multifilesrc location=$G/frame.rgb loop=true num-buffers=$1 caps=video/x-raw,format=RGB,width=640,height=480,framerate=30/1"; }
timed() { local t0 t1; t0=$(date +%s.%N); "$L" -q "$@" > /tmp/launch.log 2>&1 || { echo FAILED; tail -5 /tmp/launch.log; }; t1=$(date +%s.%N); python3 -c "print($t1 - $t0)"; }
branches() { # n frames extra
  local d="" i; for i in $(seq $1); do d+="$(src $2) ! trtposeinfer model=$M backend=cuda post-messages=false $3 ! fakesink sync=false "; done; echo "$d"
}
rate() { # n extra: frames/s over all branches from a long minus a short run
  local a z; a=$(timed $(branches $1 50 "$2")); z=$(timed $(branches $1 2050 "$2"))
  python3 -c "print(f'{$1} branches, $2: {$1 * 2000 / ($z - $a):.1f} frames/s (start-up + 50 frames: {$a:.2f} s)')"
}
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  GST_DEBUG=trtposeinfer:4 "$L" $(src 2) ! trtposeinfer model=$M backend=cuda shared-engine=g ! fakesink 2>&1 | grep -E "loaded|joined|pre-processing" | sed 's/^.*trtposeinfer //' | head -4
  rate 1 ""
  rate 8 "shared-engine=g max-batch=8 batch-timeout=2000"
  rate 8 "shared-engine=g max-batch=4 batch-timeout=2000 shared-instances=2"
  rate 8 "shared-engine=g max-batch=2 batch-timeout=2000 shared-instances=4"
  rate 8 ""
  rate 16 "shared-engine=g max-batch=8 batch-timeout=2000 shared-instances=2"
  echo "== threads instead of branches (trtposeconvert bench --streams)"
  chmod +x $G/trtposeconvert
  $G/trtposeconvert bench $M --streams 8 --backend cuda --frame-size 640x480 --iterations 400 --max-batch 4 --batch-timeout 2000 --instances 2
} 2>&1 | tee ${OUT:-/tmp}/pipe-gpu.txt
