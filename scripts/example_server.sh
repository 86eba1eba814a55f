# Sourced by the example scripts: a copy of the model repository, and the embedded server in the
# background on loopback until the script exits. Expects BIN, WORKDIR, REPOSITORY and GRPC to be set.

copy_repository() {
  $BIN/python -c "import sys; from yolo26_triton.export.repository import copy_templates; from yolo26_triton.serving.options import DEFAULT_REPOSITORY; copy_templates(DEFAULT_REPOSITORY, __import__('pathlib').Path(sys.argv[1]))" "$REPOSITORY"
}

# Starts `triton-detect serve` (gRPC on $GRPC, HTTP and metrics on the next two ports), sets SERVE to
# its process id and returns once it prints its ready line; stops it when the script exits.
serve_in_background() {
  $BIN/triton-detect serve --repository "$REPOSITORY" --grpc-port "$GRPC" --http-port $((GRPC + 1)) \
    --metrics-port $((GRPC + 2)) >"$WORKDIR/serve.log" 2>&1 &
  SERVE=$!
  trap 'kill $SERVE 2>/dev/null || true; wait $SERVE 2>/dev/null || true' EXIT
  until grep -q "ready:" "$WORKDIR/serve.log"; do
    kill -0 $SERVE 2>/dev/null || { cat "$WORKDIR/serve.log"; exit 1; }
    sleep 1
  done
}
