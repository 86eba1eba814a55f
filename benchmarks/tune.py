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
import contextlib
import json
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from yolo26_triton.cli.arguments import concurrency_levels as parse_concurrency
from yolo26_triton.contract import ENTRY_POINT
from yolo26_triton.export.repository import config_path, edit_config
from yolo26_triton.serving.launcher import EmbeddedServer
from yolo26_triton.serving.options import ServerOptions
from yolo26_triton.tools.images import sample_images
from yolo26_triton.tools.statistics import StepTimes

from .configs import (
    CPU_MODELS,
    ConfigEdit,
    copy_repository,
    set_instances,
    set_parameter,
    set_queue_delay,
    without_step,
)
from .harness import Measurement
from .machine import load_average, machine_facts
from .run import HERE
from .systems import SERVER, measure_triton, prepare_repository, print_progress

Edit = tuple[str, ConfigEdit]
"""(model, change) applied to that model's CPU config."""

NO_ALONE = ("yolo26", set_parameter("alone_intra_op_num_threads", "0"))


def _layout(instances: int, threads: int) -> list[Edit]:
    return [
        ("yolo26", set_instances(instances)),
        ("yolo26", set_parameter("intra_op_num_threads", str(threads))),
        NO_ALONE,
    ]


VARIANTS: dict[str, tuple[str, list[Edit]]] = {
    "shipped": ("as in model_repository/", []),
    "previous": (
        "before issue 13's tuning: yolo26 2 x 1 thread without the alone layout, 2 ms delays",
        [NO_ALONE] + [(m, set_queue_delay(2000)) for m in CPU_MODELS],
    ),
    "delay2ms": (
        "max_queue_delay_microseconds 2000 on all three",
        [(m, set_queue_delay(2000)) for m in CPU_MODELS],
    ),
    "delay10ms": (
        "max_queue_delay_microseconds 10000 on all three",
        [(m, set_queue_delay(10000)) for m in CPU_MODELS],
    ),
    "preferred4_8": (
        "delay 2000 us + preferred_batch_size [4, 8] on preprocess and yolo26",
        [(m, set_queue_delay(2000, (4, 8))) for m in ("preprocess", "yolo26")],
    ),
    "yolo1x2": ("yolo26 1 instance x 2 threads", _layout(1, 2)),
    "yolo2x1": ("yolo26 2 instances x 1 thread, also alone", _layout(2, 1)),
    "yolo2x2": ("yolo26 2 instances x 2 threads", _layout(2, 2)),
    "dali1": ("preprocess dali_num_threads 1", [("preprocess", set_parameter("dali_num_threads", "1"))]),
    "no_validate": (
        "ensemble without the validate step (what one Python-backend hop costs; not servable: no checks)",
        [(ENTRY_POINT, without_step("validate", "IMAGE"))],
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
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="1: one variant after the other; N > 1: all variants served at once (about 2 GB of memory "
        "each) and measured in turn, N times per level, the median kept: a busy machine then slows "
        "every variant alike",
    )
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
    levels: tuple[int, ...] = args.concurrency
    if args.rounds < 1:
        print("error: --rounds must be >= 1", file=sys.stderr)
        return 2
    runs: dict[str, dict[int, list[tuple[Measurement, list[StepTimes]]]]] = {
        name: {level: [] for level in levels} for name in names
    }
    with tempfile.TemporaryDirectory(prefix="yolo26-tune-") as workdir, contextlib.ExitStack() as all_servers:
        base = prepare_repository(args.repository, Path(workdir) / "base", ultralytics=False)

        def serve(name: str, stack: contextlib.ExitStack) -> tuple[ServerOptions, int | None]:
            repository = copy_repository(base, Path(workdir) / name / "model_repository")
            for model, change in VARIANTS[name][1]:
                edit_config(config_path(repository, model), change)
            options = ServerOptions.on_free_ports(repository=repository)
            log = stack.enter_context((Path(workdir) / f"{name}.log").open("w"))
            server = stack.enter_context(EmbeddedServer(options, log_file=log))
            return options, server.pid

        def measure(name: str, served: tuple[ServerOptions, int | None], level_set: Sequence[int]) -> None:
            results, breakdown = measure_triton(
                served[0],
                images,
                level_set,
                args.warmup,
                args.duration,
                server_pid=served[1],
                progress=print_progress,
            )
            for result in results:
                runs[name][result.concurrency].append((result, breakdown[result.concurrency]))

        if args.rounds == 1:
            for name in names:
                print(f"{name}: {VARIANTS[name][0]}", flush=True)
                with contextlib.ExitStack() as one_server:
                    measure(name, serve(name, one_server), levels)
        else:
            endpoints = {}
            for name in names:
                print(f"serving {name}: {VARIANTS[name][0]}", flush=True)
                endpoints[name] = serve(name, all_servers)
            for round_index in range(args.rounds):
                shift = round_index % len(names)
                for level in levels:
                    for name in names[shift:] + names[:shift]:
                        print(f"round {round_index + 1}, {name}:", flush=True)
                        measure(name, endpoints[name], [level])
    measured: dict[str, tuple[list[Measurement], dict[int, list[StepTimes]]]] = {}
    spread: dict[str, list[str]] = {}
    for name, per_level in runs.items():
        chosen = [
            sorted(per_level[n], key=lambda run: run[0].throughput)[len(per_level[n]) // 2] for n in levels
        ]
        measured[name] = (
            [result for result, _ in chosen],
            {n: steps for n, (_, steps) in zip(levels, chosen, strict=True)},
        )
        spread[name] = []
        for level in levels:
            values = [result.throughput for result, _ in per_level[level]]
            spread[name].append(f"{min(values):.1f}-{max(values):.1f}")
    lines = [
        "# Tuning the CPU profile (embedded tritonserver, 2.51)",
        "",
        "Generated by `benchmarks/tune.py`. Each variant is a copy of the built repository with the "
        "listed change; load = system a of `benchmarks/run.py` (gRPC, project client, real JPEGs, "
        "closed loop). "
        + (
            "Variants served one after the other."
            if args.rounds == 1
            else f"All variants served at once, measured in turn, {args.rounds} rounds per level (the "
            "order rotating): each cell is the round with the median images/s (the upper one of an "
            "even number), and the range of all rounds follows it."
        ),
        "",
        f"Command: `{shlex.join(['python', '-m', 'benchmarks.tune', *(argv or sys.argv[1:])])}`",
        f"Per level: {args.warmup:g} s warm-up, {args.duration:g} s measured. "
        f"Load average before {load_before}, after {load_average()}; took {time.monotonic() - clock:.0f} s.",
        "",
        "The server CPU per image (tritonserver and its stubs, over the measured window) moves much "
        "less than images/s when other work shares the machine.",
        "",
        "| variant | change | "
        + " | ".join(f"c={c} img/s | c={c} p50/p99 ms | c={c} server CPU ms/img" for c in levels)
        + " |",
        "|---|---|" + "---:|---:|---:|" * len(levels),
    ]
    for name, (results, _) in measured.items():
        cells = " | ".join(
            f"{m.throughput:.2f}{f' ({span})' if args.rounds > 1 else ''} | {m.p50_ms:.0f}/{m.p99_ms:.0f} | "
            f"{m.cpu_ms_per_image(SERVER) or 0:.0f}"
            for m, span in zip(results, spread[name], strict=True)
        )
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
