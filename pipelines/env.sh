# SPDX-License-Identifier: MPL-2.0
# Sourced by the examples: finds the plugin and ONNX Runtime set up by scripts/setup.sh.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -f "$ROOT/.venv/trtpose-env.sh" ]; then
  # shellcheck disable=SC1091
  . "$ROOT/.venv/trtpose-env.sh"
fi
MODEL=${MODEL:-$ROOT/data/models/movenet-multipose.onnx}
if [ ! -f "$MODEL" ]; then
  echo "model $MODEL not found: run scripts/setup.sh or set MODEL=/path/to/model.onnx" >&2
  exit 1
fi
