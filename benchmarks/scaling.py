"""The autoscaling signal under load: where the HPA's target comes from.

The HorizontalPodAutoscaler (``deploy/kubernetes``) scales on the detector's queue time per request:
the recording rule ``triton:detector_queue_us_per_request:rate30s`` of ``monitoring/rules/triton.yml``,
``rate(nv_inference_queue_duration_us) / rate(nv_inference_request_success)`` of the detector
models. This benchmark drives one server (embedded, CPU profile; GPU with ``--tritonserver``;
untrained ``yolo26n.yaml`` unless ``--repository``) with ``c`` closed-loop gRPC clients on loopback,
for each ``c``, and prints per level: images/s, p50/p99 latency, and the same ratio over the level's
window from Triton's statistics extension (the counters behind those two metrics: queue time and
successful requests of ``yolo26``), with the detector's compute time per request and mean batch.

Usage::

    python -m benchmarks.scaling                                   # builds its own repository
    python -m benchmarks.scaling --concurrency 1,2,4,8,16 --duration 8 --out benchmarks/SCALING.md

A target sits where throughput has stopped growing (the server is saturated and a second replica
would help) but below the queue times of the overloaded levels (docs/scaling.md reads the table).
"""

from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")

import argparse
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from yolo26_triton.cli.arguments import concurrency_levels as parse_concurrency
from yolo26_triton.serving.launcher import EmbeddedServer
from yolo26_triton.serving.options import ServerOptions
from yolo26_triton.tools.images import sample_images
from yolo26_triton.tools.statistics import StepTimes

from .harness import Measurement
from .machine import load_average, machine_facts
from .run import HERE
from .systems import measure_triton, prepare_repository

DETECTOR = "yolo26"


def render(
    results: Sequence[Measurement], breakdown: dict[int, list[StepTimes]], header: Sequence[str]
) -> str:
    """The report: a table with one row per concurrency level."""
    best = max(result.throughput for result in results)
    lines = [
        *header,
        "",
        "| clients | images/s | of best | p50 ms | p99 ms | errors | yolo26 queue us/request "
        "| yolo26 compute ms/request | yolo26 mean batch |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        detector = next(step for step in breakdown[result.concurrency] if step.model == DETECTOR)
        lines.append(
            f"| {result.concurrency} | {result.throughput:.1f} | {result.throughput / best:.0%} "
            f"| {result.p50_ms:.0f} | {result.p99_ms:.0f} | {result.errors} "
            f"| {detector.queue_ms * 1000:.0f} | {detector.compute_infer_ms:.1f} "
            f"| {detector.average_batch:.2f} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scaling", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--repository", type=Path, help="a built repository (copied); default: build one")
    parser.add_argument(
        "--concurrency", type=parse_concurrency, default=(1, 2, 4, 8, 16), help="default 1,2,4,8,16"
    )
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per level (8)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per level (2)")
    parser.add_argument("--out", type=Path, default=HERE / "SCALING.md", help="the report (Markdown)")
    parser.add_argument(
        "--tritonserver", type=Path, help="a tritonserver with DALI/TensorRT backends: serve the gpu profile"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the sweep and writes the report."""
    args = parse_args(argv)
    started, load_before, clock = time.strftime("%Y-%m-%d %H:%M:%S"), load_average(), time.monotonic()
    images = [path.read_bytes() for path in sample_images()]
    with tempfile.TemporaryDirectory(prefix="yolo26-scaling-") as workdir:
        repository = prepare_repository(args.repository, Path(workdir), ultralytics=False)
        options = ServerOptions.on_free_ports(
            repository=repository,
            profile="gpu" if args.tritonserver else "cpu",
            tritonserver=args.tritonserver,
        )
        with (Path(workdir) / "tritonserver.log").open("w") as log, EmbeddedServer(options, log_file=log):
            results, breakdown = measure_triton(options, images, args.concurrency, args.warmup, args.duration)
    command = shlex.join([Path(sys.executable).name, "-m", "benchmarks.scaling", *(argv or sys.argv[1:])])
    facts = ", ".join(f"{name} {value}" for name, value in machine_facts().items())
    header = [
        "# The autoscaling signal under load",
        "",
        "Generated by `benchmarks/scaling.py` (do not edit by hand; rerun it). One server, "
        f"{options.profile} profile, closed-loop gRPC clients on loopback; queue and compute times per "
        "request of `yolo26` from the statistics extension over each level's window (the counters behind "
        "`nv_inference_queue_duration_us` and `nv_inference_request_success`).",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {facts}. Load average {load_before} before, {load_average()} after; started {started}, "
        f"{time.monotonic() - clock:.0f} s in all.",
    ]
    report = render(results, breakdown, header)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
