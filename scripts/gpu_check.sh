#!/usr/bin/env bash
# The GPU check on a lent GPU machine: one command, nothing fetched there, a time limit.
#
#   scripts/gpu_check.sh pack          # HERE, with the network: wheels and sample JPEGs into .gpu_check/
#   scripts/gpu_check.sh run [OUT]     # THERE: install the carried files into a venv, run scripts/gpu_check.py
#
# The device tool: run(command="bash scripts/gpu_check.sh run $OUT", carry=[".gpu_check"], timeout_s=600).
# What the machine has (torch with CUDA 13, CuPy, numpy, OpenCV) is used as is; what it lacks travels in
# .gpu_check/ (git-ignored, about 56 MB): the nvidia-pytriton wheel (the tritonserver binary, the Python
# backend and its stubs, at the version pyproject.toml pins) and the sample JPEGs. docs/gpu.md, "GPU check".
set -euo pipefail
cd "$(dirname "$0")/.."
CARRY=.gpu_check
PYTHON=${PYTHON:-python3}
pinned() {  # the version pyproject.toml pins for $1
  "$PYTHON" - "$1" <<'PY'
import re, sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
print(next(r for r in requirements if re.match(rf"{re.escape(sys.argv[1])}==", r)))
PY
}

case "${1:-run}" in
  pack)
    rm -rf "$CARRY" && mkdir -p "$CARRY/wheels" "$CARRY/images"
    "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_35_x86_64 -d "$CARRY/wheels" "$(pinned nvidia-pytriton)"
    .venv/bin/python - "$CARRY/images" <<'PY'
import shutil, sys
from tests.sample_images import SAMPLE_IMAGES
for path in SAMPLE_IMAGES:
    shutil.copy(path, sys.argv[1])
PY
    du -sh "$CARRY"
    ;;
  run)
    OUT=${2:-${OUT:-out/gpu-check}}
    mkdir -p "$OUT"
    VENV=/tmp/yolo26-gpu-check
    "$PYTHON" -m venv --system-site-packages "$VENV"
    "$VENV/bin/python" -m pip install --quiet --no-index --no-deps "$CARRY"/wheels/*.whl
    # This checkout's package, without building it: the venv (and the server's stubs, which use it) see src/.
    echo "$PWD/src" > "$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/yolo26-triton-src.pth"
    { date -Is; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
      "$VENV/bin/python" -c 'import sys, numpy, cupy; print("python", sys.version.split()[0], "numpy", numpy.__version__, "cupy", cupy.__version__)'
    } | tee "$OUT/machine.txt"
    # CuPy against NumPy on the GPU, no server (tests/unit/ops/test_detections_cupy.py; no conftest: the
    # shared fixtures need torch and Ultralytics, which this machine's Python may not hold).
    timeout 180 "$VENV/bin/python" -m pytest -q --noconftest -p no:cacheprovider \
      tests/unit/ops/test_detections_cupy.py 2>&1 | tee "$OUT/cupy-tests.txt" || true
    PYTHONUNBUFFERED=1 timeout --kill-after=10 "${TIMEOUT_S:-500}" \
      "$VENV/bin/python" scripts/gpu_check.py --images "$CARRY/images" --out "$OUT" --budget-s "${BUDGET_S:-360}"
    ;;
  *) echo "usage: $0 pack | run [OUT]" >&2; exit 2 ;;
esac
