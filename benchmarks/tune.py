"""Tuning of the CPU profile on COPIES of a built repository: one server per variant, system a of
:mod:`benchmarks.run` (gRPC, real JPEGs) at each concurrency. Writes ``TUNING.md`` and ``tuning.json``.

Usage::

    python -m benchmarks.tune                                  # builds its own repository
    python -m benchmarks.tune --repository DIR --duration 6 --variants shipped,delay0

Never edits ``model_repository/``: the winning values are reported for a person to apply.
"""

from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")

import argparse
import json
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from yolo26_triton.perf import parse_concurrency, sample_images
from yolo26_triton.server import EmbeddedServer, ServerOptions

from .configs import (
    CPU_MODELS,
    ModelConfig,
    config_path,
    copy_repository,
    edit_config,
    set_instances,
    set_parameter,
    set_queue_delay,
)
from .harness import Measurement
from .report import load_average, machine_facts
from .run import HERE
from .systems import StepTimes, measure_triton, prepare_repository

Edit = tuple[str, Callable[[ModelConfig], None]]
"""(model, change) applied to that model's CPU config."""

VARIANTS: dict[str, tuple[str, list[Edit]]] = {
    "shipped": ("as in model_repository/", []),
    "delay0": ("max_queue_delay_microseconds 0 on all three", [(m, set_queue_delay(0)) for m in CPU_MODELS]),
    "delay10ms": (
        "max_queue_delay_microseconds 10000 on all three",
        [(m, set_queue_delay(10000)) for m in CPU_MODELS],
    ),
    "preferred4_8": (
        "delay 2000 us + preferred_batch_size [4, 8] on preprocess and yolo26",
        [(m, set_queue_delay(2000, (4, 8))) for m in ("preprocess", "yolo26")],
    ),
    "yolo1x2": (
        "yolo26 1 instance x intra_op_num_threads 2",
        [("yolo26", set_instances(1)), ("yolo26", set_parameter("intra_op_num_threads", "2"))],
    ),
    "yolo2x1": (
        "yolo26 2 instances x intra_op_num_threads 1",
        [("yolo26", set_instances(2)), ("yolo26", set_parameter("intra_op_num_threads", "1"))],
    ),
    "yolo2x2": (
        "yolo26 2 instances x intra_op_num_threads 2",
        [("yolo26", set_instances(2)), ("yolo26", set_parameter("intra_op_num_threads", "2"))],
    ),
    "dali1": ("preprocess dali_num_threads 1", [("preprocess", set_parameter("dali_num_threads", "1"))]),
    "delay0_dali1": (
        "delay 0 on all three + dali_num_threads 1",
        [(m, set_queue_delay(0)) for m in CPU_MODELS]
        + [("preprocess", set_parameter("dali_num_threads", "1"))],
    ),
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tune", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repository", type=Path, help="a built repository (copied); default: build one")
    parser.add_argument("--concurrency", type=parse_concurrency, default=(1, 4, 8))
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per level (8)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per level (2)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"subset of {','.join(VARIANTS)}")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for TUNING.md and tuning.json")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Measures each variant and writes the report."""
    args = parse_args(argv)
    names = [name.strip() for name in args.variants.split(",") if name.strip()]
    if unknown := set(names) - set(VARIANTS):
        print(f"error: unknown variants {sorted(unknown)}", file=sys.stderr)
        return 2
    images = [path.read_bytes() for path in sample_images()]
    load_before, clock = load_average(), time.monotonic()
    measured: dict[str, tuple[list[Measurement], dict[int, list[StepTimes]]]] = {}
    with tempfile.TemporaryDirectory(prefix="yolo26-tune-") as workdir:
        base = prepare_repository(args.repository, Path(workdir) / "base", ultralytics=False)
        for name in names:
            repository = copy_repository(base, Path(workdir) / name / "model_repository")
            for model, change in VARIANTS[name][1]:
                edit_config(config_path(repository, model), change)
            options = ServerOptions.on_free_ports(
                repository=repository, extra_args=("--exit-timeout-secs=5",)
            )
            print(f"{name}: {VARIANTS[name][0]}", flush=True)
            with (Path(workdir) / f"{name}.log").open("w") as log, EmbeddedServer(options, log_file=log):
                measured[name] = measure_triton(options, images, args.concurrency, args.warmup, args.duration)
    levels: tuple[int, ...] = args.concurrency
    lines = [
        "# Tuning the CPU profile (embedded tritonserver, 2.51)",
        "",
        "Generated by `benchmarks/tune.py`. Each variant is a copy of the built repository with the "
        "listed change, served alone; load = system a of `benchmarks/run.py` (gRPC, project client, "
        "real JPEGs, closed loop).",
        "",
        f"Command: `{shlex.join(['python', '-m', 'benchmarks.tune', *(argv or sys.argv[1:])])}`",
        f"Per level: {args.warmup:g} s warm-up, {args.duration:g} s measured. "
        f"Load average before {load_before}, after {load_average()}; took {time.monotonic() - clock:.0f} s.",
        "",
        "| variant | change | " + " | ".join(f"c={c} img/s | c={c} p50/p99 ms" for c in levels) + " |",
        "|---|---|" + "---:|---:|" * len(levels),
    ]
    for name, (results, _) in measured.items():
        cells = " | ".join(f"{m.throughput:.2f} | {m.p50_ms:.0f}/{m.p99_ms:.0f}" for m in results)
        lines.append(f"| {name} | {VARIANTS[name][0]} | {cells} |")
    lines += ["", "## Average batch size per model (requests per execution)", ""]
    lines += [
        "| variant | " + " | ".join(f"c={c} pre/yolo/post" for c in levels) + " |",
        "|---|" + "---|" * len(levels),
    ]
    for name, (_, breakdown) in measured.items():
        batches: list[str] = []
        for level in levels:
            steps = {step.model: step for step in breakdown.get(level, [])}
            batches.append("/".join(f"{steps[m].average_batch:.1f}" for m in CPU_MODELS if m in steps))
        lines.append(f"| {name} | " + " | ".join(batches) + " |")
    lines += ["", "## Machine", ""] + [f"- {key}: {value}" for key, value in machine_facts().items()]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "TUNING.md").write_text("\n".join(lines) + "\n")
    (args.out / "tuning.json").write_text(
        json.dumps(
            {
                name: {
                    "results": [{**asdict(m), "throughput": m.throughput} for m in results],
                    "breakdown": {str(k): [asdict(s) for s in v] for k, v in breakdown.items()},
                }
                for name, (results, breakdown) in measured.items()
            },
            indent=2,
        )
    )
    print(f"wrote {args.out / 'TUNING.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
