#!/usr/bin/env bash
# Two yolo26 versions side by side and an A/B split, with the commands a user types.
#
#   scripts/ab_example.sh [WORKDIR]      (default: a new temporary folder; needs `make setup`)
#
# Builds yolo26n (version 1) and yolo26s (version 2) into a copy of the repository (untrained YAMLs:
# no download), pins detect_ensemble to version 1, serves the CPU profile, sends 30 requests split
# 50:50 by the client, and prints `triton-detect stats` for both routes and both versions.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/example_server.sh
BIN=.venv/bin
WORKDIR=${1:-$(mktemp -d)}
REPOSITORY=$WORKDIR/model_repository
GRPC=${AB_GRPC_PORT:-18101}
export TRITON_URL=127.0.0.1:$GRPC TRITON_AB_SPLIT=1:50,2:50

copy_repository
$BIN/triton-detect build --repository "$REPOSITORY" --weights yolo26n.yaml
$BIN/triton-detect build --repository "$REPOSITORY" --weights yolo26s.yaml --version 2
$BIN/triton-detect pin 1 --repository "$REPOSITORY"

serve_in_background

ASSETS=$($BIN/python -c "import pathlib, ultralytics; print(pathlib.Path(ultralytics.__file__).parent / 'assets')")
IMAGES=()
for _ in $(seq 15); do IMAGES+=("$ASSETS/bus.jpg" "$ASSETS/zidane.jpg"); done
$BIN/triton-detect detect "${IMAGES[@]}" --json --conf 0.0 --max-det 5 |
  $BIN/python -c "import collections, json, sys; print('answered by version:', dict(sorted(collections.Counter(json.loads(line)['model']['version'] for line in sys.stdin).items())))"
$BIN/triton-detect stats
