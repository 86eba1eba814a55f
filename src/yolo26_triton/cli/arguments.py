"""What several commands share: argument types (each range written once), the model repository and
connection options, and the client settings they make (``TRITON_*`` variables, then the flags)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import math
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yolo26_triton.cli.app import ExitCode, UsageError
from yolo26_triton.contract import MAX_DETECTIONS, parameter_problem
from yolo26_triton.serving.options import DEFAULT_REPOSITORY

if TYPE_CHECKING:
    from yolo26_triton.client import TritonConfig

# ------------------------------------------------------------------------------------- argument types


def number(text: str) -> float:
    """A finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
    return value


def integer(text: str) -> int:
    """An integer."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def unit_interval(text: str) -> float:
    """A number in [0, 1] (a confidence or IoU threshold)."""
    value = number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text}")
    return value


def positive_unit_interval(text: str) -> float:
    """A number in (0, 1] (an IoU that two boxes must reach to match)."""
    value = number(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text}")
    return value


def non_negative_integer(text: str) -> int:
    """An integer >= 0."""
    value = integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


def positive_integer(text: str) -> int:
    """An integer >= 1."""
    value = integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def max_detections(text: str) -> int:
    """At most this many boxes per image, refused here for every command as the server refuses it."""
    value = integer(text)
    problem = parameter_problem(MAX_DETECTIONS, value)
    if problem:
        raise argparse.ArgumentTypeError(f"{problem}, got {text}")
    return value


def concurrency_levels(text: str) -> tuple[int, ...]:
    """``"1,2,4,8"`` -> ``(1, 2, 4, 8)``; each level an integer >= 1."""
    try:
        levels = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError(f"expected integers >= 1, got {text!r}")
    return levels


# ----------------------------------------------------------------------------------- shared options


def add_repository(parser: argparse.ArgumentParser) -> None:
    """``--repository``: the model repository folder."""
    parser.add_argument(
        "--repository",
        type=Path,
        default=DEFAULT_REPOSITORY,
        help=f"model repository folder (default: ./{DEFAULT_REPOSITORY}, i.e. run from the project folder)",
    )


def connection() -> list[argparse.ArgumentParser]:
    """``--protocol``, ``--url``, ``--model`` and ``--model-version`` as a parent parser: they override
    the ``TRITON_*`` variables (:func:`client_config`)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--protocol", choices=("grpc", "http"), help="overrides TRITON_PROTOCOL")
    parent.add_argument(
        "--url", help="host:port of the chosen protocol; overrides TRITON_URL or TRITON_HTTP_URL"
    )
    parent.add_argument("--model", help="Triton model name; overrides TRITON_MODEL")
    parent.add_argument(
        "--model-version",
        help="detector version to ask (its route <model>_v<N>); overrides TRITON_MODEL_VERSION and "
        "TRITON_AB_SPLIT",
    )
    return [parent]


def client_config(args: argparse.Namespace, environ: dict[str, str] | None = None) -> TritonConfig:
    """``TritonConfig.from_env(environ)`` with the connection flags (and ``--conf``) applied on top.

    Raises:
        UsageError: A variable or flag value is invalid.
    """
    from yolo26_triton.client import TritonConfig

    try:
        config = TritonConfig.from_env(environ)
        overrides: dict[str, Any] = {}
        if args.protocol:
            overrides["protocol"] = args.protocol
        if args.url:
            overrides["url" if overrides.get("protocol", config.protocol) == "grpc" else "http_url"] = (
                args.url
            )
        if args.model:
            overrides["model"] = args.model
        if args.model_version:
            overrides["model_version"] = args.model_version
            overrides["ab_split"] = None
        if getattr(args, "conf", None) is not None:
            overrides["confidence_threshold"] = args.conf
        return dataclasses.replace(config, **overrides)
    except ValueError as error:
        raise UsageError(str(error)) from None


def with_client_config(
    run: Callable[[argparse.Namespace, TritonConfig], Coroutine[Any, Any, ExitCode]],
) -> Callable[[argparse.Namespace], ExitCode]:
    """A command's ``run`` from an async one that takes the client settings (:func:`client_config`)."""

    def command(args: argparse.Namespace) -> ExitCode:
        return asyncio.run(run(args, client_config(args)))

    return command
