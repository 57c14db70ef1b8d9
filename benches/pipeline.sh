#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Pipeline benchmark: on the same model, threads and video, prints raw ONNX Runtime inference
# FPS (engine alone, pre-made input), the full GStreamer pipeline FPS (decode → trtposeinfer →
# poseoverlay), the Python/OpenCV baseline FPS, their ratios, and peak RSS.
# Targets: pipeline >= 0.95 x raw, >= 1.3 x Python, RSS <= 400 MB.
# usage: benches/pipeline.sh [VIDEO] [MODEL] [THREADS] [INPUT_SIZE]
set -euo pipefail
cd "$(dirname "$0")/.."
default_video=../shared/media/vtest_walk_10s.mp4
[ -f "$default_video" ] || default_video=data/media/vtest.avi
default_model=data/models/movenet-multipose.onnx
[ -f "$default_model" ] || default_model=../shared/models/movenet-multipose.onnx
VIDEO=${1:-$default_video}; MODEL=${2:-$default_model}; THREADS=${3:-1}; SIZE=${4:-256}
ORT_LIB=$(ls "$PWD"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* 2>/dev/null | head -n 1 || true)
[ -n "$ORT_LIB" ] || { echo "run scripts/setup.sh first (.venv with ONNX Runtime)" >&2; exit 1; }
export ORT_DYLIB_PATH="$ORT_LIB"
.venv/bin/python -c 'import cv2' 2>/dev/null || .venv/bin/python -m pip install -q opencv-python-headless
cargo build --release --quiet --example bench_pipeline
rust=$(./target/release/examples/bench_pipeline "$VIDEO" "$MODEL" "$THREADS" "$SIZE")
echo "$rust" | grep -v '^RESULT'
py=$(.venv/bin/python benches/python_baseline.py "$VIDEO" "$MODEL" "$THREADS" "$SIZE")
echo "$py" | grep -v '^RESULT'
raw=$(echo "$rust" | sed -n 's/.*raw_fps=\([0-9.]*\).*/\1/p')
pipe=$(echo "$rust" | sed -n 's/.*pipeline_fps=\([0-9.]*\).*/\1/p')
pyf=$(echo "$py" | sed -n 's/.*python_fps=\([0-9.]*\).*/\1/p')
awk -v r="$raw" -v p="$pipe" -v y="$pyf" 'BEGIN {
  printf "pipeline / raw    : %8.3f  (target >= 0.95)\n", p / r;
  printf "pipeline / python : %8.3f  (target >= 1.3)\n", p / y }'
# The same pipeline with overlap=true (frame N+1 prepared while the network runs frame N).
o=$(./target/release/examples/bench_pipeline "$VIDEO" "$MODEL" "$THREADS" "$SIZE" overlap=true)
opipe=$(echo "$o" | sed -n 's/.*pipeline_fps=\([0-9.]*\).*/\1/p')
awk -v o="$opipe" -v r="$raw" -v y="$pyf" 'BEGIN {
  printf "overlap pipeline  : %8.2f FPS\n", o;
  printf "overlap / raw     : %8.3f  (target >= 0.95)\n", o / r;
  printf "overlap / python  : %8.3f  (target >= 1.3)\n", o / y }'
# With an int8 copy beside the model (trtposeconvert quantize), the same pipeline on it
# against the same float Python baseline.
INT8="${MODEL%.onnx}.int8.onnx"
if [ -f "$INT8" ]; then
  q=$(./target/release/examples/bench_pipeline "$VIDEO" "$INT8" "$THREADS" "$SIZE")
  qpipe=$(echo "$q" | sed -n 's/.*pipeline_fps=\([0-9.]*\).*/\1/p')
  qo=$(./target/release/examples/bench_pipeline "$VIDEO" "$INT8" "$THREADS" "$SIZE" overlap=true)
  qopipe=$(echo "$qo" | sed -n 's/.*pipeline_fps=\([0-9.]*\).*/\1/p')
  awk -v q="$qpipe" -v o="$qopipe" -v y="$pyf" 'BEGIN {
    printf "int8 pipeline     : %8.2f FPS, with overlap %8.2f FPS\n", q, o;
    printf "int8 pipeline / python (float) : %8.3f  (target >= 1.3)\n", q / y;
    printf "int8 overlap / python (float)  : %8.3f  (target >= 1.3)\n", o / y }'
fi
