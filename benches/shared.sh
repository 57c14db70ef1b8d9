#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Shared-engine benchmark (#15): the same clip in N branches of one gst-launch, each branch
# with a private engine, then all naming one shared engine; one branch alone as the baseline.
# Prints wall time, frames per second over all branches, peak RSS and the ratios, in one run.
# Target: N shared streams' peak RSS <= 1.35 x one stream.
# usage: benches/shared.sh [STREAMS] [FRAMES] [MODEL] [VIDEO]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-4}; FRAMES=${2:-150}
default_model=data/models/movenet-multipose.onnx
[ -f "$default_model" ] || default_model=../shared/models/movenet-multipose.onnx
default_video=../shared/media/vtest_walk_10s.mp4
[ -f "$default_video" ] || default_video=data/media/vtest.avi
MODEL=$(realpath "${3:-$default_model}"); VIDEO=$(realpath "${4:-$default_video}")
ORT_LIB=$(ls "$PWD"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* 2>/dev/null | head -n 1 || true)
[ -n "$ORT_LIB" ] || { echo "run scripts/setup.sh first (.venv with ONNX Runtime)" >&2; exit 1; }
cargo build --release --quiet --lib
# A copy of the plugin, so a build running meanwhile cannot swap it under the measurement.
plugin=$(mktemp -d); trap 'rm -rf "$plugin"' EXIT
cp "${CARGO_TARGET_DIR:-target}/release/libgsttrtpose.so" "$plugin/"
export ORT_DYLIB_PATH="$ORT_LIB" GST_PLUGIN_PATH="$plugin" GST_REGISTRY="$plugin/registry.bin"

# One branch: decode, keep FRAMES frames, infer, discard.
branch() {
  echo "filesrc location=$VIDEO ! decodebin ! videoconvert ! video/x-raw,format=RGB ! identity eos-after=$FRAMES ! trtposeinfer model=$MODEL input-size=256 $1 ! fakesink sync=false"
}
# Runs N branches; prints "seconds peak_kb".
measure() {
  local n=$1 props=$2 desc=""
  for _ in $(seq "$n"); do desc+="$(branch "$props") "; done
  /usr/bin/time -f "%e %M" -o /tmp/shared-bench.$$ gst-launch-1.0 -q $desc >/dev/null
  cat /tmp/shared-bench.$$; rm -f /tmp/shared-bench.$$
}
read -r t1 m1 < <(measure 1 "threads=0")
read -r tp mp < <(measure "$N" "threads=1")
read -r ts ms < <(measure "$N" "shared-engine=bench threads=0")
awk -v n="$N" -v f="$FRAMES" -v t1="$t1" -v m1="$m1" -v tp="$tp" -v mp="$mp" -v ts="$ts" -v ms="$ms" 'BEGIN {
  printf "1 stream, private engine     : %6.2f s  %6.1f frames/s  peak RSS %6.1f MB\n", t1, f / t1, m1 / 1024;
  printf "%d streams, private engines   : %6.2f s  %6.1f frames/s  peak RSS %6.1f MB  (%.2f x one stream)\n", n, tp, n * f / tp, mp / 1024, mp / m1;
  printf "%d streams, one shared engine : %6.2f s  %6.1f frames/s  peak RSS %6.1f MB  (%.2f x one stream, target <= 1.35)\n", n, ts, n * f / ts, ms / 1024, ms / m1;
  printf "shared / private throughput  : %6.3f\n", tp / ts }'
