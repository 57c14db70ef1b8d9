#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# The project's test command: every test (unit, parse vectors, decoders, elements in real
# pipelines, PyGObject reader) against the real ONNX Runtime and GStreamer.
# Models come from data/models (scripts/setup.sh) or ../shared/models; tests fail, never skip,
# when neither has them. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
ORT_LIB=$(ls "$PWD"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* 2>/dev/null | head -n 1 || true)
if [ -z "$ORT_LIB" ]; then
  echo "ONNX Runtime not found in .venv: run scripts/setup.sh (or scripts/setup.sh --no-models) first" >&2
  exit 1
fi
export ORT_DYLIB_PATH="$ORT_LIB"
# The setup script's NVRTC: the kernel compile test requires it rather than skipping.
NVRTC_DIR=$(ls -d "$PWD"/.venv/lib/python3*/site-packages/nvidia/cu13/lib 2>/dev/null | head -n 1 || true)
if [ -n "$NVRTC_DIR" ]; then
  export LD_LIBRARY_PATH="$NVRTC_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" TRTPOSE_EXPECT_NVRTC=1
fi
# No doc-tests: there are none, and their empty run would close the output.
cargo test --release --locked --workspace --lib --bins --tests "$@"
