"""``triton-detect compare``: the migration check, in-process Ultralytics against ``detect_ensemble``.

A team moving from ``YOLO(weights).predict(...)`` inside its own service (FastAPI + PyTorch) to Triton
runs both on the same weights and JPEGs and gets, per image and overall, how well the boxes agree and
how long each side took.

- Ultralytics (the reference): the JPEG bytes decoded with ``cv2.imdecode`` (what Ultralytics' own
  ``imread`` does with a file's bytes) and ``model.predict(image, verbose=False, ...)`` on PyTorch, in
  this process, on ``--device`` (default ``cpu``).
- Triton (the candidate): ``TritonClient.detect(jpeg_bytes)``, one round trip to ``detect_ensemble``.

Both sides get the same ``conf``, ``iou`` and ``max_det``, at 640 pixels (``imgsz`` is passed: for a
``.pt`` predict() would otherwise use the checkpoint's training size). Boxes are matched one to one, same
class only, greedily by descending IoU (:func:`match_detections`). The agreement of an image is F1-like,
``2 * matched / (ultralytics boxes + triton boxes)``; overall, the same over all boxes of all images.

Latency is measured per image, sequentially, after ``--warmup`` untimed runs per side: first the whole
Triton side, then the whole Ultralytics side, so that neither side's work overlaps the other's timing
(on a CPU-profile server both share the host's cores). Each side starts from the JPEG bytes in memory;
see :data:`ULTRALYTICS_LATENCY` and :data:`TRITON_LATENCY` for what each number includes.

What ``predict()`` does, read in the installed Ultralytics (8.4.190) source:

- ``Model.predict`` (``engine/model.py``) sets the method default ``rect=True`` on top of the config,
  whose ``rect: False`` is a training setting.
- ``BasePredictor.pre_transform`` (``engine/predictor.py``) builds ``LetterBox(imgsz, auto=same_shapes
  and args.rect and not scale_fill and (model.format == "pt" or the backend is dynamic),
  stride=model.stride)``. For one image (``same_shapes``) from a ``.pt``, ``auto`` is True: the image is
  scaled to fit 640 and padded only up to the next multiple of the stride (32), e.g. bus.jpg (810x1080)
  becomes 480x640, zidane.jpg (1280x720) 640x384. The ensemble always runs 640x640 (a TensorRT engine
  or a fixed ONNX input), so ``--letterbox rect`` (the default: what the team runs today) feeds the two
  networks different tensors; ``--letterbox square`` passes ``rect=False`` (``auto=False``) so that both
  letterbox to 640x640 and only numerics differ (PyTorch against ONNX Runtime, OpenCV's against
  DALI's resize).
- ``nms`` (default ``None``) selects the head: ``None`` the one-to-many head plus NMS (what the
  ``classic`` export serves), ``False`` YOLO26's one-to-one head. The Ultralytics side follows the
  ``head`` that the server's ``MODEL_INFO`` reports.
- On the CPU, ``select_device`` sets ``torch.set_num_threads(min(8, cpu_count - 1))``: one thread on a
  2-core machine. The report's settings show the thread count the Ultralytics side ran with.

Exit codes: 0 done, 1 a request failed or the overall agreement is below ``--min-agreement``, 2 bad
arguments, images or weights.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from yolo26_triton.cli.client_commands import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    client_command,
    collect_images,
    connection_parser,
    format_table,
)
from yolo26_triton.client import Detections, InvalidInputError, TritonClient, TritonConfig, TritonError
from yolo26_triton.client.codec import MAX_DETECTIONS_LIMIT
from yolo26_triton.contract import INPUT_SIZE
from yolo26_triton.export.builder import DEFAULT_WEIGHTS
from yolo26_triton.rollout.agreement import (
    DEFAULT_MATCH_IOU,
    AgreementSummary,
    ImageAgreement,
    image_agreement,
    summarize_agreement,
)
from yolo26_triton.rollout.errors import LocalModelError
from yolo26_triton.rollout.local import (
    LETTERBOX_MODES,
    UltralyticsDetector,
    load_ultralytics,
    predict_options,
)

DEFAULT_CONF, DEFAULT_IOU, DEFAULT_MAX_DET = 0.25, 0.7, 300
"""Ultralytics' ``predict()`` defaults, which are also the server's."""
ULTRALYTICS_LATENCY = (
    "cv2.imdecode of the JPEG bytes + YOLO.predict (letterbox, PyTorch forward, NMS, boxes scaled back), "
    "in this process"
)
TRITON_LATENCY = (
    "TritonClient.detect round trip: request encoding, network, validate + decode + letterbox + model + "
    "NMS on the server, response decoding"
)
_SETTINGS_SHOWN = ("weights", "letterbox", "conf", "iou", "max_det", "warmup")
"""The settings that the table's summary names (JSON has them all)."""


class CompareError(RuntimeError):
    """Nothing to compare: no JPEG among the paths given."""


@dataclass(frozen=True)
class LatencySummary:
    """Latency of one side, in milliseconds (p90: linear interpolation between samples)."""

    mean_ms: float
    median_ms: float
    p90_ms: float


def summarize_latency(latencies_ms: Sequence[float]) -> LatencySummary:
    """Mean, median and 90th percentile of ``latencies_ms``.

    Raises:
        ValueError: ``latencies_ms`` is empty.
    """
    if not latencies_ms:
        raise ValueError("no latencies to summarize")
    values = np.asarray(latencies_ms, dtype=np.float64)
    return LatencySummary(
        mean_ms=float(values.mean()),
        median_ms=float(np.median(values)),
        p90_ms=float(np.percentile(values, 90)),
    )


@dataclass(frozen=True)
class ImageComparison:
    """One image: the agreement of its boxes (Ultralytics the reference) and each side's latency."""

    image: str
    agreement: ImageAgreement
    ultralytics_ms: float
    triton_ms: float


@dataclass(frozen=True)
class CompareReport:
    """Everything ``compare`` prints.

    Attributes:
        images: One comparison per image, in input order (at least one).
        settings: What was compared how (weights, thresholds, letterbox, server...), as JSON values.
    """

    images: tuple[ImageComparison, ...]
    settings: Mapping[str, Any]

    @property
    def summary(self) -> AgreementSummary:
        """Agreement over all images."""
        return summarize_agreement([image.agreement for image in self.images])

    @property
    def ultralytics_latency(self) -> LatencySummary:
        """Latency of the Ultralytics side."""
        return summarize_latency([image.ultralytics_ms for image in self.images])

    @property
    def triton_latency(self) -> LatencySummary:
        """Latency of the Triton side."""
        return summarize_latency([image.triton_ms for image in self.images])

    @property
    def speed_ratio(self) -> float:
        """Median Ultralytics latency over median Triton latency: above 1, Triton answers faster."""
        return self.ultralytics_latency.median_ms / self.triton_latency.median_ms

    def to_json(self) -> dict[str, Any]:
        """``{"images": [...], "summary": {...}, "settings": {...}}``; counts, ratios and milliseconds."""
        summary = self.summary
        return {
            "images": [
                {
                    "image": image.image,
                    "ultralytics_boxes": image.agreement.reference_count,
                    "triton_boxes": image.agreement.candidate_count,
                    "matched": image.agreement.matched,
                    "agreement": _round(image.agreement.agreement, 4),
                    "mean_iou": _round(image.agreement.mean_iou, 4),
                    "max_score_diff": _round(image.agreement.max_score_diff, 5),
                    "ultralytics_ms": _round(image.ultralytics_ms, 2),
                    "triton_ms": _round(image.triton_ms, 2),
                }
                for image in self.images
            ],
            "summary": {
                "images": summary.images,
                "ultralytics_boxes": summary.reference_count,
                "triton_boxes": summary.candidate_count,
                "matched": summary.matched,
                "agreement": _round(summary.agreement, 4),
                "mean_iou": _round(summary.mean_iou, 4),
                "max_score_diff": _round(summary.max_score_diff, 5),
                "latency_ms": {
                    "ultralytics": _latency_json(self.ultralytics_latency),
                    "triton": _latency_json(self.triton_latency),
                },
                "speed_ratio": _round(self.speed_ratio, 3),
            },
            "settings": dict(self.settings),
        }


def format_report(report: CompareReport) -> str:
    """The per-image table, then the summary block, as text."""
    rows = [
        (
            image.image,
            image.agreement.reference_count,
            image.agreement.candidate_count,
            image.agreement.matched,
            f"{image.agreement.agreement:.3f}",
            _fixed(image.agreement.mean_iou, 3),
            _fixed(image.agreement.max_score_diff, 4),
            f"{image.ultralytics_ms:.1f}",
            f"{image.triton_ms:.1f}",
        )
        for image in report.images
    ]
    table = format_table(
        (
            "IMAGE",
            "ULTRALYTICS",
            "TRITON",
            "MATCHED",
            "AGREEMENT",
            "MEAN_IOU",
            "MAX_SCORE_DIFF",
            "ULTRALYTICS_MS",
            "TRITON_MS",
        ),
        rows,
    )
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
    lines = [
        table,
        "",
        f"overall agreement {summary.agreement:.3f}: {summary.matched} matched of {summary.reference_count} "
        f"Ultralytics and {summary.candidate_count} Triton boxes in {summary.images} images "
        f"(same class, IoU >= {settings.get('match_iou', DEFAULT_MATCH_IOU)}); matched pairs: mean IoU "
        f"{_fixed(summary.mean_iou, 3)}, max score difference {_fixed(summary.max_score_diff, 4)}",
        "settings: " + ", ".join(f"{key} {settings.get(key)}" for key in _SETTINGS_SHOWN),
        latency,
        f"speed ratio {report.speed_ratio:.2f} (Ultralytics median / Triton median; above 1: Triton faster)",
    ]
    return "\n".join(lines)


def served_model_warnings(model_info: Mapping[str, Any], weights: str) -> list[str]:
    """One-line warnings when the served model is not what the Ultralytics side runs, or is untrained.

    The weights are compared by file name: the server records the path it was built from, which is
    rarely the path this process loads.
    """
    warnings = []
    source = model_info.get("source")
    if source is None or Path(str(source)).name != Path(weights).name:
        warnings.append(
            f"warning: the server's model was built from {source!r}, not {Path(weights).name!r}: "
            "the two sides may run different weights"
        )
    if model_info.get("untrained"):
        warnings.append(f"warning: the served model is UNTRAINED (source {source!r}): its boxes mean nothing")
    return warnings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``compare`` subcommand."""
    compare = subparsers.add_parser(
        "compare",
        parents=[connection_parser()],
        help="in-process Ultralytics predict() against the Triton ensemble: box agreement and latency",
        description=run_compare.__doc__,
    )
    compare.add_argument("paths", nargs="+", type=Path, metavar="IMAGES", help="JPEG files or folders")
    compare.add_argument(
        "--weights",
        default=DEFAULT_WEIGHTS,
        help=f"a .pt file or an Ultralytics name (default {DEFAULT_WEIGHTS}); the server should serve "
        "the same weights",
    )
    compare.add_argument(
        "--conf", type=_unit_interval, default=DEFAULT_CONF, help="confidence threshold, both sides (0.25)"
    )
    compare.add_argument(
        "--iou", type=_unit_interval, default=DEFAULT_IOU, help="NMS IoU threshold, both sides (0.7)"
    )
    compare.add_argument(
        "--max-det",
        type=_max_detections,
        default=DEFAULT_MAX_DET,
        help=f"at most this many boxes per image, both sides (1..{MAX_DETECTIONS_LIMIT}; default 300)",
    )
    compare.add_argument(
        "--match-iou",
        type=_match_iou,
        default=DEFAULT_MATCH_IOU,
        help="minimum IoU for two boxes of the same class to match (default 0.5)",
    )
    compare.add_argument(
        "--letterbox",
        choices=LETTERBOX_MODES,
        default="rect",
        help="rect: predict()'s default minimal rectangle (what runs today); square: 640x640 like the "
        "server, so that only numerics differ",
    )
    compare.add_argument(
        "--warmup", type=_non_negative_int, default=1, help="untimed runs per side before timing (default 1)"
    )
    compare.add_argument(
        "--min-agreement",
        type=_finite,
        metavar="F",
        help="exit 1 when the overall agreement is below F (a CI gate for the migration)",
    )
    compare.add_argument(
        "--device", default="cpu", help="PyTorch device of the Ultralytics side (default cpu)"
    )
    compare.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    compare.set_defaults(func=client_command(run_compare))


async def run_compare(args: argparse.Namespace, config: TritonConfig) -> int:
    """Run Ultralytics' predict() in this process and the Triton ensemble on the same weights and JPEGs;
    report how well their boxes agree (one to one, same class, by IoU) and each side's latency.
    Exit codes: 0 done, 1 a request failed or the agreement is below --min-agreement, 2 bad arguments,
    images or weights."""
    try:
        paths = collect_images(args.paths)
        if not paths:
            raise CompareError("no .jpg or .jpeg files found")
        images = [path.read_bytes() for path in paths]
        model = load_ultralytics(args.weights)
    except (OSError, CompareError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except LocalModelError as error:
        print(f"error: --weights {error}", file=sys.stderr)
        return EXIT_USAGE

    try:
        async with TritonClient(config) as client:
            triton_results, triton_ms, model_info = await _time_triton(client, paths, images, args)
    except _ImageError as failure:
        print(f"error: {failure}", file=sys.stderr)
        return EXIT_FAILED
    for warning in served_model_warnings(model_info, args.weights):
        print(warning, file=sys.stderr)

    detector = UltralyticsDetector(
        model,
        predict_options(
            conf=args.conf,
            iou=args.iou,
            max_det=args.max_det,
            letterbox=args.letterbox,
            head="nms_free" if model_info.get("head") == "nms_free" else "classic",
            device=args.device,
        ),
    )
    try:
        ultralytics_results, ultralytics_ms = _time_ultralytics(detector, paths, images, args.warmup)
    except _ImageError as failure:
        print(f"error: {failure}", file=sys.stderr)
        return EXIT_FAILED

    report = CompareReport(
        images=tuple(
            ImageComparison(
                image=str(path),
                agreement=image_agreement(reference, candidate, args.match_iou),
                ultralytics_ms=reference_ms,
                triton_ms=candidate_ms,
            )
            for path, reference, candidate, reference_ms, candidate_ms in zip(
                paths, ultralytics_results, triton_results, ultralytics_ms, triton_ms, strict=True
            )
        ),
        settings=_settings(args, config, model_info),
    )
    print(json.dumps(report.to_json(), indent=2) if args.json else format_report(report))
    agreement = report.summary.agreement
    if args.min_agreement is not None and agreement < args.min_agreement:
        print(
            f"error: overall agreement {agreement:.4f} is below --min-agreement {args.min_agreement}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


class _ImageError(Exception):
    """One side failed on one image (the message names the image)."""


async def _time_triton(
    client: TritonClient, paths: Sequence[Path], images: Sequence[bytes], args: argparse.Namespace
) -> tuple[list[Detections], list[float], dict[str, Any]]:
    """Warm-up runs, then each image once, timed: detections, milliseconds, the last ``MODEL_INFO``."""
    model_info: dict[str, Any] = {}

    async def detect(index: int) -> Detections:
        try:
            result = await client.detect(
                images[index], conf_threshold=args.conf, iou_threshold=args.iou, max_detections=args.max_det
            )
        except TritonError as error:
            raise _ImageError(f"{paths[index]}: Triton: {type(error).__name__}: {error}") from error
        model_info.update(result.model_info)
        return result.detections

    for run in range(args.warmup):
        await detect(run % len(images))
    results, latencies_ms = [], []
    for index in range(len(images)):
        started = time.perf_counter()
        results.append(await detect(index))
        latencies_ms.append((time.perf_counter() - started) * 1000)
    return results, latencies_ms, model_info


def _time_ultralytics(
    detector: UltralyticsDetector, paths: Sequence[Path], images: Sequence[bytes], warmup: int
) -> tuple[list[Detections], list[float]]:
    """Warm-up runs, then each image once, timed: detections and milliseconds."""

    def detect(index: int) -> Detections:
        try:
            return detector.detect(images[index])
        except InvalidInputError as error:
            raise _ImageError(f"{paths[index]}: Ultralytics: {error}") from error

    for run in range(warmup):
        detect(run % len(images))
    results, latencies_ms = [], []
    for index in range(len(images)):
        started = time.perf_counter()
        results.append(detect(index))
        latencies_ms.append((time.perf_counter() - started) * 1000)
    return results, latencies_ms


def _settings(
    args: argparse.Namespace, config: TritonConfig, model_info: Mapping[str, Any]
) -> dict[str, Any]:
    import torch

    return {
        "weights": args.weights,
        "letterbox": args.letterbox,
        "imgsz": INPUT_SIZE,
        "conf": args.conf,
        "iou": args.iou,
        "max_det": args.max_det,
        "match_iou": args.match_iou,
        "warmup": args.warmup,
        "min_agreement": args.min_agreement,
        "ultralytics": {
            "device": args.device,
            "torch_threads": torch.get_num_threads(),
            "latency": ULTRALYTICS_LATENCY,
        },
        "triton": {
            "protocol": config.protocol,
            "endpoint": config.endpoint,
            "model": config.model,
            "served": {key: value for key, value in model_info.items() if key != "image_size"},
            "latency": TRITON_LATENCY,
        },
    }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _fixed(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _latency_json(latency: LatencySummary) -> dict[str, float | None]:
    return {
        "mean": _round(latency.mean_ms, 2),
        "median": _round(latency.median_ms, 2),
        "p90": _round(latency.p90_ms, 2),
    }


def _unit_interval(text: str) -> float:
    value = _float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text}")
    return value


def _match_iou(text: str) -> float:
    value = _float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text}")
    return value


def _max_detections(text: str) -> int:
    value = _int(text)
    if not 1 <= value <= MAX_DETECTIONS_LIMIT:
        raise argparse.ArgumentTypeError(f"expected an integer in [1, {MAX_DETECTIONS_LIMIT}], got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


def _finite(text: str) -> float:
    value = _float(text)
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
    return value


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
