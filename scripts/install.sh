#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Installs the release build like a GStreamer plugin, so gst-inspect-1.0, gst-launch-1.0 and
# trtpose-run work in any shell and folder without sourcing anything:
#   plugin          ~/.local/share/gstreamer-1.0/plugins/libgsttrtpose.so (GStreamer scans it)
#   tools           ~/.local/bin/trtpose-run, ~/.local/bin/trtposeconvert
#   ONNX Runtime    ~/.local/share/gst-trtpose/lib/ (copied from set-up's .venv)
#   models          ~/.local/share/gst-trtpose/models/ (copied from data/models)
#   config          ~/.config/gst-trtpose/config.toml (where ONNX Runtime and the models are)
# With --prefix DIR: DIR/lib/gstreamer-1.0, DIR/bin and DIR/share/gst-trtpose instead (add
# DIR/lib/gstreamer-1.0 to GST_PLUGIN_PATH unless GStreamer already scans it).
# usage: scripts/install.sh [--prefix DIR] [--build-dir DIR] [--models DIR] | --uninstall
#   --build-dir  where the plugin and tools were built (default target/release)
#   --models     the models to install (default data/models)
# Run scripts/setup.sh first; `scripts/setup.sh --install` does both.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PREFIX=""
UNINSTALL=0
BUILD=target/release
MODELS=data/models
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || { echo "--prefix needs a folder" >&2; exit 2; }
              PREFIX=$(realpath -m "$2"); shift ;;
    --prefix=*) PREFIX=$(realpath -m "${1#--prefix=}") ;;
    --build-dir) [ $# -ge 2 ] || { echo "--build-dir needs a folder" >&2; exit 2; }
                 BUILD=$2; shift ;;
    --models) [ $# -ge 2 ] || { echo "--models needs a folder" >&2; exit 2; }
              MODELS=$2; shift ;;
    --uninstall) UNINSTALL=1 ;;
    -h|--help) awk 'NR > 2 && /^#/ { print; next } NR > 2 { exit }' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

DATA_HOME=${XDG_DATA_HOME:-$HOME/.local/share}
CONFIG=${XDG_CONFIG_HOME:-$HOME/.config}/gst-trtpose/config.toml
MANIFEST=$DATA_HOME/gst-trtpose/installed-files.txt

if [ "$UNINSTALL" = 1 ]; then
  if [ ! -f "$MANIFEST" ]; then echo "nothing installed (no $MANIFEST)"; exit 0; fi
  while IFS= read -r f; do
    [ -n "$f" ] || continue
    rm -f "$f" && echo "removed $f"
    rmdir -p --ignore-fail-on-non-empty "$(dirname "$f")" 2>/dev/null || true
  done < "$MANIFEST"
  rm -f "$MANIFEST"
  rmdir -p --ignore-fail-on-non-empty "$(dirname "$MANIFEST")" 2>/dev/null || true
  echo "uninstalled"
  exit 0
fi

if [ -z "$PREFIX" ]; then
  PLUGIN_DIR=$DATA_HOME/gstreamer-1.0/plugins
  BIN_DIR=$HOME/.local/bin
  SHARE=$DATA_HOME/gst-trtpose
else
  PLUGIN_DIR=$PREFIX/lib/gstreamer-1.0
  BIN_DIR=$PREFIX/bin
  SHARE=$PREFIX/share/gst-trtpose
fi

PLUGIN=$BUILD/libgsttrtpose.so
for f in "$PLUGIN" "$BUILD/trtpose-run" "$BUILD/trtposeconvert"; do
  [ -f "$f" ] || { echo "$f missing: run scripts/setup.sh first" >&2; exit 1; }
done
ORT_LIB=$(ls "$ROOT"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* 2>/dev/null | head -n 1 || true)
[ -n "$ORT_LIB" ] || { echo "ONNX Runtime missing in .venv: run scripts/setup.sh first" >&2; exit 1; }

installed=()
put() {  # MODE SRC DEST
  install -D -m "$1" "$2" "$3"
  installed+=("$3")
}
put 644 "$PLUGIN" "$PLUGIN_DIR/libgsttrtpose.so"
put 755 "$BUILD/trtpose-run" "$BIN_DIR/trtpose-run"
put 755 "$BUILD/trtposeconvert" "$BIN_DIR/trtposeconvert"
ORT_DEST=$SHARE/lib/$(basename "$ORT_LIB")
put 644 "$ORT_LIB" "$ORT_DEST"
models=0
for m in "$MODELS"/*.onnx "$MODELS"/LICENSE*; do
  [ -f "$m" ] || continue
  put 644 "$m" "$SHARE/models/$(basename "$m")"
  case "$m" in *.onnx) models=$((models + 1)) ;; esac
done
mkdir -p "$(dirname "$CONFIG")"
printf '# written by scripts/install.sh\nort_library = "%s"\nmodels = "%s"\n' \
  "$ORT_DEST" "$SHARE/models" > "$CONFIG"
installed+=("$CONFIG")
mkdir -p "$(dirname "$MANIFEST")"
# Keep what an earlier install listed (another prefix) so --uninstall removes both.
{ [ -f "$MANIFEST" ] && cat "$MANIFEST"; printf '%s\n' "${installed[@]}"; } | sort -u > "$MANIFEST.tmp"
mv "$MANIFEST.tmp" "$MANIFEST"

echo "installed:"
echo "  plugin        $PLUGIN_DIR/libgsttrtpose.so"
echo "  tools         $BIN_DIR/trtpose-run, $BIN_DIR/trtposeconvert"
echo "  ONNX Runtime  $ORT_DEST"
echo "  models        $SHARE/models ($models)"
echo "  config        $CONFIG"
[ "$models" -gt 0 ] || echo "note: $MODELS has no models (set-up ran with --no-models?): name one with model=... / --model"
if [ -n "$PREFIX" ]; then
  echo "note: GStreamer finds the plugin with GST_PLUGIN_PATH=$PLUGIN_DIR"
fi
case ":$PATH:" in *":$BIN_DIR:"*) ;; *) echo "note: add $BIN_DIR to PATH for trtpose-run" ;; esac
echo "uninstall with: scripts/setup.sh --uninstall"
