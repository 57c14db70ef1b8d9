#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Four video files, one model: every branch's trtposeinfer names the same shared-engine, so the
# network is loaded once and frames of the four run together when the model takes batches.
# The branches are tiled 2x2 with compositor into one MP4. compositor keeps no buffer
# metadata, so each branch draws its own skeletons (poseoverlay) before it.
# usage: four-files-shared.sh IN1 IN2 IN3 IN4 OUTPUT.mp4
set -euo pipefail
. "$(dirname "$0")/env.sh"
[ $# -eq 5 ] || { echo "usage: $0 IN1 IN2 IN3 IN4 OUTPUT.mp4" >&2; exit 1; }
OUT=$5
W=640; H=360
branch() { # input, pad number
  echo "filesrc location=\"$1\" ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=$W,height=$H,pixel-aspect-ratio=1/1 ! \
    trtposeinfer model=\"$MODEL\" shared-engine=files max-batch=4 ! poseoverlay ! queue ! mix.sink_$2"
}
eval gst-launch-1.0 -e \
  compositor name=mix \
    sink_0::xpos=0 sink_0::ypos=0 sink_1::xpos=$W sink_1::ypos=0 \
    sink_2::xpos=0 sink_2::ypos=$H sink_3::xpos=$W sink_3::ypos=$H ! \
  videoconvert ! x264enc speed-preset=veryfast ! h264parse ! mp4mux ! filesink location="\"$OUT\"" \
  "$(branch "$1" 0)" "$(branch "$2" 1)" "$(branch "$3" 2)" "$(branch "$4" 3)"
