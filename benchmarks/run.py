"""One benchmark run, same machine, same JPEGs: images/s, latency and CPU per image, targets met or not.

Systems (:mod:`benchmarks.systems`): a = ``detect_ensemble`` over gRPC with the project's client,
b = the same ops in one process, c = Ultralytics' own Triton client. On loopback all three are
measured; then, where a private network namespace can be made (:mod:`benchmarks.link`), a and c
again over a shaped 1 Gbit/s full-duplex link, server and clients inside the namespace.

Usage::

    make bench                                     # = python -m benchmarks.run (builds yolo26n.yaml)
    python -m benchmarks.run --repository DIR      # a built repository (copied; the copy is served)
    python -m benchmarks.run --duration 3 --warmup 1 --concurrency 1,2 --out /tmp/bench   # quick look

Writes ``RESULTS.md`` (tables, targets met or missed, where the time goes, machine and load, the
command) and ``results.json`` into ``--out`` (default ``benchmarks/``). Ultralytics is kept offline
(``YOLO_OFFLINE=1``): all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")  # Ultralytics: no online checks, no telemetry

import argparse
import json
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from yolo26_triton.cli.arguments import concurrency_levels as parse_concurrency
from yolo26_triton.ops.metadata import METADATA_FILENAME, DetectorMetadata
from yolo26_triton.serving.launcher import EmbeddedServer
from yolo26_triton.serving.options import ServerOptions
from yolo26_triton.tools.images import sample_images
from yolo26_triton.tools.statistics import StepTimes

from .harness import Measurement
from .link import LinkRun, measure_over_link
from .machine import conditions, load_average, machine_facts
from .report import render
from .systems import (
    SYSTEMS,
    measure_in_process,
    measure_served,
    prepare_repository,
    print_progress,
    thread_budget,
)
from .targets import LINK, LOOPBACK, Results, targets

HERE = Path(__file__).resolve().parent


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repository", type=Path, help="a built repository (copied); default: build one")
    parser.add_argument("--concurrency", type=parse_concurrency, default=(1, 4, 8), help="default 1,4,8")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per level (15)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per level (3)")
    parser.add_argument(
        "--systems", default=",".join(SYSTEMS), help="comma-separated subset, run in this order"
    )
    parser.add_argument(
        "--link-concurrency",
        type=parse_concurrency,
        help="levels over the 1 Gbit/s link (default: the --concurrency levels)",
    )
    parser.add_argument("--no-link", action="store_true", help="loopback only")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for RESULTS.md and results.json")
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
    if unknown := set(systems) - set(SYSTEMS):
        print(f"error: unknown systems {sorted(unknown)}", file=sys.stderr)
        return 2
    started, load_before, situation = time.strftime("%Y-%m-%d %H:%M:%S"), load_average(), conditions()
    print(f"conditions: {situation}", flush=True)
    clock = time.monotonic()
    paths = list(args.images) if args.images else sample_images()
    images = [path.read_bytes() for path in paths]
    levels: tuple[int, ...] = args.concurrency
    link_levels: tuple[int, ...] = args.link_concurrency or levels
    loopback: list[Measurement] = []
    breakdown: dict[int, list[StepTimes]] = {}
    with tempfile.TemporaryDirectory(prefix="yolo26-bench-") as workdir:
        repository = prepare_repository(args.repository, Path(workdir))
        if args.keep:
            shutil.copytree(repository, args.keep, dirs_exist_ok=True)
        threads = thread_budget(repository)
        metadata = DetectorMetadata.read(repository / "yolo26" / "1" / METADATA_FILENAME)
        profile = "gpu" if args.tritonserver else "cpu"
        options = ServerOptions.on_free_ports(
            repository=repository,
            profile=profile,
            tritonserver=args.tritonserver,
        )
        if {"triton", "ultralytics"} & set(systems):
            log_path = Path(workdir) / "tritonserver.log"
            with log_path.open("w") as log, EmbeddedServer(options, log_file=log) as server:
                print(
                    f"{LOOPBACK}: server ready ({profile} profile), "
                    f"gRPC {options.grpc_url}, HTTP {options.http_url}"
                )
                loopback, breakdown = measure_served(
                    options, server.pid, systems, images, levels, args.warmup, args.duration
                )
        if "in-process" in systems:
            loopback += measure_in_process(
                repository, images, levels, args.warmup, args.duration, threads, progress=print_progress
            )
        if args.no_link or args.tritonserver or not {"triton", "ultralytics"} <= set(systems):
            reason = "--no-link" if args.no_link else "needs systems a and c on the embedded server"
            link = LinkRun([], None, f"not asked for ({reason})")
        else:
            print(f"{LINK}: a and c inside a network namespace", flush=True)
            link = measure_over_link(
                repository, paths, link_levels, args.warmup, args.duration, Path(workdir)
            )
            if link.skipped:
                print(f"{LINK}: skipped: {link.skipped}", flush=True)
    link_measurements = [Measurement(**record) for record in link.measurements]
    facts = machine_facts()
    context = {
        "command": shlex.join(
            ["python", "-m", "benchmarks.run", *(argv if argv is not None else sys.argv[1:])]
        ),
        "conditions": situation,
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
    }
    args.out.mkdir(parents=True, exist_ok=True)
    report = render(
        loopback=loopback,
        link=link_measurements,
        link_probe=link.probe,
        link_skipped=link.skipped,
        breakdown=breakdown,
        levels=levels,
        context=context,
        facts=facts,
    )
    (args.out / "RESULTS.md").write_text(report)
    results = Results.of(loopback, link_measurements)
    verdicts = [(target, *target.evaluate(results)) for target in targets(levels)]
    (args.out / "results.json").write_text(
        json.dumps(
            {
                "loopback": [{**asdict(m), "throughput": m.throughput} for m in loopback],
                "link": [{**asdict(m), "throughput": m.throughput} for m in link_measurements],
                "link_probe": asdict(link.probe) if link.probe else None,
                "link_skipped": link.skipped,
                "breakdown": {str(k): [asdict(s) for s in v] for k, v in breakdown.items()},
                "targets": [
                    {"target": t.name, "threshold": t.shown_threshold, "measured": value, "met": met}
                    for t, value, met in verdicts
                ],
                "machine": facts,
                "context": context,
            },
            indent=2,
        )
    )
    print()
    for target, value, met in verdicts:
        if value is not None:
            print(
                f"{target.name}: {value:.2f} (target {target.shown_threshold}: {'met' if met else 'MISSED'})"
            )
    print(f"wrote {args.out / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
