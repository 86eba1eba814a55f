"""``triton-detect build`` and ``pin``: the model repository (:mod:`yolo26_triton.export`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from yolo26_triton.cli.app import Command, ExitCode, UsageError, log
from yolo26_triton.cli.arguments import add_repository, unit_interval
from yolo26_triton.contract import DEFAULT_WEIGHTS
from yolo26_triton.export.builder import build_repository
from yolo26_triton.export.engine import build_engine
from yolo26_triton.export.int8_parity import INT8_MIN_AGREEMENT
from yolo26_triton.export.repository import TEMPLATE_DETECTOR, TEMPLATE_ENTRY_POINT, pin_entry_point


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """``build``'s arguments."""
    parser.add_argument(
        "--weights", default=DEFAULT_WEIGHTS, help="yolo26n.pt-style name, a local .pt, or a YAML"
    )
    parser.add_argument(
        "--model",
        default=TEMPLATE_DETECTOR,
        help="detector model: yolo26 (default, entry point detect_ensemble) or yolo26_NAME, a further "
        "entry point detect_NAME sharing preprocess and postprocess",
    )
    parser.add_argument(
        "--version",
        default="1",
        help="version folder to build (default 1); other versions stay and are served side by side",
    )
    parser.add_argument(
        "--head",
        choices=["classic", "nms_free"],
        default="classic",
        help="classic: NMS in postprocess (default export); nms_free: YOLO26's end-to-end head",
    )
    parser.add_argument(
        "--force", action="store_true", help="export again even if the repository has this model"
    )
    parser.add_argument(
        "--engine",
        action="store_true",
        help="also build <model>/<version>/model.plan (FP16, dynamic batch 1..16) with Ultralytics' "
        "onnx2engine where TensorRT and a GPU are; skipped when model.plan.json says it is up to date "
        "(same ONNX, TensorRT version and GPU)",
    )
    parser.add_argument(
        "--int8",
        type=Path,
        metavar="CALIBRATION_DIR",
        help="build an INT8 plan instead, calibrated on the JPEGs in CALIBRATION_DIR (implies --engine); "
        "accepted only if it agrees with the FP32 model (report beside the plan)",
    )
    parser.add_argument(
        "--int8-min-agreement",
        type=unit_interval,
        default=INT8_MIN_AGREEMENT,
        help=f"least agreement of the INT8 graph's boxes with FP32's (default {INT8_MIN_AGREEMENT})",
    )
    add_repository(parser)


def build(args: argparse.Namespace) -> ExitCode:
    """Exports the detector into the repository, then builds its TensorRT plan if asked."""
    result = build_repository(
        args.repository,
        args.weights,
        model=args.model,
        version=args.version,
        head=args.head,
        force=args.force,
    )
    metadata = result.metadata
    log.info(
        "%s %s (%s head, %d classes) -> %s",
        "reused" if result.reused else "exported",
        metadata.source,
        metadata.head,
        len(metadata.names),
        result.onnx_path,
    )
    log.info(
        "%s serves %s (latest unless pinned); pinned routes: %s",
        result.entry_point,
        metadata.model,
        ", ".join(result.routes),
    )
    if metadata.untrained:
        log.warning("UNTRAINED model (%s): its boxes mean nothing", metadata.source)
    if args.engine or args.int8:
        plan = build_engine(
            result.onnx_path,
            precision="int8" if args.int8 else "fp16",
            calibration=args.int8,
            min_agreement=args.int8_min_agreement,
            force=args.force,
        )
        log.info("TensorRT engine -> %s", plan)
    else:
        log.info("TensorRT engine for the GPU profile: `triton-detect build --engine` where TensorRT is")
    return ExitCode.OK


def add_pin_arguments(parser: argparse.ArgumentParser) -> None:
    """``pin``'s arguments."""
    parser.add_argument("version", help="a built version number, or 'latest'")
    parser.add_argument(
        "--entry-point", default=TEMPLATE_ENTRY_POINT, help="the ensemble to pin (default: detect_ensemble)"
    )
    add_repository(parser)


def pin(args: argparse.Namespace) -> ExitCode:
    """Points the entry point's detector step at one built version, or back at the latest."""
    version = None if args.version == "latest" else args.version
    try:
        detector = pin_entry_point(args.repository, args.entry_point, version)
    except ValueError as error:
        raise UsageError(str(error)) from None
    log.info(
        "%s now serves %s %s; restart the server to apply it",
        args.entry_point,
        detector,
        "(latest version)" if version is None else f"version {version}",
    )
    return ExitCode.OK


COMMANDS = (
    Command("build", "export YOLO26 into the model repository", add_build_arguments, build),
    Command(
        "pin",
        "make an entry point serve one detector version, or the latest",
        add_pin_arguments,
        pin,
        description="Edits the entry point's detector step (model_version); the server sees it after a "
        "restart. Each version also has its own route, <entry point>_v<N>, whatever the pin.",
    ),
)
