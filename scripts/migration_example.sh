#!/usr/bin/env bash
# The migration phases of docs/migration.md with `triton-detect detect`, which honours the same
# variables as the service's RolloutDetector (each file's name is its routing key).
#
#   scripts/migration_example.sh [WORKDIR]     (default: a new temporary folder; needs `make setup`)
#
# Weights: MIGRATION_WEIGHTS=path/to/model.pt, else the seeded test model of tests/model_fixture.py
# (no trained weights can be downloaded offline). Builds them into a copy of the repository, serves
# the CPU profile on loopback, and runs eight camera images (copies of the three sample JPEGs)
# through each phase: in-process only, shadow, 50 %, fallback with the server stopped, 100 %.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/example_server.sh
BIN=.venv/bin
WORKDIR=${1:-$(mktemp -d)}
REPOSITORY=$WORKDIR/model_repository
GRPC=${MIGRATION_GRPC_PORT:-18201}
WEIGHTS=${MIGRATION_WEIGHTS:-$WORKDIR/yolo26n-spread.pt}
mkdir -p "$WORKDIR/cameras"

if [ ! -f "$WEIGHTS" ]; then
  $BIN/python -c "import sys, pathlib; from tests.model_fixture import make_spread_score_weights as make; make(pathlib.Path(sys.argv[1]))" "$WEIGHTS"
fi
copy_repository
$BIN/triton-detect build --repository "$REPOSITORY" --weights "$WEIGHTS" >"$WORKDIR/build.log" 2>&1

SAMPLES=$($BIN/python -c "import sys; sys.path.insert(0, '.'); from tests.sample_images import SAMPLE_IMAGES; print(' '.join(map(str, SAMPLE_IMAGES)))")
read -r -a SAMPLE_LIST <<<"$SAMPLES"
for n in 0 1 2 3 4 5 6 7; do
  cp "${SAMPLE_LIST[$((n % 3))]}" "$WORKDIR/cameras/camera-$n.jpg"
done

serve_in_background

# One request at a time, so that each latency is one request's own (not a queue's).
export TRITON_URL=127.0.0.1:$GRPC YOLO_WEIGHTS=$WEIGHTS TRITON_CONFIDENCE_THRESHOLD=0.45 TRITON_MAX_CONCURRENCY=1
cat >"$WORKDIR/summary.py" <<'PY'
import json, sys

for line in sys.stdin:
    record = json.loads(line)
    text = "  {:<13} {:<7} {:>3} boxes {:>7.1f} ms".format(
        record["file"].rsplit("/", 1)[-1], record["backend"], len(record["detections"]), record["latency_ms"]
    )
    shadow = record.get("shadow")
    if shadow:
        text += "  shadow {}: agreement {}, triton {} ms".format(shadow["status"], shadow.get("agreement"), shadow["triton_ms"])
    if "fallback" in record:
        text += "  fallback: " + record["fallback"]
    print(text)
PY
phase() {
  echo "== $1"
  shift
  env "$@" $BIN/triton-detect detect "$WORKDIR"/cameras/*.jpg --json | $BIN/python "$WORKDIR/summary.py"
}

phase "phase 1: TRITON_ENABLED=false (in-process only)" TRITON_ENABLED=false
phase "phase 3: TRITON_ENABLED=true TRITON_ROLLOUT_PERCENT=0 TRITON_SHADOW=true YOLO_LETTERBOX=square" \
  TRITON_ENABLED=true TRITON_ROLLOUT_PERCENT=0 TRITON_SHADOW=true YOLO_LETTERBOX=square
phase "phase 4: TRITON_ENABLED=true TRITON_ROLLOUT_PERCENT=50" TRITON_ENABLED=true TRITON_ROLLOUT_PERCENT=50
phase "phase 5: TRITON_ENABLED=true TRITON_ROLLOUT_PERCENT=100" TRITON_ENABLED=true TRITON_ROLLOUT_PERCENT=100
kill $SERVE
wait $SERVE 2>/dev/null || true
phase "fallback: the server stopped; TRITON_ROLLOUT_PERCENT=100 TRITON_FALLBACK=true TRITON_BREAKER_FAILURES=2" \
  TRITON_ENABLED=true TRITON_ROLLOUT_PERCENT=100 TRITON_FALLBACK=true TRITON_MAX_RETRIES=1 TRITON_BREAKER_FAILURES=2
