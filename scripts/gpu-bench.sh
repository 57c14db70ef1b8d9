#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# On the device machine after gpu-stage.sh: the project's GPU path through its own engine code
# (trtposeconvert; no GStreamer there) on the trt_pose resnet18_att 224 architecture (random
# weights) and MoveNet multipose 256, plus PyTorch references on the same GPU.
#   gpu-bench.sh main      compare GPU vs CPU paths on photos; bench --e2e at batch 1, 8, 32
#   gpu-bench.sh extra     GPU memory limits (CPU fallback) and the PyTorch references
#   gpu-bench.sh shared    N streams through one shared engine (bench --streams)
#   gpu-bench.sh pinned    #17: rn18 224 frame in -> people out with pinned staging against
#                          pageable copies, batch 1, 8 and 64 (one engine, and two or three side by side),
#                          and with the frame itself in page-locked memory (--pinned-frame)
#   gpu-bench.sh confirm   MoveNet comparison without weak keypoints, a 1 MB limit (CUDA
#                          unavailable at load), and batch 64 throughput
# Expects in .gpu/bin: trtposeconvert, movenet-multipose-256x256.onnx and *.ppm photos.
set -uo pipefail
cd "$(dirname "$0")/.."
NV=$(python3 -c "import nvidia, os; b = nvidia.__path__[0]; print(':'.join(os.path.join(b, d, 'lib') for d in sorted(os.listdir(b)) if os.path.isdir(os.path.join(b, d, 'lib'))))")
export LD_LIBRARY_PATH="$NV:/tmp/ort/onnxruntime/capi:${LD_LIBRARY_PATH:-}"
export ORT_DYLIB_PATH=/tmp/ort/onnxruntime/capi/libonnxruntime.so.1.31.1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
T=.gpu/bin/trtposeconvert; chmod +x "$T"
PHOTO=.gpu/bin/basketball1.ppm
PHOTOS=$(ls .gpu/bin/*.ppm | paste -sd,)
MN=.gpu/bin/movenet-multipose-256x256.onnx
models() {
  for b in 1 8 32 0; do
    [ -f /tmp/rn18_b$b.onnx ] || python3 models/tools/make_trt_pose_onnx.py resnet18 --size 224 --cmap-std 0.015 --batch $b -o /tmp/rn18_b$b.onnx
    [ $b = 0 ] || [ -f /tmp/rn18_b$b.fp16.onnx ] || $T half /tmp/rn18_b$b.onnx
  done
}
case "${1:-main}" in
  main)
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
    $T status 2>&1 | tee "$OUT/status.txt"
    models 2>&1 | tee "$OUT/models.txt"
    {
      echo "== compare MoveNet multipose 256"; $T compare $MN --frames "$PHOTOS"
      echo "== compare trt_pose rn18 224"; $T compare /tmp/rn18_b1.onnx --frames "$PHOTOS"
      echo "== compare trt_pose rn18 224, GPU side fp16"; $T compare /tmp/rn18_b1.onnx --frames "$PHOTOS" --formats rgb,nv12 --half --tolerance 4
    } 2>&1 | tee "$OUT/compare.txt"
    {
      echo "== rn18 b1 (table)"; $T bench /tmp/rn18_b1.onnx --iterations 500
      for b in 1 8 32; do echo "== rn18 b$b"; $T bench /tmp/rn18_b$b.onnx --iterations 500 --e2e-only --e2e --frame $PHOTO; done
      echo "== rn18 b1 nv12"; $T bench /tmp/rn18_b1.onnx --iterations 500 --e2e-only --e2e --frame $PHOTO --frame-format nv12
      echo "== rn18 b1 synthetic 1920x1080 nv12"; $T bench /tmp/rn18_b1.onnx --iterations 300 --e2e-only --e2e --frame-size 1920x1080 --frame-format nv12
      echo "== movenet multipose 256"; $T bench $MN --iterations 300 --e2e --frame $PHOTO
    } 2>&1 | tee "$OUT/bench.txt"
    ;;
  pinned)
    for b in 1 8 64; do
      [ -f /tmp/rn18_b$b.onnx ] || python3 models/tools/make_trt_pose_onnx.py resnet18 --size 224 --cmap-std 0.015 --batch $b -o /tmp/rn18_b$b.onnx
      [ -f /tmp/rn18_b$b.fp16.onnx ] || $T half /tmp/rn18_b$b.onnx
    done > "$OUT/models.txt" 2>&1
    {
      nvidia-smi --query-gpu=name,driver_version,pcie.link.gen.current,pcie.link.width.current --format=csv
      for pf in "" --pinned-frame; do
        echo "== $(date +%T) rn18 b1 $pf"; $T bench /tmp/rn18_b1.onnx --iterations 2000 --e2e-only --e2e --frame $PHOTO $pf
      done
      echo "== $(date +%T) rn18 b8"; $T bench /tmp/rn18_b8.onnx --iterations 1000 --e2e-only --e2e --frame $PHOTO
      for pf in "" --pinned-frame; do
        echo "== $(date +%T) rn18 b64 $pf, and two or three engines side by side"
        $T bench /tmp/rn18_b64.onnx --iterations 200 --e2e-only --e2e --frame $PHOTO --instances 2,3 $pf
      done
      echo "== $(date +%T) done"
    } 2>&1 | tee "$OUT/pinned.txt"
    ;;
  confirm)
    models >/dev/null 2>&1
    [ -f /tmp/rn18_b64.onnx ] || python3 models/tools/make_trt_pose_onnx.py resnet18 --size 224 --cmap-std 0.015 --batch 64 -o /tmp/rn18_b64.onnx
    [ -f /tmp/rn18_b64.fp16.onnx ] || $T half /tmp/rn18_b64.onnx
    {
      echo "== compare MoveNet multipose 256, keypoints scoring below 0.2 in both paths not compared"
      $T compare $MN --frames "$PHOTOS" --min-keypoint-score 0.2
      echo "== rn18 with a 1 MB GPU limit"; $T bench /tmp/rn18_b1.onnx --iterations 20 --e2e-only --e2e --frame $PHOTO --gpu-mem-limit 1
      echo "== rn18 b64"; $T bench /tmp/rn18_b64.onnx --iterations 200 --e2e-only --e2e --frame $PHOTO
    } 2>&1 | tee "$OUT/confirm.txt"
    ;;
  shared)
    models >/dev/null 2>&1
    {
      for n in 8 16; do
        echo "== rn18 224 dynamic batch, $n streams, max-batch $n"
        $T bench /tmp/rn18_b0.onnx --streams $n --backend cuda --frame-size 640x480 --iterations 400 --max-batch $n --batch-timeout 2000
      done
      echo "== rn18 224, 8 streams, max-batch 8, 500 us timeout"
      $T bench /tmp/rn18_b0.onnx --streams 8 --backend cuda --frame-size 640x480 --iterations 400 --max-batch 8 --batch-timeout 500
      echo "== MoveNet multipose 256 (batch fixed at 1), 8 streams"
      $T bench $MN --streams 8 --backend cuda --frame-size 640x480 --iterations 200
    } 2>&1 | tee "$OUT/shared-gpu.txt"
    ;;
  extra)
    models >/dev/null 2>&1
    {
      echo "== rn18 dynamic batch 1,32 with a 300 MB GPU limit"; $T bench /tmp/rn18_b0.onnx --iterations 20 --e2e-only --e2e --frame $PHOTO --batch 1,32 --gpu-mem-limit 300
      echo "== rn18 with a 1 MB GPU limit"; $T bench /tmp/rn18_b1.onnx --iterations 20 --e2e-only --e2e --frame $PHOTO --gpu-mem-limit 1
    } 2>&1 | tee "$OUT/fallback.txt"
    timeout 420 python3 benches/torch_trt_pose.py $PHOTO 2>&1 | tee "$OUT/torch.txt"
    ;;
esac
