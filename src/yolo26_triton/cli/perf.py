"""``triton-detect perf`` and ``perf-analyzer``: NVIDIA's perf_analyzer (:mod:`yolo26_triton.tools.perf`)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

from yolo26_triton.cli.app import Command, ExitCode, UsageError
from yolo26_triton.cli.arguments import concurrency_levels, positive_integer
from yolo26_triton.tools.images import sample_images
from yolo26_triton.tools.perf.analyzer import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MODEL,
    PerfSettings,
    Protocol,
    run_perf_analyzer,
    sweep,
)

MIN_MEASUREMENT_INTERVAL_MS = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``perf``'s arguments."""
    parser.add_argument(
        "--protocol", choices=("grpc", "http", "both"), default="both", help="default: both, gRPC first"
    )
    parser.add_argument(
        "--url",
        help="host:port of the chosen protocol (with both: of gRPC); default TRITON_URL / TRITON_HTTP_URL "
        "or localhost:8001 / localhost:8000",
    )
    parser.add_argument("--http-url", help="with --protocol both: host:port of HTTP")
    parser.add_argument(
        "--concurrency",
        type=concurrency_levels,
        default=DEFAULT_CONCURRENCY,
        help=f"comma-separated levels (default: {','.join(map(str, DEFAULT_CONCURRENCY))})",
    )
    parser.add_argument(
        "--measurement-interval-ms", type=int, default=5000, help="one measurement window (default: 5000)"
    )
    parser.add_argument(
        "--stability-percentage",
        type=float,
        default=25.0,
        help="allowed spread of three windows (perf_analyzer -s; default 25, loose for small CPU hosts)",
    )
    parser.add_argument(
        "--max-trials", type=positive_integer, default=10, help="windows per level before giving up"
    )
    parser.add_argument("--out", type=Path, default=Path("perf-results"), help="output folder (created)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model taking JPEG bytes as IMAGE")
    parser.add_argument(
        "--images", type=Path, nargs="+", help="JPEG files to send (default: the sample JPEGs in packages)"
    )


def endpoints(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[Protocol, str]:
    """``host:port`` per protocol to measure: the flags, else ``TRITON_URL``/``TRITON_HTTP_URL``."""
    grpc_url = environ.get("TRITON_URL", "").strip() or "localhost:8001"
    http_url = environ.get("TRITON_HTTP_URL", "").strip() or "localhost:8000"
    if args.protocol == "grpc":
        return {"grpc": args.url or grpc_url}
    if args.protocol == "http":
        return {"http": args.url or args.http_url or http_url}
    return {"grpc": args.url or grpc_url, "http": args.http_url or http_url}


def perf(args: argparse.Namespace) -> ExitCode:
    """Measure detect_ensemble with Triton's perf_analyzer, sending real JPEGs of mixed sizes over
    gRPC and/or HTTP at each concurrency level; write perf.csv and perf.png into --out.
    Exit codes: 0 done, 1 perf_analyzer failed, 2 bad arguments or files."""
    if args.measurement_interval_ms < MIN_MEASUREMENT_INTERVAL_MS:
        raise UsageError(f"--measurement-interval-ms must be >= {MIN_MEASUREMENT_INTERVAL_MS}")
    paths = list(args.images) if args.images else sample_images()
    try:
        images = [(path.name, path.read_bytes()) for path in paths]
    except OSError as error:
        raise UsageError(str(error)) from None
    settings = PerfSettings(
        model=args.model,
        concurrency=tuple(args.concurrency),
        measurement_interval_ms=args.measurement_interval_ms,
        stability_percentage=args.stability_percentage,
        max_trials=args.max_trials,
    )
    _, csv_path, png_path = sweep(endpoints(args, os.environ), images, args.out, settings)
    print(f"perf: wrote {csv_path} and {png_path}")
    return ExitCode.OK


def add_analyzer_arguments(parser: argparse.ArgumentParser) -> None:
    """Every argument after the command goes to perf_analyzer unread (the parser takes no "-" options)."""
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help="perf_analyzer's flags")


def perf_analyzer(args: argparse.Namespace) -> int:
    """NVIDIA's perf_analyzer with any of its own flags, e.g. ``triton-detect perf-analyzer -m
    detect_ensemble -u 127.0.0.1:8001 -i grpc --input-data perf-results/input_data.json
    --concurrency-range 1:8:2`` (``-h``: its own help). Exit code: perf_analyzer's; 1 without it."""
    arguments = list(args.arguments)
    return run_perf_analyzer(arguments[1:] if arguments[:1] == ["--"] else arguments)


COMMANDS = (
    Command(
        "perf",
        "perf_analyzer sweep against a running server, real JPEGs: CSV + PNG",
        add_arguments,
        perf,
        description=perf.__doc__,
    ),
    Command(
        "perf-analyzer",
        "NVIDIA's perf_analyzer with any of its own flags (its libraries found for it)",
        add_analyzer_arguments,
        perf_analyzer,
        description=perf_analyzer.__doc__,
        parser_options={"prefix_chars": "+", "add_help": False},
    ),
)
