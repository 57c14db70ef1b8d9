#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Jetson CSI camera (Argus). nvvidconv copies the NVMM frame to system memory as NV12, which
# trtposeinfer reads directly. jetsonguard sits in front of trtposeinfer: above 75 °C (or 85 %
# memory) it drops frames evenly to 10 fps until the board is 5 °C cooler, so the board keeps
# running instead of shutting down, and it prints a stats line every 10 s.
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
  jetsonguard temp-limit=75 throttle-fps=10 print-stats=true ! \
  trtposeinfer model="$MODEL" backend=auto ! \
  poseoverlay ! nvvidconv ! 'video/x-raw(memory:NVMM)' ! nv3dsink sync=false
