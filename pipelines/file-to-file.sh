#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Any video file in, H.264 MP4 with skeletons out, plus one JSON line per frame.
# usage: file-to-file.sh INPUT OUTPUT.mp4
set -euo pipefail
. "$(dirname "$0")/env.sh"
IN=${1:?input video}; OUT=${2:?output .mp4}
mkdir -p "$(dirname "$OUT")"
# decodebin picks the decoder; trtposeinfer reads the decoder's raw format (I420, NV12, ...)
# directly, so no videoconvert is needed before it. input-size=512 finds small people.
gst-launch-1.0 -e \
  filesrc location="$IN" ! decodebin ! \
  trtposeinfer model="$MODEL" input-size=512 json-output="${OUT%.*}.jsonl" ! \
  poseoverlay ! videoconvert ! x264enc speed-preset=veryfast ! h264parse ! mp4mux ! \
  filesink location="$OUT"
