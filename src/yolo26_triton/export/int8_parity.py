"""The INT8 graph's acceptance: its boxes against the FP32 model's on held-out calibration images.

``build --int8 CALIBRATION_DIR`` calibrates on the user's JPEGs, keeps every 5th out (from 5 images
on), compares the INT8 graph's detections with the FP32 model's on onnxruntime, writes the report
beside the plan (``model.int8-parity.json``) and refuses the graph below a floor of agreement.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from yolo26_triton.contract import DETECTOR_INPUT
from yolo26_triton.export.errors import EngineError
from yolo26_triton.export.graphs import int8_graph, letterboxed

log = logging.getLogger(__name__)

PARITY_SUFFIX = ".int8-parity.json"
INT8_MIN_AGREEMENT = 0.9
"""Default floor of the INT8 graph's agreement with the FP32 model (:func:`parity_report`)."""
HOLD_OUT_EVERY = 5
"""With at least this many calibration images, every 5th is kept out of calibration for the report."""


@dataclass(frozen=True)
class ParityReport:
    """How a reduced-precision graph's detections agree with the FP32 model's on some images.

    Attributes:
        images: Names of the images compared.
        held_out: Whether those images were kept out of the calibration.
        reference_boxes: Boxes of the FP32 model, all images (Ultralytics' default thresholds).
        candidate_boxes: Boxes of the reduced-precision graph.
        matched: Pairs matched one to one (same class, IoU >= 0.5).
        agreement: ``2 * matched / (reference_boxes + candidate_boxes)``.
        mean_iou: Mean IoU of the matched pairs (None without any).
        max_score_diff: Largest score difference of a matched pair (None without any).
    """

    images: tuple[str, ...]
    held_out: bool
    reference_boxes: int
    candidate_boxes: int
    matched: int
    agreement: float
    mean_iou: float | None
    max_score_diff: float | None

    def write(self, path: Path) -> None:
        """Writes the report as JSON."""
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")


def parity_report(
    reference: Path, candidate: Path, images: Any, names: Sequence[str], *, held_out: bool
) -> ParityReport:
    """Runs both graphs with onnxruntime on the CPU on ``images`` (uint8, letterboxed) and matches their
    final detections (:mod:`yolo26_triton.ops.matching`)."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    from yolo26_triton.ops.detections import DetectionSettings, select_detections
    from yolo26_triton.ops.matching import agreement_score, match_detections

    candidate_model = onnx.load(str(candidate))
    del candidate_model.graph.value_info[:]  # ModelOpt's shape annotations confuse onnxruntime's planner
    sessions = [
        ort.InferenceSession(source, providers=["CPUExecutionProvider"])
        for source in (str(reference), candidate_model.SerializeToString())
    ]
    reference_boxes = candidate_boxes = matched = 0
    ious: list[float] = []
    score_diffs: list[float] = []
    for start in range(0, len(images), 8):
        pixels = images[start : start + 8]  # both graphs take the UINT8 grey levels (image_input.py)
        outputs = [session.run(None, {DETECTOR_INPUT: pixels})[0] for session in sessions]
        for expected, actual in zip(*outputs, strict=True):
            ref_boxes, ref_scores, ref_classes = select_detections(expected, DetectionSettings(), np)
            boxes, scores, classes = select_detections(actual, DetectionSettings(), np)
            matches = match_detections(ref_boxes, ref_classes, boxes, classes)
            reference_boxes, candidate_boxes = (
                reference_boxes + len(ref_scores),
                candidate_boxes + len(scores),
            )
            matched += len(matches)
            ious.extend(matches.iou.tolist())
            differences = np.abs(ref_scores[matches.reference_index] - scores[matches.candidate_index])
            score_diffs.extend(differences.tolist())
    return ParityReport(
        images=tuple(names),
        held_out=held_out,
        reference_boxes=reference_boxes,
        candidate_boxes=candidate_boxes,
        matched=matched,
        agreement=agreement_score(matched, reference_boxes, candidate_boxes),
        mean_iou=sum(ious) / len(ious) if ious else None,
        max_score_diff=max(score_diffs) if score_diffs else None,
    )


def split_calibration(images: list[Path]) -> tuple[list[Path], list[Path], bool]:
    """``(calibrate, compare, held_out)``: from :data:`HOLD_OUT_EVERY` images on, every 5th is kept out
    of calibration and compared; below that, all images do both."""
    if len(images) < HOLD_OUT_EVERY:
        return images, images, False
    compared = images[HOLD_OUT_EVERY - 1 :: HOLD_OUT_EVERY]
    return [path for path in images if path not in compared], compared, True


def accept_int8(report: ParityReport, min_agreement: float, report_path: Path) -> None:
    """Raises :class:`EngineError` when the INT8 graph agrees less than ``min_agreement`` with FP32."""
    if report.agreement < min_agreement:
        raise EngineError(
            f"the INT8 graph agrees {report.agreement:.3f} with the FP32 model, below {min_agreement} "
            f"({report_path}): calibrate on more, or more typical, images, or keep FP16"
        )


def checked_int8_graph(onnx_path: Path, images: list[Path], workdir: Path, min_agreement: float) -> Path:
    """:func:`int8_graph` of the calibration images, with its :func:`parity_report` written beside the
    plan and :func:`accept_int8` applied."""
    calibrate, compared, held_out = split_calibration(images)
    graph = int8_graph(onnx_path, letterboxed(calibrate), workdir)
    report = parity_report(
        onnx_path, graph, letterboxed(compared), [path.name for path in compared], held_out=held_out
    )
    report_path = onnx_path.with_suffix(PARITY_SUFFIX)
    report.write(report_path)
    log.info(
        "INT8 against FP32 on %d %s images: agreement %.3f (%d pairs of %d and %d boxes), mean IoU %s, "
        "largest score difference %s (%s)",
        len(compared),
        "held-out" if held_out else "calibration",
        report.agreement,
        report.matched,
        report.reference_boxes,
        report.candidate_boxes,
        report.mean_iou,
        report.max_score_diff,
        report_path,
    )
    accept_int8(report, min_agreement, report_path)
    return graph
