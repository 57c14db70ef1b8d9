#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Four live V4L2 cameras, one model (shared-engine), tiled 2x2 in a window. batch-timeout
# bounds how long a frame waits for the other cameras' frames (added to the latency the
# element reports); leaky queues drop frames rather than letting latency grow. compositor
# keeps no buffer metadata: each branch draws its skeletons before it.
# usage: four-cameras-shared.sh [/dev/video0 /dev/video1 /dev/video2 /dev/video3]
set -euo pipefail
. "$(dirname "$0")/env.sh"
DEVS=("${@:-/dev/video0 /dev/video1 /dev/video2 /dev/video3}")
[ ${#DEVS[@]} -eq 1 ] && read -r -a DEVS <<<"${DEVS[0]}"
[ ${#DEVS[@]} -eq 4 ] || { echo "usage: $0 DEV1 DEV2 DEV3 DEV4" >&2; exit 1; }
W=640; H=480
branch() { # device, pad number
  echo "v4l2src device=$1 ! video/x-raw,width=$W,height=$H ! queue max-size-buffers=1 leaky=downstream ! \
    trtposeinfer model=\"$MODEL\" shared-engine=cameras batch-timeout=20000 ! poseoverlay ! queue ! mix.sink_$2"
}
eval gst-launch-1.0 \
  compositor name=mix \
    sink_0::xpos=0 sink_0::ypos=0 sink_1::xpos=$W sink_1::ypos=0 \
    sink_2::xpos=0 sink_2::ypos=$H sink_3::xpos=$W sink_3::ypos=$H ! \
  videoconvert ! autovideosink sync=false \
  "$(branch "${DEVS[0]}" 0)" "$(branch "${DEVS[1]}" 1)" "$(branch "${DEVS[2]}" 2)" "$(branch "${DEVS[3]}" 3)"
