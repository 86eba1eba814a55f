#!/usr/bin/env bash
# GPU benchmark for a lent GPU machine (not run in CI; no GPU on the dev machines).
#
#   benchmarks/gpu_run.sh [OUT_DIR]
#
# Environment:
#   PYTHON        interpreter of an environment with `pip install -e ".[dev]"` (default .venv/bin/python)
#   TRITONSERVER  a tritonserver with the DALI and TensorRT backends (NGC image): serves the GPU profile.
#                 Without it the embedded 2.51 binary serves the CPU profile on this machine's cores.
#   CONCURRENCY   sweep levels (default 1,4,8,16,32,64 with TRITONSERVER, else 1,4,8,16)
#   DURATION      measured seconds per level (default 15)
#
# Same sweep as benchmarks/run.py (a: ensemble over gRPC, b: in-process, c: Ultralytics' Triton path)
# plus a perf_analyzer sweep over gRPC and HTTP, all on loopback. Machine facts go to OUT_DIR/machine.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
OUT=${1:-benchmarks/gpu-results}
DURATION=${DURATION:-15}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export YOLO_OFFLINE=1

{
  echo "date: $(date -Is)"; echo "host cores: $(nproc)"; grep -m1 "model name" /proc/cpuinfo || true
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || echo "no nvidia-smi"
  "$PYTHON" -c 'import sys; print("python", sys.version.split()[0])'
  "$PYTHON" -c 'import tensorrt; print("tensorrt", tensorrt.__version__)' 2>/dev/null || echo "tensorrt: none"
  echo "tritonserver: ${TRITONSERVER:-embedded 2.51 (CPU profile)}"
  uptime
} | tee "$OUT/machine.txt"

REPO="$OUT/model_repository"
if [ ! -f "$REPO/yolo26/1/model.onnx" ]; then
  rm -rf "$REPO"; mkdir -p "$REPO"
  cp -r model_repository/. "$REPO/"
  find "$REPO" \( -name '*.onnx' -o -name '*.plan' -o -name '*.dali' -o -name 'metadata.json' -o -name '__pycache__' \) -prune -exec rm -rf {} +
  "$PYTHON" -m yolo26_triton.cli build --repository "$REPO" --weights yolo26n.yaml
fi

ARGS=(--repository "$REPO" --duration "$DURATION" --warmup 3 --out "$OUT")
if [ -n "${TRITONSERVER:-}" ]; then
  # The FP16 plan through Ultralytics' onnx2engine (TensorRT 11 has no trtexec --fp16); skipped when
  # model.plan.json says it is up to date. Needs TensorRT's Python module (the builder image has it).
  "$PYTHON" -m yolo26_triton.cli build --repository "$REPO" --weights yolo26n.yaml --engine
  CONCURRENCY=${CONCURRENCY:-1,4,8,16,32,64}
  ARGS+=(--tritonserver "$TRITONSERVER" --concurrency "$CONCURRENCY")
else
  CONCURRENCY=${CONCURRENCY:-1,4,8,16}
  ARGS+=(--concurrency "$CONCURRENCY")
fi

"$PYTHON" -m benchmarks.run "${ARGS[@]}" 2>&1 | tee "$OUT/run.log"

# perf_analyzer sweep against a server started here (same profile).
PROFILE=cpu; [ -n "${TRITONSERVER:-}" ] && PROFILE=gpu
SERVE=("$PYTHON" -m yolo26_triton.cli serve --repository "$REPO" --profile "$PROFILE" --http-port 18000 --grpc-port 18001 --metrics-port 18002)
[ -n "${TRITONSERVER:-}" ] && SERVE+=(--tritonserver "$TRITONSERVER")
"${SERVE[@]}" > "$OUT/serve.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 120); do
  "$PYTHON" -m yolo26_triton.cli health --protocol http --url 127.0.0.1:18000 >/dev/null 2>&1 && break
  sleep 1
done
"$PYTHON" -m yolo26_triton.perf --url 127.0.0.1:18001 --http-url 127.0.0.1:18000 \
  --concurrency "$CONCURRENCY" --measurement-interval-ms 5000 --out "$OUT/perf" | tee "$OUT/perf.log"
echo "results: $OUT/RESULTS.md, $OUT/perf/perf.csv, $OUT/perf/perf.png"
