#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Live USB webcam with skeletons in a window. Cameras deliver YUY2 or MJPEG; trtposeinfer
# reads YUY2 directly. interval=2 runs the network on every other frame to keep up on a CPU;
# the leaky queue drops frames rather than letting latency grow.
# usage: webcam-v4l2.sh [/dev/video0]
set -euo pipefail
. "$(dirname "$0")/env.sh"
DEV=${1:-/dev/video0}
gst-launch-1.0 \
  v4l2src device="$DEV" ! video/x-raw,width=640,height=480 ! \
  queue max-size-buffers=1 leaky=downstream ! \
  trtposeinfer model="$MODEL" interval=2 ! \
  poseoverlay ! videoconvert ! autovideosink sync=false
