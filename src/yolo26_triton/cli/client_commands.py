"""The client subcommands of ``triton-detect``: ``detect``, ``health``, ``stats`` and ``models``.

The main command calls :func:`register` with its subparsers. Every subcommand starts from
``TritonConfig.from_env()`` and lets its flags override it; its ``func`` takes the parsed arguments and
returns the exit code: 0 success, 1 a request or check failed, 2 bad settings or arguments.

``detect`` goes through the migration facade (:mod:`yolo26_triton.rollout`) and honours its variables
(``TRITON_ENABLED``, ``TRITON_ROLLOUT_PERCENT``, ``TRITON_SHADOW``, ``TRITON_FALLBACK``, ``YOLO_*``), with
each file's name as its routing key. One difference: this command exists to talk to Triton, so an
unset ``TRITON_ENABLED`` means true here; set it to false to detect in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib.util
import json
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from yolo26_triton.client import TritonClient, TritonConfig, TritonError
from yolo26_triton.client.annotate import annotate_image
from yolo26_triton.client.config import env_variable
from yolo26_triton.client.tracing import configure as configure_tracing
from yolo26_triton.client.types import ModelStatistics, ModelVersionState
from yolo26_triton.rollout import LocalModelError, RolloutConfig, RolloutDetector, RolloutResult, ShadowRecord

JPEG_SUFFIXES = frozenset({".jpg", ".jpeg"})
PROGRESS_MIN_FILES = 6  # the progress bar shows for more than 5 files
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

Outcome = RolloutResult | TritonError | OSError


def connection_parser() -> argparse.ArgumentParser:
    """The ``--protocol``, ``--url`` and ``--model`` options, as a parent parser for a subcommand.

    :func:`config_from_args` applies them on top of the ``TRITON_*`` variables.
    """
    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument("--protocol", choices=("grpc", "http"), help="overrides TRITON_PROTOCOL")
    connection.add_argument(
        "--url", help="host:port of the chosen protocol; overrides TRITON_URL or TRITON_HTTP_URL"
    )
    connection.add_argument("--model", help="Triton model name; overrides TRITON_MODEL")
    connection.add_argument(
        "--model-version",
        help="detector version to ask (its route <model>_v<N>); overrides TRITON_MODEL_VERSION and "
        "TRITON_AB_SPLIT",
    )
    return connection


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``detect``, ``health``, ``stats`` and ``models`` subcommands."""
    connection = connection_parser()

    detect = subparsers.add_parser(
        "detect", parents=[connection], help="detect objects in JPEG files", description=_detect.__doc__
    )
    detect.add_argument("paths", nargs="+", type=Path, metavar="FILES_OR_DIRS", help="JPEG files or folders")
    detect.add_argument("--json", action="store_true", help="one JSON object per file instead of a table")
    detect.add_argument("--annotate", type=Path, metavar="DIR", help="write annotated copies into DIR")
    detect.add_argument(
        "--conf", type=float, help="confidence threshold; overrides TRITON_CONFIDENCE_THRESHOLD"
    )
    detect.add_argument("--max-det", type=int, help="at most this many boxes per image (server default: 300)")
    detect.add_argument(
        "--trace-url",
        metavar="URL",
        help="trace the run with OpenTelemetry: spans to this OTLP/HTTP endpoint (e.g. "
        "http://localhost:4318/v1/traces), the server's join them; prints the trace id (needs the "
        "tracing extra)",
    )
    detect.set_defaults(func=client_command(_detect))

    health = subparsers.add_parser(
        "health", parents=[connection], help="exit 0 when the server and model are ready"
    )
    health.set_defaults(func=client_command(_health))

    stats = subparsers.add_parser("stats", parents=[connection], help="inference statistics")
    stats.add_argument(
        "--all", action="store_true", help="every loaded model, not only the model and its steps"
    )
    stats.set_defaults(func=client_command(_stats))

    models = subparsers.add_parser("models", parents=[connection], help="the server's model repository")
    models.set_defaults(func=client_command(_models))


def config_from_args(args: argparse.Namespace, environ: dict[str, str] | None = None) -> TritonConfig:
    """``TritonConfig.from_env(environ)`` with the flags in ``args`` applied on top.

    Raises:
        ValueError: A variable or flag value is invalid.
    """
    config = TritonConfig.from_env(environ)
    overrides: dict[str, Any] = {}
    if args.protocol:
        overrides["protocol"] = args.protocol
    if args.url:
        overrides["url" if overrides.get("protocol", config.protocol) == "grpc" else "http_url"] = args.url
    if args.model:
        overrides["model"] = args.model
    if args.model_version:
        overrides["model_version"] = args.model_version
        overrides["ab_split"] = None
    if getattr(args, "conf", None) is not None:
        overrides["confidence_threshold"] = args.conf
    return dataclasses.replace(config, **overrides)


def rollout_config(config: TritonConfig, environ: Mapping[str, str] | None = None) -> RolloutConfig:
    """The facade's settings for ``detect``: ``RolloutConfig.from_env(environ)`` on the Triton side
    ``config``, which is enabled unless ``TRITON_ENABLED`` is set (this command exists to call Triton).

    Raises:
        ValueError: A variable is invalid.
    """
    environ = os.environ if environ is None else environ
    rollout = RolloutConfig.from_env(environ, triton=config)
    if not environ.get(env_variable("triton_enabled", RolloutConfig), "").strip():
        rollout = rollout.replace(triton_enabled=True)
    return rollout


def collect_images(paths: Sequence[Path]) -> list[Path]:
    """The files named, plus the ``.jpg``/``.jpeg`` files directly inside the folders named, sorted.

    Raises:
        FileNotFoundError: A path does not exist.
    """
    images: list[Path] = []
    for path in paths:
        if path.is_dir():
            images.extend(
                sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in JPEG_SUFFIXES)
            )
        elif path.is_file():
            images.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return images


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns separated by two spaces."""
    cells = [[str(cell) for cell in row] for row in [headers, *rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


class ProgressBar:
    """``[#####-----] 12/40`` on one line of ``stream``; silent unless there are enough files and a TTY."""

    def __init__(self, total: int, stream: TextIO, width: int = 30) -> None:
        self.total = total
        self.stream = stream
        self.width = width
        self.done = 0
        self.enabled = total >= PROGRESS_MIN_FILES and stream.isatty()

    def advance(self) -> None:
        """Count one more file done and redraw."""
        self.done += 1
        if self.enabled:
            filled = self.width * self.done // self.total
            self.stream.write(f"\r[{'#' * filled}{'-' * (self.width - filled)}] {self.done}/{self.total}")
            self.stream.flush()

    def finish(self) -> None:
        """End the progress line."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def client_command(
    run: Callable[[argparse.Namespace, TritonConfig], Coroutine[Any, Any, int]],
) -> Callable[[argparse.Namespace], int]:
    """A subcommand's ``func``: the settings from :func:`config_from_args`, then ``run`` in an event loop.

    A bad setting exits 2 and a :class:`TritonError` exits 1, each with one ``error:`` line on stderr.
    """

    def func(args: argparse.Namespace) -> int:
        try:
            config = config_from_args(args)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_USAGE
        try:
            return asyncio.run(run(args, config))
        except TritonError as error:
            print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
            return EXIT_FAILED

    return func


async def _detect(args: argparse.Namespace, config: TritonConfig) -> int:
    """Detect objects in JPEG files: a table on stdout, or JSON lines with --json. Honours
    TRITON_ENABLED (unset: true), TRITON_ROLLOUT_PERCENT, TRITON_SHADOW, TRITON_FALLBACK and YOLO_*
    like the migration facade, each file's name being its routing key."""
    try:
        rollout = rollout_config(config)
        images = collect_images(args.paths)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not images:
        print("error: no .jpg or .jpeg files found", file=sys.stderr)
        return EXIT_USAGE
    if args.annotate:
        args.annotate.mkdir(parents=True, exist_ok=True)
    if args.trace_url and not tracing_installed():
        print("error: --trace-url needs OpenTelemetry: pip install 'yolo26-triton[tracing]'", file=sys.stderr)
        return EXIT_USAGE

    progress = ProgressBar(len(images), sys.stderr)
    slots = asyncio.Semaphore(config.max_concurrency)  # bounds open files as well as requests

    async with _traced_run(args.trace_url), RolloutDetector(rollout) as detector:
        try:
            await detector.warm_up()  # a bad YOLO_WEIGHTS fails once, before any file
        except LocalModelError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_USAGE

        async def detect_file(path: Path) -> Outcome:
            async with slots:
                try:
                    image = await asyncio.to_thread(path.read_bytes)
                    result = await detector.detect(image, key=path.name, max_detections=args.max_det)
                    if args.annotate:
                        await asyncio.to_thread(_write_annotated, image, result, args.annotate / path.name)
                except (TritonError, OSError) as error:
                    return error
                finally:
                    progress.advance()
                return result

        outcomes = await asyncio.gather(*(detect_file(path) for path in images))
        await detector.drain()  # shadow mode: every comparison ends before the report
    progress.finish()
    report(images, outcomes, as_json=args.json)
    return EXIT_OK if all(isinstance(o, RolloutResult) for o in outcomes) else EXIT_FAILED


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


def report(images: Sequence[Path], outcomes: Sequence[Outcome], *, as_json: bool) -> None:
    """Print one outcome per image: a table, or JSON lines; failures and the untrained warning go to stderr.

    In table mode a failed image is an ``error:`` line on stderr; in JSON mode it is a record with an
    ``error`` key, so that every input file has exactly one line on stdout.
    """
    untrained = next(
        (o for o in outcomes if isinstance(o, RolloutResult) and o.detections.model_untrained), None
    )
    if untrained is not None:
        print(
            f"warning: the boxes come from an UNTRAINED model (source: {untrained.detections.model_source}); "
            "they are not meaningful",
            file=sys.stderr,
        )
    if as_json:
        for path, outcome in zip(images, outcomes, strict=True):
            print(json.dumps(_outcome_record(path, outcome)))
    else:
        _print_detections_table(images, outcomes)


def _write_annotated(image: bytes, result: RolloutResult, destination: Path) -> None:
    annotate_image(image, result.detections).save(destination, format="JPEG", quality=95)


def _outcome_record(path: Path, outcome: Outcome) -> dict[str, Any]:
    if not isinstance(outcome, RolloutResult):
        status = outcome.status if isinstance(outcome, TritonError) else None
        error = {"type": type(outcome).__name__, "status": status, "message": str(outcome)}
        return {"file": str(path), "error": error}
    record: dict[str, Any] = {
        "file": str(path),
        "backend": outcome.backend,
        "image_size": list(outcome.detections.image_size),
        "latency_ms": round(outcome.latency_s * 1000, 2),
        "route": outcome.route,
        "model": dict(outcome.model_info),
    }
    if outcome.fallback is not None:
        record["fallback"] = outcome.fallback
    if outcome.shadow is not None and outcome.shadow.done():
        record["shadow"] = _shadow_record(outcome.shadow.result())
    return record | {
        "detections": [
            {
                "class_id": det.class_id,
                "class_name": det.class_name,
                "confidence": round(det.confidence, 4),
                "bbox": [round(value, 1) for value in det.bbox],
            }
            for det in outcome.detections
        ],
    }


def _shadow_record(shadow: ShadowRecord) -> dict[str, Any]:
    """Shadow mode's comparison with Triton, in a JSON line (agreement as ``triton-detect compare``)."""
    record: dict[str, Any] = {
        "status": shadow.status,
        "local_ms": round(shadow.local_latency_s * 1000, 2),
        "triton_ms": None if shadow.triton_latency_s is None else round(shadow.triton_latency_s * 1000, 2),
    }
    if shadow.agreement is not None:
        record |= {
            "agreement": round(shadow.agreement.agreement, 4),
            "local_boxes": shadow.agreement.reference_count,
            "triton_boxes": shadow.agreement.candidate_count,
            "matched": shadow.agreement.matched,
        }
    if shadow.error is not None:
        record["error"] = shadow.error
    return record


def _print_detections_table(images: Sequence[Path], outcomes: Sequence[Outcome]) -> None:
    rows: list[tuple[object, ...]] = []
    for path, outcome in zip(images, outcomes, strict=True):
        if not isinstance(outcome, RolloutResult):
            print(f"error: {path}: {type(outcome).__name__}: {outcome}", file=sys.stderr)
            continue
        version = outcome.model_version or "-"
        if not outcome.detections:
            rows.append((path, outcome.backend, version, "-", "", "", "", "", ""))
        for det in outcome.detections:
            rows.append(
                (
                    path,
                    outcome.backend,
                    version,
                    det.class_name,
                    f"{det.confidence:.2f}",
                    *(f"{value:.0f}" for value in det.bbox),
                )
            )
    if rows:
        print(format_table(("FILE", "BACKEND", "VERSION", "CLASS", "CONF", "X1", "Y1", "X2", "Y2"), rows))


async def _health(args: argparse.Namespace, config: TritonConfig) -> int:
    async with TritonClient(config) as client:
        healthy = await client.is_healthy()
    state = "healthy" if healthy else "unhealthy"
    print(f"{state}: {config.protocol}://{config.endpoint}, model {config.model}")
    return EXIT_OK if healthy else EXIT_FAILED


async def _stats(args: argparse.Namespace, config: TritonConfig) -> int:
    """Server-side statistics per model version: the routes this configuration sends to (an A/B split
    has one per version), the models their steps call, or with --all every loaded model."""
    async with TritonClient(config) as client:
        if args.all:
            statistics = await client.statistics()
        else:
            replies = await asyncio.gather(*(client.statistics(route) for route in client.routes))
            unique = {(stats.name, stats.version): stats for reply in replies for stats in reply}
            statistics = tuple(unique.values())
    print(format_table(_STATS_HEADERS, [_stats_row(stats) for stats in statistics]))
    return EXIT_OK


_STATS_HEADERS = (
    "MODEL",
    "VERSION",
    "INFERENCES",
    "EXECUTIONS",
    "AVG_BATCH",
    "SUCCESS",
    "FAIL",
    "REQUEST_MS",
    "QUEUE_MS",
    "INPUT_MS",
    "INFER_MS",
    "OUTPUT_MS",
    "BATCH_SIZES",
)


def _stats_row(stats: ModelStatistics) -> tuple[object, ...]:
    batch_sizes = " ".join(f"{batch.batch_size}x{batch.execution_count}" for batch in stats.batch_stats)
    return (
        stats.name,
        stats.version,
        stats.inference_count,
        stats.execution_count,
        f"{stats.average_batch_size:.2f}",
        stats.success_count,
        stats.fail_count,
        f"{stats.request_ms:.2f}",
        f"{stats.queue_ms:.2f}",
        f"{stats.compute_input_ms:.2f}",
        f"{stats.compute_infer_ms:.2f}",
        f"{stats.compute_output_ms:.2f}",
        batch_sizes or "-",
    )


async def _models(args: argparse.Namespace, config: TritonConfig) -> int:
    async with TritonClient(config) as client:
        index = await client.repository_index()
    print(format_table(("MODEL", "VERSION", "STATE", "REASON"), [_model_row(entry) for entry in index]))
    return EXIT_OK


def _model_row(entry: ModelVersionState) -> tuple[object, ...]:
    return (entry.name, entry.version or "-", entry.state or "-", entry.reason)
