#!/usr/bin/env bash
# Jetson CSI camera (Argus). nvvidconv copies the NVMM frame to system memory as NV12, which
# trtposeinfer reads directly; jetsonguard-style throttling belongs in front of trtposeinfer.
# backend=auto prefers TensorRT, then CUDA, then the CPU (with a warning naming the reason).
# usage: jetson-csi.sh [sensor-id]
set -euo pipefail
. "$(dirname "$0")/env.sh"
SENSOR=${1:-0}
gst-launch-1.0 \
  nvarguscamerasrc sensor-id="$SENSOR" ! \
  'video/x-raw(memory:NVMM),width=1280,height=720,framerate=30/1' ! \
  nvvidconv ! video/x-raw,format=NV12 ! \
  queue max-size-buffers=1 leaky=downstream ! \
  trtposeinfer model="$MODEL" backend=auto ! \
  poseoverlay ! nvvidconv ! 'video/x-raw(memory:NVMM)' ! nv3dsink sync=false
