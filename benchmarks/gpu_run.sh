#!/usr/bin/env bash
# The GPU benchmark, sized for a lent GPU machine: one script, its own time limit.
#
#   benchmarks/gpu_run.sh --prepare             dev machine: TorchScript detector + sample JPEGs into
#                                               $GPU_INPUT (default benchmarks/gpu-input/, git-ignored,
#                                               ~11 MB: carry it to the device with the working tree)
#   benchmarks/gpu_run.sh [OUT_DIR]             GPU machine: measure (default OUT_DIR benchmarks/gpu-results)
#   benchmarks/gpu_run.sh --dry-run [OUT_DIR]   any machine: every step on the CPU, tiny (prepares if needed)
#
# Environment:
#   PYTHON        interpreter (default .venv/bin/python if present, else python3)
#   TIME_LIMIT_S  limit of the measurements (default 480 s: with the machine's start-up, a 15-minute
#                 device budget leaves time for one rerun)
#   TRITONSERVER  a tritonserver with the DALI and TensorRT backends (an NGC image, with this project
#                 installed): then also build the engine with `triton-detect build --engine` and run
#                 benchmarks/run.py on the GPU profile plus a perf_analyzer sweep
#   CONCURRENCY   levels of that sweep (default 1,4,8,16,32,64)
#
# The lent machines have torch (CUDA) and CuPy, and no TensorRT, DALI, Docker or registry: there,
# benchmarks/gpu_device.py measures what it can (UINT8 against FP32 input transfer, the detector
# network alone, nvJPEG decode). Machine facts go to OUT_DIR/machine.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=measure
case "${1:-}" in
  --prepare) MODE=prepare; shift ;;
  --dry-run) MODE=dry-run; shift ;;
esac
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
GPU_INPUT=${GPU_INPUT:-benchmarks/gpu-input}
OUT=${1:-benchmarks/gpu-results}
TIME_LIMIT_S=${TIME_LIMIT_S:-480}
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export YOLO_OFFLINE=1

if [ "$MODE" = prepare ] || { [ "$MODE" = dry-run ] && [ ! -f "$GPU_INPUT/yolo26n.torchscript" ]; }; then
  "$PYTHON" -m benchmarks.gpu_device --prepare "$GPU_INPUT"
  [ "$MODE" = prepare ] && exit 0
fi

mkdir -p "$OUT"
{
  echo "date: $(date -Is)"; echo "mode: $MODE"; echo "host cores: $(nproc)"; uptime
  grep -m1 "model name" /proc/cpuinfo || true
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>/dev/null || echo "nvidia-smi: none"
  "$PYTHON" -c 'import sys; print("python", sys.version.split()[0])'
  "$PYTHON" -c 'import cupy; print("cupy", cupy.__version__)' 2>/dev/null || echo "cupy: none"
  "$PYTHON" -c 'import tensorrt; print("tensorrt", tensorrt.__version__)' 2>/dev/null || echo "tensorrt: none"
  echo "tritonserver: ${TRITONSERVER:-none (lent machine: no DALI/TensorRT backends)}"
} | tee "$OUT/machine.txt"

DEVICE=(--device cuda)
[ "$MODE" = dry-run ] && DEVICE=(--device cpu --quick)
shopt -s nullglob
IMAGES=("$GPU_INPUT"/*.jpg)
timeout "$TIME_LIMIT_S" "$PYTHON" -m benchmarks.gpu_device "${DEVICE[@]}" \
  --model "$GPU_INPUT/yolo26n.torchscript" --images "${IMAGES[@]}" --out "$OUT" 2>&1 | tee "$OUT/gpu_device.log"

if [ -n "${TRITONSERVER:-}" ] && [ "$MODE" = measure ]; then
  # A full GPU host (NGC image): the GPU profile end to end, engine built through the project's path.
  REPO="$OUT/model_repository"
  if [ ! -f "$REPO/yolo26/1/model.onnx" ]; then
    rm -rf "$REPO"
    "$PYTHON" -c 'import sys; from pathlib import Path; from yolo26_triton.export.repository import copy_templates
copy_templates(Path("model_repository"), Path(sys.argv[1]))' "$REPO"
  fi
  # The FP16 plan through Ultralytics' onnx2engine (TensorRT 11 has no trtexec --fp16); skipped when
  # model.plan.json says it is up to date. Needs TensorRT's Python module (the builder image has it).
  "$PYTHON" -m yolo26_triton.cli build --repository "$REPO" --weights yolo26n.yaml --engine
  CONCURRENCY=${CONCURRENCY:-1,4,8,16,32,64}
  timeout "$TIME_LIMIT_S" "$PYTHON" -m benchmarks.run --repository "$REPO" --tritonserver "$TRITONSERVER" \
    --concurrency "$CONCURRENCY" --duration 10 --warmup 3 --out "$OUT" 2>&1 | tee "$OUT/run.log"
  SERVE=("$PYTHON" -m yolo26_triton.cli serve --repository "$REPO" --profile gpu --tritonserver "$TRITONSERVER"
         --http-port 18000 --grpc-port 18001 --metrics-port 18002)
  "${SERVE[@]}" > "$OUT/serve.log" 2>&1 &
  SERVER=$!
  trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
  for _ in $(seq 120); do
    "$PYTHON" -m yolo26_triton.cli health --protocol http --url 127.0.0.1:18000 >/dev/null 2>&1 && break
    sleep 1
  done
  timeout "$TIME_LIMIT_S" "$PYTHON" -m yolo26_triton.cli perf --url 127.0.0.1:18001 --http-url 127.0.0.1:18000 \
    --concurrency "$CONCURRENCY" --measurement-interval-ms 5000 --out "$OUT/perf" | tee "$OUT/perf.log"
fi
echo "results: $OUT/GPU_DEVICE.md ($OUT/gpu_device.json)"
