#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Stages the onnxruntime-gpu wheel on the device machine, one chunk per call (the tree sent
# per call is limited to 64 MiB). Here: split the wheel into .gpu/c0 .. .gpu/cN (git-ignored)
# and carry one folder per call. There: `gpu-stage.sh N` keeps chunk N in /tmp;
# `gpu-stage.sh finish` joins the chunks and unzips ONNX Runtime into /tmp/ort.
# Four chunks instead of five: tar only the three libraries of onnxruntime/capi
# (libonnxruntime.so.*, libonnxruntime_providers_{cuda,shared}.so) through `xz -6` (195 MB for
# 1.31.1) and split that; `finish` recognises the xz stream and unpacks it in the same place.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p /tmp/ort-chunks
case "${1:?chunk number or finish}" in
  finish)
    cat /tmp/ort-chunks/part* > /tmp/ort-gpu.whl
    rm -rf /tmp/ort && mkdir -p /tmp/ort/onnxruntime/capi
    if xz -t /tmp/ort-gpu.whl 2>/dev/null; then
      xz -dc /tmp/ort-gpu.whl | tar x -C /tmp/ort/onnxruntime/capi
    else
      python3 -m zipfile -e /tmp/ort-gpu.whl /tmp/ort
    fi
    ls -la /tmp/ort/onnxruntime/capi/*.so*
    ;;
  *)
    cp ".gpu/c$1"/part* /tmp/ort-chunks/
    ls -la /tmp/ort-chunks
    ;;
esac
