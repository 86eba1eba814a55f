"""``triton-detect compare``: in-process Ultralytics against the ensemble (``tools.compare``).

Exit codes: 0 done, 1 a request failed or the overall agreement is below ``--min-agreement``, 2 bad
arguments, images or weights.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from yolo26_triton.cli.app import Command, ExitCode
from yolo26_triton.cli.arguments import (
    connection,
    max_detections,
    non_negative_integer,
    number,
    positive_unit_interval,
    unit_interval,
    with_client_config,
)
from yolo26_triton.cli.output import fixed, format_table
from yolo26_triton.client import TritonConfig
from yolo26_triton.export.builder import DEFAULT_WEIGHTS
from yolo26_triton.rollout.agreement import DEFAULT_MATCH_IOU
from yolo26_triton.rollout.local import LETTERBOX_MODES
from yolo26_triton.tools.compare import CompareReport, CompareSettings, compare
from yolo26_triton.tools.compare.report import TRITON_LATENCY, ULTRALYTICS_LATENCY
from yolo26_triton.tools.images import collect_images

DEFAULTS = CompareSettings(weights=DEFAULT_WEIGHTS)
"""Ultralytics' ``predict()`` defaults, which are also the server's."""
SETTINGS_SHOWN = ("weights", "letterbox", "conf", "iou", "max_det", "warmup")
"""The settings that the table's summary names (JSON has them all)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``compare``'s arguments (besides the connection options)."""
    parser.add_argument("paths", nargs="+", type=Path, metavar="IMAGES", help="JPEG files or folders")
    parser.add_argument(
        "--weights",
        default=DEFAULTS.weights,
        help=f"a .pt file or an Ultralytics name (default {DEFAULTS.weights}); the server should serve "
        "the same weights",
    )
    parser.add_argument(
        "--conf",
        type=unit_interval,
        default=DEFAULTS.conf,
        help=f"confidence threshold, both sides ({DEFAULTS.conf})",
    )
    parser.add_argument(
        "--iou",
        type=unit_interval,
        default=DEFAULTS.iou,
        help=f"NMS IoU threshold, both sides ({DEFAULTS.iou})",
    )
    parser.add_argument(
        "--max-det",
        type=max_detections,
        default=DEFAULTS.max_det,
        help=f"at most this many boxes per image, both sides (default {DEFAULTS.max_det})",
    )
    parser.add_argument(
        "--match-iou",
        type=positive_unit_interval,
        default=DEFAULT_MATCH_IOU,
        help=f"minimum IoU for two boxes of the same class to match (default {DEFAULT_MATCH_IOU})",
    )
    parser.add_argument(
        "--letterbox",
        choices=LETTERBOX_MODES,
        default=DEFAULTS.letterbox,
        help="rect: predict()'s default minimal rectangle (what runs today); square: 640x640 like the "
        "server, so that only numerics differ",
    )
    parser.add_argument(
        "--warmup",
        type=non_negative_integer,
        default=DEFAULTS.warmup,
        help=f"untimed runs per side before timing (default {DEFAULTS.warmup})",
    )
    parser.add_argument(
        "--min-agreement",
        type=number,
        metavar="F",
        help="exit 1 when the overall agreement is below F (a CI gate for the migration)",
    )
    parser.add_argument(
        "--device",
        default=DEFAULTS.device,
        help=f"PyTorch device of the Ultralytics side (default {DEFAULTS.device})",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")


async def run(args: argparse.Namespace, config: TritonConfig) -> ExitCode:
    """Run Ultralytics' predict() in this process and the Triton ensemble on the same weights and JPEGs;
    report how well their boxes agree (one to one, same class, by IoU) and each side's latency.
    Exit codes: 0 done, 1 a request failed or the agreement is below --min-agreement, 2 bad arguments,
    images or weights."""
    settings = CompareSettings(
        weights=args.weights,
        conf=args.conf,
        iou=args.iou,
        max_det=args.max_det,
        match_iou=args.match_iou,
        letterbox=args.letterbox,
        warmup=args.warmup,
        device=args.device,
    )
    report = await compare(
        collect_images(args.paths),
        settings,
        config,
        warn=lambda line: print(f"warning: {line}", file=sys.stderr),
    )
    report_json = report.to_json()
    report_json["settings"]["min_agreement"] = args.min_agreement
    print(json.dumps(report_json, indent=2) if args.json else format_report(report))
    agreement = report.summary.agreement
    if args.min_agreement is not None and agreement < args.min_agreement:
        print(
            f"error: overall agreement {agreement:.4f} is below --min-agreement {args.min_agreement}",
            file=sys.stderr,
        )
        return ExitCode.FAILED
    return ExitCode.OK


def format_report(report: CompareReport) -> str:
    """The per-image table, then the summary block, as text."""
    rows = [
        (
            image.image,
            image.agreement.reference_count,
            image.agreement.candidate_count,
            image.agreement.matched,
            f"{image.agreement.agreement:.3f}",
            fixed(image.agreement.mean_iou, 3),
            fixed(image.agreement.max_score_diff, 4),
            f"{image.ultralytics_ms:.1f}",
            f"{image.triton_ms:.1f}",
        )
        for image in report.images
    ]
    headers = ("IMAGE", "ULTRALYTICS", "TRITON", "MATCHED", "AGREEMENT", "MEAN_IOU", "MAX_SCORE_DIFF")
    table = format_table((*headers, "ULTRALYTICS_MS", "TRITON_MS"), rows)
    summary = report.summary
    settings = report.settings
    latency = format_table(
        ("LATENCY_MS", "MEAN", "MEDIAN", "P90", "INCLUDES"),
        [
            (side, f"{stats.mean_ms:.1f}", f"{stats.median_ms:.1f}", f"{stats.p90_ms:.1f}", includes)
            for side, stats, includes in (
                ("ultralytics", report.ultralytics_latency, ULTRALYTICS_LATENCY),
                ("triton", report.triton_latency, TRITON_LATENCY),
            )
        ],
    )
    return "\n".join(
        [
            table,
            "",
            f"overall agreement {summary.agreement:.3f}: {summary.matched} matched of "
            f"{summary.reference_count} Ultralytics and {summary.candidate_count} Triton boxes in "
            f"{summary.images} images "
            f"(same class, IoU >= {settings.get('match_iou', DEFAULT_MATCH_IOU)}); matched pairs: mean IoU "
            f"{fixed(summary.mean_iou, 3)}, max score difference {fixed(summary.max_score_diff, 4)}",
            "settings: " + ", ".join(f"{key} {settings.get(key)}" for key in SETTINGS_SHOWN),
            latency,
            f"speed ratio {report.speed_ratio:.2f} "
            "(Ultralytics median / Triton median; above 1: Triton faster)",
        ]
    )


COMMANDS = (
    Command(
        "compare",
        "in-process Ultralytics predict() against the Triton ensemble: box agreement and latency",
        add_arguments,
        with_client_config(run),
        description=run.__doc__,
        parents=connection,
    ),
)
