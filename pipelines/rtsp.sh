#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# RTSP camera: decode, estimate poses, show them, and log the people as JSON Lines.
# usage: rtsp.sh rtsp://camera/stream [people.jsonl]
set -euo pipefail
. "$(dirname "$0")/env.sh"
URL=${1:?rtsp url}; JSON=${2:-people.jsonl}
gst-launch-1.0 \
  rtspsrc location="$URL" latency=200 ! decodebin ! \
  queue max-size-buffers=1 leaky=downstream ! \
  trtposeinfer model="$MODEL" json-output="$JSON" ! \
  poseoverlay ! videoconvert ! autovideosink sync=false
