#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Soak: FRAMES frames (default 10000) through videotestsrc → jetsonguard → trtposeinfer →
# poseoverlay → fakesink. Prints RSS and FPS every 1000 frames, RSS drift between the first
# report and the end (goal < 2 %), and frames lost (goal 0: every frame produced reaches the
# sink). Not part of CI: it takes minutes.
# usage: benches/soak.sh [FRAMES] [MODEL]
set -euo pipefail
cd "$(dirname "$0")/.."
FRAMES=${1:-10000}
MODEL=${2:-data/models/movenet-multipose-256x256.onnx}
[ -f "$MODEL" ] || MODEL=../shared/models/movenet-multipose-256x256.onnx
ORT_LIB=$(ls "$PWD"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -n 1)
export ORT_DYLIB_PATH="$ORT_LIB"
cargo build --release --quiet --example soak
./target/release/examples/soak "$FRAMES" "$MODEL"
