"""``triton-detect detect``: JPEG files through the migration facade (:mod:`yolo26_triton.rollout`).

It honours the facade's variables (``TRITON_ENABLED``, ``TRITON_ROLLOUT_PERCENT``, ``TRITON_SHADOW``,
``TRITON_FALLBACK``, ``YOLO_*``), with each file's name as its routing key. One difference: this
command exists to talk to Triton, so an unset ``TRITON_ENABLED`` means true here; set it to false to
detect in-process.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import os
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from yolo26_triton.cli.app import Command, ExitCode, UsageError
from yolo26_triton.cli.arguments import connection, max_detections, unit_interval, with_client_config
from yolo26_triton.cli.output import ProgressBar, print_detections
from yolo26_triton.client import TritonConfig
from yolo26_triton.client.config import env_variable
from yolo26_triton.client.tracing import configure as configure_tracing
from yolo26_triton.rollout import RolloutConfig, RolloutResult
from yolo26_triton.tools.detect_files import detect_files
from yolo26_triton.tools.images import collect_images


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``detect``'s arguments (besides the connection options)."""
    parser.add_argument("paths", nargs="+", type=Path, metavar="FILES_OR_DIRS", help="JPEG files or folders")
    parser.add_argument("--json", action="store_true", help="one JSON object per file instead of a table")
    parser.add_argument("--annotate", type=Path, metavar="DIR", help="write annotated copies into DIR")
    parser.add_argument(
        "--conf", type=unit_interval, help="confidence threshold; overrides TRITON_CONFIDENCE_THRESHOLD"
    )
    parser.add_argument(
        "--max-det", type=max_detections, help="at most this many boxes per image (server default: 300)"
    )
    parser.add_argument(
        "--trace-url",
        metavar="URL",
        help="trace the run with OpenTelemetry: spans to this OTLP/HTTP endpoint (e.g. "
        "http://localhost:4318/v1/traces), the server's join them; prints the trace id (needs the "
        "client's tracing extra)",
    )


def rollout_config(config: TritonConfig, environ: Mapping[str, str] | None = None) -> RolloutConfig:
    """The facade's settings for ``detect``: ``RolloutConfig.from_env(environ)`` on the Triton side
    ``config``, which is enabled unless ``TRITON_ENABLED`` is set (this command exists to call Triton).

    Raises:
        UsageError: A variable is invalid.
    """
    environ = os.environ if environ is None else environ
    if not environ.get(env_variable("enabled"), "").strip():
        config = dataclasses.replace(config, enabled=True)
    try:
        return RolloutConfig.from_env(environ, triton=config)
    except ValueError as error:
        raise UsageError(str(error)) from None


async def detect(args: argparse.Namespace, config: TritonConfig) -> ExitCode:
    """Detect objects in JPEG files: a table on stdout, or JSON lines with --json. Honours
    TRITON_ENABLED (unset: true), TRITON_ROLLOUT_PERCENT, TRITON_SHADOW, TRITON_FALLBACK and YOLO_*
    like the migration facade, each file's name being its routing key."""
    rollout = rollout_config(config)
    images = collect_images(args.paths)
    if args.trace_url and not tracing_installed():
        raise UsageError("--trace-url needs OpenTelemetry: pip install 'yolo26-triton-client[tracing]'")
    progress = ProgressBar(len(images), sys.stderr)
    async with _traced_run(args.trace_url):
        outcomes = await detect_files(
            images, rollout, max_detections=args.max_det, annotate=args.annotate, on_done=progress.advance
        )
    progress.finish()
    print_detections(images, outcomes, as_json=args.json)
    return ExitCode.OK if all(isinstance(o, RolloutResult) for o in outcomes) else ExitCode.FAILED


def tracing_installed() -> bool:
    """Whether the OpenTelemetry SDK and its OTLP/HTTP exporter can be imported."""
    try:
        return all(
            importlib.util.find_spec(module) is not None
            for module in ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http.trace_exporter")
        )
    except ModuleNotFoundError:  # a parent package is missing
        return False


@contextlib.asynccontextmanager
async def _traced_run(url: str | None) -> AsyncIterator[None]:
    """With ``url``, the whole run is one trace exported there (its id on stderr); else nothing."""
    if url is None:
        yield
        return
    provider = configure_tracing(url)
    try:
        with provider.get_tracer("yolo26_triton.cli").start_as_current_span("triton-detect detect") as span:
            print(f"trace {span.get_span_context().trace_id:032x}", file=sys.stderr)
            yield
    finally:
        provider.shutdown()  # type: ignore[no-untyped-call]  # exports the last spans


COMMANDS = (
    Command(
        "detect",
        "detect objects in JPEG files",
        add_arguments,
        with_client_config(detect),
        description=detect.__doc__,
        parents=connection,
    ),
)
