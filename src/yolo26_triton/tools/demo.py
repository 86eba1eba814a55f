"""``triton-detect demo``: the whole journey in one call.

Builds the model (if the repository does not hold it yet), starts the embedded server on free
loopback ports, sends JPEGs through ``detect_ensemble`` with the client, writes annotated copies,
stops the server, and hands back what happened for the command line to print.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from yolo26_triton.client import TritonConfig
from yolo26_triton.client.config import ProtocolName
from yolo26_triton.export.builder import BuildResult, build_repository
from yolo26_triton.rollout import RolloutConfig
from yolo26_triton.serving.launcher import EmbeddedServer
from yolo26_triton.serving.options import ServerOptions
from yolo26_triton.tools.detect_files import Outcome, detect_files

UNTRAINED_CONFIDENCE = 0.0
"""An untrained model's scores are tiny: show its best boxes anyway, to show the pipeline runs."""
UNTRAINED_MAX_DETECTIONS = 5


@dataclass(frozen=True)
class DemoRun:
    """What the demo did.

    Attributes:
        build: The model it built (or found built).
        images: The JPEGs it sent.
        outcomes: One per image, in order.
        server_log: The server's log file.
        url: The endpoint it talked to (the server is stopped by now).
    """

    build: BuildResult
    images: tuple[Path, ...]
    outcomes: tuple[Outcome, ...]
    server_log: Path
    url: str


def run_demo(
    images: Sequence[Path], *, weights: str, repository: Path, out: Path, protocol: ProtocolName
) -> DemoRun:
    """Builds, serves, detects ``images`` over ``protocol`` with annotated copies in ``out``, stops.

    An untrained model (no weights could be had) is asked for its :data:`UNTRAINED_MAX_DETECTIONS`
    best boxes at confidence :data:`UNTRAINED_CONFIDENCE`.
    """
    built = build_repository(repository, weights)
    untrained = built.metadata.untrained
    options = ServerOptions.on_free_ports(repository=repository.resolve())
    out.mkdir(parents=True, exist_ok=True)
    server_log = out / "tritonserver.log"
    url = options.grpc_url if protocol == "grpc" else options.http_url
    triton = TritonConfig(protocol=protocol, url=options.grpc_url, http_url=options.http_url)
    if untrained:
        triton = dataclasses.replace(triton, confidence_threshold=UNTRAINED_CONFIDENCE)
    with server_log.open("w") as log_file, EmbeddedServer(options, log_file=log_file):
        outcomes = asyncio.run(
            detect_files(
                images,
                RolloutConfig(triton=triton, triton_enabled=True),
                max_detections=UNTRAINED_MAX_DETECTIONS if untrained else None,
                annotate=out,
            )
        )
    return DemoRun(built, tuple(images), tuple(outcomes), server_log, url)
