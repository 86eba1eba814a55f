"""One benchmark run, same machine, same JPEGs: images/s and p50/p99 latency per concurrency.

Systems:

a. ``triton``: ``detect_ensemble`` on the embedded tritonserver (CPU profile), gRPC, the project's
   async client (:class:`~yolo26_triton.client.TritonClient`), concurrent requests;
b. ``in-process``: the same decode + letterbox + onnxruntime + NMS in this process, same thread
   budget, micro-batching two-stage service (:mod:`benchmarks.baseline`);
c. ``ultralytics``: the path Ultralytics documents for Triton, ``YOLO("http://HOST:PORT/yolo26",
   task="detect")`` against the same server's raw ``yolo26`` model (pre- and post-processing in the
   client), one ``YOLO`` object per calling thread.

Usage::

    python -m benchmarks.run                       # builds its own repository (untrained yolo26n.yaml)
    python -m benchmarks.run --repository DIR      # a built repository (copied; the copy is served)
    python -m benchmarks.run --duration 3 --warmup 1 --concurrency 1,2 --out /tmp/bench   # quick look

Writes ``RESULTS.md`` (table, ratios against the targets, per-model queue/compute times from the
statistics extension, machine facts, the command) and ``results.json`` into ``--out`` (default
``benchmarks/``). Ultralytics is kept offline (``YOLO_OFFLINE=1``): all traffic stays on loopback.
"""

from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")  # Ultralytics: no online checks, no telemetry

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import platform
import shlex
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from yolo26_triton.client import TritonClient, TritonConfig
from yolo26_triton.ops.metadata import METADATA_FILENAME, DetectorMetadata
from yolo26_triton.perf import parse_concurrency, sample_images
from yolo26_triton.repository import read_config
from yolo26_triton.server import DEFAULT_REPOSITORY, EmbeddedServer, ServerOptions

from .configs import (
    config_path,
    copy_repository,
    edit_config,
    set_ultralytics_metadata,
    ultralytics_metadata,
)
from .harness import Measurement, run_async, run_threads

HERE = Path(__file__).resolve().parent
STEP_MODELS = ("preprocess", "yolo26", "postprocess")
ENSEMBLE = "detect_ensemble"
TARGETS = (
    ("a/b at concurrency 1", ">= 0.9"),
    ("a at c=8 / a at c=1", ">= 1.3"),
    ("a/c at concurrency 4", ">= 1.5"),
)


# ---------------------------------------------------------------------------------------- repository


def prepare_repository(source: Path | None, workdir: Path, *, ultralytics_meta: bool) -> Path:
    """A served copy: ``source`` copied, or ``model_repository/`` copied and built with ``yolo26n.yaml``.

    With ``ultralytics_meta`` the copy's ``yolo26`` CPU config gets the ``metadata`` parameter that
    Ultralytics' Triton client reads (class names; see :func:`benchmarks.configs.ultralytics_metadata`).
    """
    repository = workdir / "model_repository"
    if source is not None:
        copy_repository(source, repository)
    else:
        from yolo26_triton.builder import build_repository
        from yolo26_triton.repository import copy_templates

        copy_templates(DEFAULT_REPOSITORY, repository)
        build_repository(repository, "yolo26n.yaml")
    if ultralytics_meta:
        metadata = DetectorMetadata.read(repository / "yolo26" / "1" / METADATA_FILENAME)
        edit_config(
            config_path(repository, "yolo26"),
            set_ultralytics_metadata(ultralytics_metadata(metadata.names, metadata.input_size)),
        )
    return repository


def thread_budget(repository: Path) -> tuple[int, int]:
    """``(DALI threads, onnxruntime threads)`` the server's CPU configs use in all, for the baseline.

    onnxruntime threads are intra-op threads times yolo26 instances: the in-process baseline runs
    one session with as many threads as the server's sessions have together.
    """
    dali = read_config(config_path(repository, "preprocess")).parameters["dali_num_threads"].string_value
    detector = read_config(config_path(repository, "yolo26"))
    instances = sum(group.count or 1 for group in detector.instance_group) or 1
    onnx = str(int(detector.parameters["intra_op_num_threads"].string_value) * instances)
    return int(dali), int(onnx)


# ---------------------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class StepTimes:
    """One model's share of a measurement, from the statistics extension (deltas)."""

    model: str
    requests: int
    executions: int
    queue_ms: float
    compute_input_ms: float
    compute_infer_ms: float
    compute_output_ms: float

    @property
    def average_batch(self) -> float:
        """Requests per execution."""
        return self.requests / self.executions if self.executions else 0.0


def model_statistics(http_url: str, model: str) -> dict[str, Any]:
    """``GET /v2/models/<model>/stats`` (loopback)."""
    with urllib.request.urlopen(f"http://{http_url}/v2/models/{model}/stats", timeout=10) as response:
        reply: dict[str, Any] = json.load(response)
    return dict(reply["model_stats"][0])


def _counter(stats: dict[str, Any], name: str) -> tuple[int, int]:
    entry = stats.get("inference_stats", {}).get(name, {})
    return int(entry.get("count", 0)), int(entry.get("ns", 0))


def step_times(before: dict[str, Any], after: dict[str, Any], model: str) -> StepTimes:
    """Per-request averages between two snapshots of one model's statistics."""
    requests = _counter(after, "success")[0] - _counter(before, "success")[0]
    executions = int(after.get("execution_count", 0)) - int(before.get("execution_count", 0))

    def per_request(name: str) -> float:
        nanoseconds = _counter(after, name)[1] - _counter(before, name)[1]
        return nanoseconds / 1e6 / requests if requests else 0.0

    return StepTimes(
        model=model,
        requests=requests,
        executions=executions,
        queue_ms=per_request("queue"),
        compute_input_ms=per_request("compute_input"),
        compute_infer_ms=per_request("compute_infer"),
        compute_output_ms=per_request("compute_output"),
    )


@contextlib.contextmanager
def statistics_window(http_url: str, into: list[StepTimes]) -> Iterator[None]:
    """Collects each model's :class:`StepTimes` over the ``with`` block."""
    models = (ENSEMBLE, *STEP_MODELS)
    before = {model: model_statistics(http_url, model) for model in models}
    yield
    after = {model: model_statistics(http_url, model) for model in models}
    into.extend(step_times(before[model], after[model], model) for model in models)


# ---------------------------------------------------------------------------------------- systems


def measure_triton(
    options: ServerOptions, images: Sequence[bytes], levels: Sequence[int], warmup_s: float, duration_s: float
) -> tuple[list[Measurement], dict[int, list[StepTimes]]]:
    """System a: the ensemble over gRPC with the project's async client."""
    config = TritonConfig(
        url=options.grpc_url,
        protocol="grpc",
        timeout=120.0,
        max_retries=0,
        confidence_threshold=0.25,
        max_concurrency=max(levels),
    )
    results: list[Measurement] = []
    breakdown: dict[int, list[StepTimes]] = {}

    async def sweep() -> None:
        async with TritonClient(config) as client:
            for image in images:  # connect and warm every composing model once
                await client.detect(image)
            for level in levels:
                steps: list[StepTimes] = []
                with statistics_window(options.http_url, steps):
                    results.append(
                        await run_async(
                            "triton",
                            client.detect,
                            images,
                            level,
                            warmup_s=warmup_s,
                            duration_s=duration_s,
                        )
                    )
                breakdown[level] = steps
                _progress(results[-1])

    asyncio.run(sweep())
    return results, breakdown


def measure_ultralytics(
    options: ServerOptions, images: Sequence[bytes], levels: Sequence[int], warmup_s: float, duration_s: float
) -> list[Measurement]:
    """System c: Ultralytics' Triton client (HTTP, raw ``yolo26``), one YOLO object per thread.

    Each call decodes the JPEG bytes with OpenCV (as Ultralytics does for a file) and runs
    ``predict()``: letterbox, HTTP request with the float tensor, NMS, boxes scaled back.
    """
    import cv2
    import numpy as np
    from ultralytics import YOLO

    url = f"http://{options.http_url}/yolo26"

    def decode(image: bytes) -> Any:
        return cv2.imdecode(np.frombuffer(image, dtype=np.uint8), cv2.IMREAD_COLOR)

    def setup(_index: int) -> Any:
        # tritonclient.http's sync client runs on gevent, whose hub belongs to the creating thread:
        # each worker thread makes (and warms) its own YOLO object.
        model = YOLO(url, task="detect")
        model.predict(decode(images[0]), verbose=False)
        return model

    def call(model: Any, image: bytes) -> object:
        return model.predict(decode(image), verbose=False, conf=0.25)

    results = []
    for level in levels:
        results.append(
            run_threads(
                "ultralytics", call, images, level, warmup_s=warmup_s, duration_s=duration_s, setup=setup
            )
        )
        _progress(results[-1])
    return results


def measure_in_process(
    repository: Path,
    images: Sequence[bytes],
    levels: Sequence[int],
    warmup_s: float,
    duration_s: float,
    threads: tuple[int, int],
) -> list[Measurement]:
    """System b: the same math in this process (:class:`benchmarks.baseline.InProcessDetector`)."""
    from .baseline import InProcessDetector

    detector = InProcessDetector(
        repository / "yolo26" / "1" / "model.onnx", dali_threads=threads[0], onnx_threads=threads[1]
    )
    try:
        for image in images:
            detector.detect(image)
        results = []
        for level in levels:
            results.append(
                run_threads(
                    "in-process",
                    lambda _index, image: detector.detect(image),
                    images,
                    level,
                    warmup_s=warmup_s,
                    duration_s=duration_s,
                )
            )
            _progress(results[-1])
        return results
    finally:
        detector.close()


def _progress(measurement: Measurement) -> None:
    print(
        f"  {measurement.system:12} c={measurement.concurrency:<2} {measurement.throughput:7.2f} img/s  "
        f"p50 {measurement.p50_ms:7.1f} ms  p99 {measurement.p99_ms:7.1f} ms  errors {measurement.errors}",
        flush=True,
    )


# ---------------------------------------------------------------------------------------- report


def machine_facts() -> dict[str, str]:
    """CPU, cores, load, versions."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    facts = {
        "cpu": cpu,
        "nproc": str(os.cpu_count()),
        "affinity": str(len(os.sched_getaffinity(0))),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "tritonserver": "2.51.0 (nvidia-pytriton wheel, CPU profile, Python backend)",
    }
    for package in (
        "nvidia-pytriton",
        "tritonclient",
        "onnxruntime",
        "nvidia-dali-cuda120",
        "ultralytics",
        "torch",
        "numpy",
        "opencv-python",
    ):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            facts[package] = importlib.metadata.version(package)
    return facts


def load_average() -> str:
    """``/proc/loadavg``'s three averages."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, 0 when the denominator is 0."""
    return numerator / denominator if denominator else 0.0


def compute_ratios(results: Sequence[Measurement]) -> list[tuple[str, str, float | None, bool | None]]:
    """``(name, target, value, met)`` for the three targets (value None where a level was not run)."""
    table = {(m.system, m.concurrency): m.throughput for m in results}

    def get(system: str, level: int) -> float | None:
        return table.get((system, level))

    pairs = (
        (get("triton", 1), get("in-process", 1), 0.9),
        (get("triton", 8), get("triton", 1), 1.3),
        (get("triton", 4), get("ultralytics", 4), 1.5),
    )
    rows: list[tuple[str, str, float | None, bool | None]] = []
    for (name, target), (top, bottom, threshold) in zip(TARGETS, pairs, strict=True):
        value = ratio(top, bottom) if top is not None and bottom is not None else None
        rows.append((name, target, value, None if value is None else value >= threshold))
    return rows


def render_report(
    results: Sequence[Measurement],
    breakdown: dict[int, list[StepTimes]],
    facts: dict[str, str],
    context: dict[str, str],
) -> str:
    """RESULTS.md."""
    lines = [
        "# Benchmark results",
        "",
        "Generated by `benchmarks/run.py` (do not edit by hand; rerun it). "
        "a = `detect_ensemble` on the embedded tritonserver, CPU profile, gRPC, project async client; "
        "b = the same decode + letterbox + onnxruntime + NMS in one process (two-stage micro-batching "
        "service, same thread budget); c = Ultralytics' documented Triton path, "
        "`YOLO('http://HOST:PORT/yolo26', task='detect')`, pre/post-processing in the client, "
        "one YOLO object per calling thread.",
        "",
        f"Command: `{context['command']}`",
        "",
        f"Images: {context['images']} (cycled; callers start on different images). "
        f"Per level: {context['warmup']} s warm-up, {context['duration']} s measured. "
        f"Thread budget: DALI {context['dali_threads']}, onnxruntime intra-op {context['onnx_threads']} "
        "(read from the repository's CPU configs, used by a and b alike). "
        f"Model: {context['model']}.",
        "",
        "| system | concurrency | images/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {m.system} | {m.concurrency} | {m.throughput:.2f} | {m.p50_ms:.1f} | {m.p99_ms:.1f} "
        f"| {m.errors} |"
        for m in results
    ]
    lines += ["", "## Targets", "", "| ratio (images/s) | target | measured | met |", "|---|---|---:|---|"]
    for name, target, value, met in compute_ratios(results):
        shown = "not run" if value is None else f"{value:.2f}"
        verdict = "-" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {name} | {target} | {shown} | {verdict} |")
    lines += [
        "",
        "## Where the time goes in a (statistics extension, averages per request over each window)",
        "",
        "queue = waiting for the model's dynamic batcher and instance; infer = the model's `execute()` "
        "share per request (Python-backend IPC of inputs and outputs included in input/output); "
        "batch = requests per execution.",
        "",
        "| concurrency | model | requests | batch | queue ms | input ms | infer ms | output ms |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for level, steps in sorted(breakdown.items()):
        for step in steps:
            lines.append(
                f"| {level} | {step.model} | {step.requests} | {step.average_batch:.2f} | "
                f"{step.queue_ms:.1f} | {step.compute_input_ms:.1f} | {step.compute_infer_ms:.1f} | "
                f"{step.compute_output_ms:.1f} |"
            )
    lines += ["", "## Machine", ""]
    lines += [f"- {key}: {value}" for key, value in facts.items()]
    lines += [
        f"- load average before: {context['load_before']}; after: {context['load_after']}",
        f"- started {context['started']}, took {context['elapsed']} s",
        "",
    ]
    if context.get("notes"):
        lines += ["## Notes", "", context["notes"], ""]
    return "\n".join(lines)


NOTES = """\
- Ultralytics' Triton client reads the model's metadata from the Triton config parameter
  `metadata` (`ast.literal_eval` of a dict literal). Without it `YOLO(url)` still runs (640x640
  letterbox, NMS on the classic head) but names the classes `class0`..`class999`. The served copy
  here gets a minimal `metadata` parameter on `yolo26` (names, stride 32, imgsz [640, 640],
  task detect, end2end False); the ONNX file's full metadata would carry `args: {'dynamic': True}`,
  which makes Ultralytics send stride-rectangles (e.g. 640x480) that the fixed `[3, 640, 640]`
  input rejects. The parameter does not change speed.
- c runs with the server on the same 2 cores, as a; b runs after the server has stopped.
- On 2 cores a and b share the CPU with the load generator (Python client threads/event loop).

## When a target is missed: where the time goes and what would close it

- a/b at concurrency 1. The CPU profile runs yolo26 as 2 sessions of 1 onnxruntime thread
  (benchmarks/TUNING.md: the best throughput from concurrency 4 on), so a lone request gets one
  thread while b's single session has two; and each request crosses four Python-backend stubs
  (validate, preprocess, yolo26, postprocess), each crossing copying its tensors through shared
  memory (3x640x640 float32 = 4.9 MB in, 84x8400 float32 = 2.8 MB out of yolo26) - see the queue
  and input/output columns above. What would close it: Triton's native onnxruntime backend for
  yolo26 (in-process, no stub copies; not in the nvidia-pytriton binary, present in the NGC image),
  or a latency layout (1x2 or 2x2 threads: 10.6-11.5 images/s at concurrency 1 in TUNING.md) at the
  cost of throughput under load. On the GPU profile the DALI and TensorRT backends have no stubs.
- a/c at concurrency 4. On one 2-core machine the Ultralytics client's decode, letterbox and NMS
  take the same cores the server would use for them, so moving that work into the server gains
  nothing here; what the ensemble saves is transfer: about 0.1 MB of JPEG per image instead of
  4.9 MB of input tensor and 2.8 MB of output, which costs little on loopback but dominates
  across a network, and the client machine's CPU. A measurement with client and server on
  separate machines (or a bandwidth-limited link) would show it; these machines have loopback only."""


# ---------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repository", type=Path, help="a built repository (copied); default: build one")
    parser.add_argument("--concurrency", type=parse_concurrency, default=(1, 4, 8), help="default 1,4,8")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per level (15)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per level (3)")
    parser.add_argument(
        "--systems", default="triton,ultralytics,in-process", help="comma-separated subset, run in this order"
    )
    parser.add_argument("--out", type=Path, default=HERE, help="folder for RESULTS.md and results.json")
    parser.add_argument(
        "--no-ultralytics-metadata",
        action="store_true",
        help="serve the repository without the `metadata` parameter (c then names classes class0..)",
    )
    parser.add_argument("--images", type=Path, nargs="+", help="JPEGs (default: the packages' sample JPEGs)")
    parser.add_argument(
        "--tritonserver", type=Path, help="a tritonserver with DALI/TensorRT backends: serve the gpu profile"
    )
    parser.add_argument("--keep", type=Path, help="also copy the served repository here (for inspection)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark and writes the report."""
    args = parse_args(argv)
    systems = [name.strip() for name in args.systems.split(",") if name.strip()]
    unknown = set(systems) - {"triton", "ultralytics", "in-process"}
    if unknown:
        print(f"error: unknown systems {sorted(unknown)}", file=sys.stderr)
        return 2
    started, load_before = time.strftime("%Y-%m-%d %H:%M:%S"), load_average()
    clock = time.monotonic()
    paths = list(args.images) if args.images else sample_images()
    images = [path.read_bytes() for path in paths]
    levels: tuple[int, ...] = args.concurrency
    results: list[Measurement] = []
    breakdown: dict[int, list[StepTimes]] = {}
    with tempfile.TemporaryDirectory(prefix="yolo26-bench-") as workdir:
        repository = prepare_repository(
            args.repository, Path(workdir), ultralytics_meta=not args.no_ultralytics_metadata
        )
        if args.keep:
            shutil.copytree(repository, args.keep, dirs_exist_ok=True)
        threads = thread_budget(repository)
        metadata = DetectorMetadata.read(repository / "yolo26" / "1" / METADATA_FILENAME)
        profile = "gpu" if args.tritonserver else "cpu"
        options = ServerOptions.on_free_ports(
            repository=repository,
            profile=profile,
            tritonserver=args.tritonserver,
            extra_args=("--exit-timeout-secs=5",),
        )
        if {"triton", "ultralytics"} & set(systems):
            log_path = Path(workdir) / "tritonserver.log"
            with log_path.open("w") as log, EmbeddedServer(options, log_file=log):
                print(f"server ready ({profile} profile): gRPC {options.grpc_url}, HTTP {options.http_url}")
                for system in systems:
                    if system == "triton":
                        measured, breakdown = measure_triton(
                            options, images, levels, args.warmup, args.duration
                        )
                        results += measured
                    elif system == "ultralytics":
                        results += measure_ultralytics(options, images, levels, args.warmup, args.duration)
        if "in-process" in systems:
            results += measure_in_process(repository, images, levels, args.warmup, args.duration, threads)
    facts = machine_facts()
    context = {
        "command": shlex.join([Path(sys.executable).name, "-m", "benchmarks.run", *(argv or sys.argv[1:])]),
        "images": ", ".join(
            f"{path.name} ({len(image) // 1024} KiB)" for path, image in zip(paths, images, strict=True)
        ),
        "warmup": f"{args.warmup:g}",
        "duration": f"{args.duration:g}",
        "dali_threads": str(threads[0]),
        "onnx_threads": str(threads[1]),
        "model": f"{metadata.source} ({'untrained' if metadata.untrained else 'trained'}, "
        f"{metadata.head} head)",
        "load_before": load_before,
        "load_after": load_average(),
        "started": started,
        "elapsed": f"{time.monotonic() - clock:.0f}",
        "notes": NOTES,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    report = render_report(results, breakdown, facts, context)
    (args.out / "RESULTS.md").write_text(report)
    (args.out / "results.json").write_text(
        json.dumps(
            {
                "results": [{**asdict(m), "throughput": m.throughput} for m in results],
                "breakdown": {str(k): [asdict(s) for s in v] for k, v in breakdown.items()},
                "machine": facts,
                "context": context,
            },
            indent=2,
        )
    )
    print()
    for name, target, value, met in compute_ratios(results):
        if value is not None:
            print(f"{name}: {value:.2f} (target {target}: {'met' if met else 'MISSED'})")
    print(f"wrote {args.out / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
