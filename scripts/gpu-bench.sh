#!/usr/bin/env bash
# On the device machine after gpu-stage.sh: ONNX Runtime CPU vs CUDA through the project's own
# engine code (trtposeconvert bench), on the trt_pose resnet18_att 224 architecture (random
# weights) and MoveNet multipose 256, plus PyTorch eager/compile references on the same GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
NV=$(python3 -c "import nvidia, os; b = nvidia.__path__[0]; print(':'.join(os.path.join(b, d, 'lib') for d in sorted(os.listdir(b)) if os.path.isdir(os.path.join(b, d, 'lib'))))")
export LD_LIBRARY_PATH="$NV:/tmp/ort/onnxruntime/capi:${LD_LIBRARY_PATH:-}"
export ORT_DYLIB_PATH=/tmp/ort/onnxruntime/capi/libonnxruntime.so.1.31.1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
chmod +x .gpu/bin/trtposeconvert
.gpu/bin/trtposeconvert status 2>&1 | tee "$OUT/status.txt"
python3 models/tools/make_trt_pose_onnx.py resnet18 --size 224 -o /tmp/rn18.onnx
for m in /tmp/rn18.onnx .gpu/bin/movenet-multipose-256x256.onnx; do
  echo "== $m" | tee -a "$OUT/bench.txt"
  .gpu/bin/trtposeconvert bench "$m" --iterations 300 2>&1 | tee -a "$OUT/bench.txt"
done
timeout 300 python3 benches/torch_trt_pose.py 2>&1 | tee "$OUT/torch.txt"
