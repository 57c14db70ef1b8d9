#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# One-command set-up for gst-trtpose on Debian/Ubuntu:
#   1. system packages (GStreamer dev files and plugins for decoding/encoding, PyGObject)
#   2. ONNX Runtime 1.31 in a project-local virtual environment (.venv)
#   3. NVIDIA's runtime compiler (NVRTC, CPU-only) there, so tests compile the GPU kernel
#   4. release build of the plugin and tools; records where ONNX Runtime and the models are in
#      ~/.config/gst-trtpose/config.toml, so the tools and the plugin find them from any folder
#   5. the models converted to ONNX into data/models: MoveNet multipose (default), and for the
#      accurate preset MoveNet thunder and the NanoDet and CenterNet person detectors
#   6. a sample street video (vtest.avi from Debian's opencv-doc) into data/media
# It is idempotent: finished steps are skipped. Options:
#   --no-models       skip steps 5 and 6 (CI uses this; tests can read ../shared)
#   --install         then install like a GStreamer plugin: the plugin into
#                     ~/.local/share/gstreamer-1.0/plugins, trtpose-run and trtposeconvert into
#                     ~/.local/bin, ONNX Runtime and the models into ~/.local/share/gst-trtpose
#   --prefix DIR      with --install: DIR/lib/gstreamer-1.0, DIR/bin, DIR/share/gst-trtpose
#   --uninstall       remove what --install installed (and the config file it wrote)
#   --clean-cache     delete data/cache (the model converter's downloads and environment)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WITH_MODELS=1
INSTALL=0
PREFIX=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-models) WITH_MODELS=0 ;;
    --install) INSTALL=1 ;;
    --prefix) [ $# -ge 2 ] || { echo "--prefix needs a folder" >&2; exit 2; }
              PREFIX=$(realpath -m "$2"); shift ;;
    --prefix=*) PREFIX=$(realpath -m "${1#--prefix=}") ;;
    --uninstall) exec "$ROOT/scripts/install.sh" --uninstall ;;
    --clean-cache)
      du -sh data/cache 2>/dev/null || true
      rm -rf data/cache && echo "removed data/cache"; exit 0 ;;
    -h|--help) awk 'NR > 2 && /^#/ { print; next } NR > 2 { exit }' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -z "$PREFIX" ] || [ "$INSTALL" = 1 ] || { echo "--prefix goes with --install" >&2; exit 2; }
TOTAL=$((4 + 3 * WITH_MODELS + INSTALL))
N=0
step() { N=$((N + 1)); printf '\n==> [%d/%d] %s\n' "$N" "$TOTAL" "$*"; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# apt can fail mid-unpack; repair and retry once.
apt_retry() {
  if ! $SUDO env DEBIAN_FRONTEND=noninteractive "$@"; then
    echo "apt step failed; repairing and retrying once" >&2
    sleep 3
    $SUDO env DEBIAN_FRONTEND=noninteractive dpkg --configure -a || true
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -f install -y || true
    $SUDO env DEBIAN_FRONTEND=noninteractive "$@"
  fi
}

PACKAGES=(
  build-essential pkg-config ca-certificates
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  python3 python3-venv python3-pip python3-gi python3-gst-1.0
  gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
  # posepublish's tests run a real MQTT broker and make TLS certificates.
  mosquitto mosquitto-clients openssl
)
if [ "$WITH_MODELS" = 1 ] && ! command -v npm >/dev/null; then PACKAGES+=(npm); fi

step "System packages"
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "all ${#PACKAGES[@]} packages present"
else
  echo "installing: ${missing[*]}"
  apt_retry apt-get update -q
  apt_retry apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

step "ONNX Runtime 1.31 in .venv"
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
if .venv/bin/python -c 'import onnxruntime, onnx, numpy; assert onnxruntime.__version__.startswith("1.31")' 2>/dev/null; then
  echo "present: $(.venv/bin/python -c 'import onnxruntime; print(onnxruntime.__version__)')"
else
  .venv/bin/python -m pip install --disable-pip-version-check -q --upgrade pip
  .venv/bin/python -m pip install --disable-pip-version-check "onnxruntime==1.31.1" "onnx>=1.17" numpy
fi
ORT_LIB=$(ls "$ROOT"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -n 1)
echo "ONNX Runtime library: $ORT_LIB"

# NVIDIA's runtime compiler, CPU-only: lets the tests compile the GPU pre-processing kernel on
# machines without a GPU. GPU machines already have it with their CUDA toolkit or PyTorch.
step "NVRTC 13 in .venv (compiles the CUDA kernel in tests)"
if ls .venv/lib/python3*/site-packages/nvidia/cu13/lib/libnvrtc.so.13 >/dev/null 2>&1; then
  echo "present"
else
  if .venv/bin/python -m pip install --disable-pip-version-check -q "nvidia-cuda-nvrtc==13.0.88"; then
    echo "installed nvidia-cuda-nvrtc 13.0.88"
  else
    echo "warning: NVRTC not installed; the kernel compile test will fail" >&2
  fi
fi
printf 'export ORT_DYLIB_PATH=%q\nexport GST_PLUGIN_PATH=%q${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}\n' \
  "$ORT_LIB" "$ROOT/target/release" > "$ROOT/.venv/trtpose-env.sh"

step "Release build"
if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust 1.92 or newer with rustup (Debian's rustc is too old)" >&2
  exit 1
fi
cargo build --release --locked
echo "plugin: $ROOT/target/release/libgsttrtpose.so"
# Where ONNX Runtime and the models are, for the plugin and the tools run from any folder
# (see the README's troubleshooting for the whole search order).
CONFIG="${XDG_CONFIG_HOME:-$HOME/.config}/gst-trtpose/config.toml"
if [ ! -f "$CONFIG" ] || grep -q '^# written by scripts/setup.sh' "$CONFIG"; then
  mkdir -p "$(dirname "$CONFIG")"
  printf '# written by scripts/setup.sh of %s\nort_library = "%s"\nmodels = "%s"\n' \
    "$ROOT" "$ORT_LIB" "$ROOT/data/models" > "$CONFIG.tmp"
  if cmp -s "$CONFIG.tmp" "$CONFIG"; then rm "$CONFIG.tmp"; else mv "$CONFIG.tmp" "$CONFIG"; fi
  echo "config: $CONFIG"
else
  echo "config: $CONFIG (written by an install; left as it is)"
fi

if [ "$WITH_MODELS" = 1 ]; then
  step "Models (MoveNet multipose, plus lightning, thunder, PoseNet, NanoDet and CenterNet) into data/models"
  models/tools/fetch_models.sh data/models

  step "Sample video (vtest.avi from Debian's opencv-doc) into data/media"
  mkdir -p data/media
  if [ -s data/media/vtest.avi ]; then
    echo "present: data/media/vtest.avi"
  else
    tmp=$(mktemp -d)
    # apt downloads as its unprivileged _apt user: give it the folder.
    chmod 755 "$tmp"; chown _apt "$tmp" 2>/dev/null || true
    (cd "$tmp" && apt_retry apt-get download opencv-doc)
    dpkg-deb -x "$tmp"/opencv-doc_*.deb "$tmp/x"
    src=$(find "$tmp/x" -name vtest.avi | head -n 1)
    [ -n "$src" ] || { echo "vtest.avi not found in opencv-doc" >&2; exit 1; }
    cp "$src" data/media/vtest.avi
    rm -rf "$tmp"
    echo "saved data/media/vtest.avi"
  fi

  # The accurate preset runs thunder once per person: its int8 copy is 1.4x faster on the
  # CPU and scored the same OKS AP on the COCO development photos (0.475 against 0.467).
  step "int8 copy of MoveNet thunder for trtpose-run --preset accurate"
  if [ -s data/models/movenet-thunder-256x256.int8.onnx ]; then
    echo "present: data/models/movenet-thunder-256x256.int8.onnx"
  else
    frames=$(mktemp -d)
    # 20 frames of the street video, one every 4 s: the scenes the model will see.
    gst-launch-1.0 -q filesrc location=data/media/vtest.avi ! decodebin ! videoconvert ! \
      videorate drop-only=true max-rate=1 ! video/x-raw,framerate=1/4 ! pngenc ! \
      multifilesink location="$frames/f%02d.png" max-files=20 >/dev/null
    ORT_DYLIB_PATH="$ORT_LIB" ./target/release/trtposeconvert quantize \
      data/models/movenet-thunder-256x256.onnx --calibrate "$frames"
    rm -rf "$frames"
  fi
fi

if [ "$INSTALL" = 1 ]; then
  step "Install"
  scripts/install.sh ${PREFIX:+--prefix "$PREFIX"}
  exit 0
fi

cat <<TXT

Set-up complete. Process the sample video with:
  ./target/release/trtpose-run data/media/vtest.avi
Use the plugin from gst-launch-1.0 after:
  source .venv/trtpose-env.sh
or install it for every shell with:
  scripts/setup.sh --install
TXT
