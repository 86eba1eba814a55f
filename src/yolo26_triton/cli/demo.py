"""``triton-detect demo``: build, serve, detect, annotate, stop (:mod:`yolo26_triton.tools.demo`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from yolo26_triton.cli.app import Command, ExitCode, log
from yolo26_triton.cli.arguments import add_repository
from yolo26_triton.cli.output import print_detections
from yolo26_triton.export.builder import DEFAULT_WEIGHTS
from yolo26_triton.rollout import RolloutResult
from yolo26_triton.tools.demo import UNTRAINED_CONFIDENCE, UNTRAINED_MAX_DETECTIONS, run_demo
from yolo26_triton.tools.images import collect_images, sample_images


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``demo``'s arguments."""
    parser.add_argument(
        "images", nargs="*", type=Path, help="JPEG files or folders (default: the sample JPEGs in packages)"
    )
    parser.add_argument(
        "--weights", default=DEFAULT_WEIGHTS, help="yolo26n.pt-style name, a local .pt, or a YAML"
    )
    add_repository(parser)
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for the annotated images")
    parser.add_argument("--protocol", choices=["grpc", "http"], default="grpc")


def demo(args: argparse.Namespace) -> ExitCode:
    """Build the model if needed, serve it on free loopback ports, detect the images with the client,
    print the boxes, write annotated copies into --out, stop the server."""
    images = collect_images(args.images) if args.images else sample_images()
    run = run_demo(
        images, weights=args.weights, repository=args.repository, out=args.out, protocol=args.protocol
    )
    metadata = run.build.metadata
    log.info(
        "model: %s (%s head)%s", metadata.source, metadata.head, ", UNTRAINED" if metadata.untrained else ""
    )
    if metadata.untrained:
        log.warning(
            "the model is UNTRAINED (no weights could be downloaded): showing its %d highest-scoring boxes "
            "at confidence %.1f to show the pipeline works; they mean nothing",
            UNTRAINED_MAX_DETECTIONS,
            UNTRAINED_CONFIDENCE,
        )
    print_detections(run.images, run.outcomes, as_json=False)
    log.info("annotated images in %s/; server log %s; server stopped", args.out, run.server_log)
    return ExitCode.OK if all(isinstance(o, RolloutResult) for o in run.outcomes) else ExitCode.FAILED


COMMANDS = (
    Command("demo", "build, serve, detect sample JPEGs, write annotated copies, stop", add_arguments, demo),
)
