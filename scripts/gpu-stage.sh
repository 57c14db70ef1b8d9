#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Stages the onnxruntime-gpu wheel on the device machine, one chunk per call (the tree sent
# per call is limited to 64 MiB). Here: split the wheel into .gpu/c0 .. .gpu/cN (git-ignored)
# and carry one folder per call. There: `gpu-stage.sh N` keeps chunk N in /tmp;
# `gpu-stage.sh finish` joins the chunks and unzips ONNX Runtime into /tmp/ort.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p /tmp/ort-chunks
case "${1:?chunk number or finish}" in
  finish)
    cat /tmp/ort-chunks/part* > /tmp/ort-gpu.whl
    rm -rf /tmp/ort && mkdir -p /tmp/ort
    python3 -m zipfile -e /tmp/ort-gpu.whl /tmp/ort
    ls -la /tmp/ort/onnxruntime/capi/*.so*
    ;;
  *)
    cp ".gpu/c$1"/part* /tmp/ort-chunks/
    ls -la /tmp/ort-chunks
    ;;
esac
