#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Accuracy and speed of trtpose-run's presets, through the product as users run it:
#   - OKS AP: `trtpose-run --preset P photo.jpg --json …` on every image of a COCO-format folder
#     (images/ + person_keypoints.json), scored by the folder's score.py (pycocotools);
#   - FPS: `trtpose-run --preset P` on the street clip, no guard, the tool's own average.
# Targets (#12): accurate AP >= 0.45; fast keeps its AP and speed; accurate >= 6 FPS at
# 768x576 on 2 threads. Prints one table row per preset.
# usage: benches/presets.sh [COCO_DIR] [CLIP] [THREADS] [PRESETS...]
#   defaults: ../shared/accuracy, ../shared/media/vtest_walk_10s.mp4 (else data/media/vtest.avi),
#   2 threads, "fast accurate". Models come from the model folders (set-up's data/models, or
#   TRTPOSE_MODELS=DIR). RUN_ARGS adds options to every trtpose-run, e.g.
#   RUN_ARGS="--detector data/models/centernet-512x512.onnx" benches/presets.sh "" "" 2 accurate
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a EXTRA <<<"${RUN_ARGS:-}"
COCO=${1:-../shared/accuracy}
default_clip=../shared/media/vtest_walk_10s.mp4
[ -f "$default_clip" ] || default_clip=data/media/vtest.avi
CLIP=${2:-$default_clip}
THREADS=${3:-2}
shift $(( $# > 3 ? 3 : $# ))
PRESETS=("$@")
[ ${#PRESETS[@]} -gt 0 ] || PRESETS=(fast accurate)
ORT_LIB=$(ls "$PWD"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* 2>/dev/null | head -n 1 || true)
[ -n "$ORT_LIB" ] || { echo "run scripts/setup.sh first (.venv with ONNX Runtime)" >&2; exit 1; }
export ORT_DYLIB_PATH="$ORT_LIB"
[ -f "$COCO/person_keypoints.json" ] || { echo "$COCO has no person_keypoints.json" >&2; exit 1; }
[ -f "$COCO/score.py" ] || { echo "$COCO has no score.py (the scorer of ../shared/accuracy)" >&2; exit 1; }
.venv/bin/python -c 'import pycocotools' 2>/dev/null || .venv/bin/python -m pip install -q pycocotools
cargo build --release --quiet --bin trtpose-run
RUN=./target/release/trtpose-run
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rows=()
for preset in "${PRESETS[@]}"; do
  pred="$work/$preset"; mkdir -p "$pred"
  start=$(date +%s%N)
  n=0
  for img in "$COCO"/images/*.jpg "$COCO"/images/*.png; do
    [ -f "$img" ] || continue
    stem=$(basename "${img%.*}")
    if ! "$RUN" --preset "$preset" "${EXTRA[@]}" --threads "$THREADS" --no-guard "$img" \
        --json "$pred/$stem.jsonl" --output "$pred/$stem.png" >"$pred/$stem.log" 2>&1; then
      echo "trtpose-run failed on $img:" >&2; tail -n 5 "$pred/$stem.log" >&2; exit 1
    fi
    n=$((n + 1))
  done
  ms=$(( ($(date +%s%N) - start) / 1000000 / n ))
  ap=$(.venv/bin/python "$COCO/score.py" "$pred" 2>/dev/null | tail -n 1)
  fps=$("$RUN" --preset "$preset" "${EXTRA[@]}" --threads "$THREADS" --no-guard "$CLIP" \
        --output "$work/$preset-clip.mp4" 2>&1 | sed -n 's/^  Average FPS: //p')
  rows+=("$(printf '%-9s %s | %d ms/photo (tool start included) | clip %s FPS' "$preset" "$ap" "$ms" "$fps")")
  echo "${rows[-1]}"
done
echo
echo "== presets on $n photos of $COCO, clip $(basename "$CLIP"), $THREADS threads, $(nproc) CPUs${RUN_ARGS:+, $RUN_ARGS}"
printf '%s\n' "${rows[@]}"
