"""From raw YOLO26 output to final detections, for NumPy and CuPy alike.

Two heads come out of Ultralytics' export, and :func:`head_of` tells them apart by shape:

* ``classic`` (``nms=None``, the default export): ``(4 + classes, anchors)`` per image, rows
  ``cx, cy, w, h`` then one sigmoid score per class. Needs class-aware NMS.
* ``nms_free`` (``nms=False``, YOLO26's end-to-end head): ``(300, 6)`` per image, rows
  ``x1, y1, x2, y2, score, class``. Needs only a confidence filter.

Both follow Ultralytics' ``non_max_suppression`` (best class per anchor, ``> conf``, at most
30000 candidates into NMS, boxes offset by class so that classes never suppress each other,
``IoU > iou`` suppresses, at most ``max_det`` kept), so the server answers as ``predict()`` does.
Every function takes the array module ``xp`` (``numpy`` or ``cupy``) so one copy of the math
serves the CPU and the GPU postprocess.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Literal

from .letterbox import LetterboxGeometry, boxes_to_original

Head = Literal["classic", "nms_free"]

MAX_NMS_CANDIDATES = 30000
"""Candidates kept (highest scores first) before NMS, as Ultralytics' ``max_nms``."""
CLASS_OFFSET = 7680.0
"""Per-class coordinate offset that separates classes in one NMS pass (Ultralytics' ``max_wh``)."""
NMS_FREE_ROWS = 300
NMS_FREE_COLUMNS = 6


@dataclass(frozen=True)
class DetectionSettings:
    """Thresholds of one request; the defaults are Ultralytics' ``predict()`` defaults."""

    conf_threshold: float = 0.25
    iou_threshold: float = 0.7
    max_detections: int = 300

    def __post_init__(self) -> None:
        for name in ("conf_threshold", "iou_threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
        max_det = self.max_detections
        if isinstance(max_det, bool) or not isinstance(max_det, int) or not 1 <= max_det <= 300:
            raise ValueError(f"max_detections must be an integer in [1, 300], got {max_det!r}")

    def with_request_parameters(self, parameters_json: str) -> DetectionSettings:
        """Returns these settings overridden by a request's parameters.

        Args:
            parameters_json: ``request.parameters()`` of a Triton request: a JSON object in which
                ``conf_threshold``, ``iou_threshold`` and ``max_detections`` are read and other
                keys are ignored (they belong to other models of the ensemble).

        Raises:
            ValueError: If a known parameter has a bad type or value.
        """
        parameters = json.loads(parameters_json or "{}")
        if not isinstance(parameters, dict):
            raise ValueError(f"request parameters must be a JSON object, got {parameters_json!r}")
        known = {
            name: parameters[name]
            for name in ("conf_threshold", "iou_threshold", "max_detections")
            if name in parameters
        }
        return replace(self, **known) if known else self


def head_of(raw: Any) -> Head:
    """Tells which head produced one image's raw output ``raw`` (2-D, batch dim removed).

    Raises:
        ValueError: If the shape fits neither head.
    """
    if raw.ndim != 2:
        raise ValueError(f"expected one image's 2-D model output, got shape {tuple(raw.shape)}")
    rows, columns = raw.shape
    if columns == NMS_FREE_COLUMNS and rows != 4 + NMS_FREE_COLUMNS:
        return "nms_free"
    if rows > 4 and columns > rows:
        return "classic"
    raise ValueError(
        f"model output of shape {tuple(raw.shape)} is neither the classic head (4 + classes, anchors) "
        f"nor the NMS-free head ({NMS_FREE_ROWS}, {NMS_FREE_COLUMNS})"
    )


def xywh_to_xyxy(boxes: Any, xp: Any) -> Any:
    """Converts ``(N, 4)`` center-size boxes to corner boxes."""
    half = boxes[:, 2:4] / 2
    return xp.concatenate([boxes[:, 0:2] - half, boxes[:, 0:2] + half], axis=1)


def box_iou(box: Any, boxes: Any, xp: Any) -> Any:
    """IoU of one ``(4,)`` xyxy box with each of ``(N, 4)`` boxes."""
    top_left = xp.maximum(box[:2], boxes[:, :2])
    bottom_right = xp.minimum(box[2:], boxes[:, 2:])
    intersection = xp.prod(xp.clip(bottom_right - top_left, 0, None), axis=1)
    area = xp.prod(box[2:] - box[:2])
    areas = xp.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    return intersection / (area + areas - intersection + 1e-9)


def nms(boxes: Any, scores: Any, iou_threshold: float, xp: Any, max_kept: int | None = None) -> Any:
    """Greedy NMS: indices of kept boxes, highest score first.

    Same rule as ``torchvision.ops.nms``: a box is dropped when its IoU with a kept, higher
    scoring box is greater than ``iou_threshold``. Boxes are kept in score order, so stopping after
    ``max_kept`` gives the first ``max_kept`` of the full result: with thousands of candidates (a
    low confidence threshold) this bounds the loop by ``max_detections`` instead.
    """
    order = xp.argsort(-scores, kind="stable")
    keep: list[Any] = []
    while order.size and (max_kept is None or len(keep) < max_kept):
        best = order[0]
        keep.append(best)
        if order.size == 1:
            break
        ious = box_iou(boxes[best], boxes[order[1:]], xp)
        order = order[1:][ious <= iou_threshold]
    return xp.stack(keep) if keep else xp.zeros(0, dtype=xp.int64)


def select_classic(raw: Any, settings: DetectionSettings, xp: Any) -> tuple[Any, Any, Any]:
    """Best class per anchor, confidence filter and class-aware NMS on a classic-head output.

    Args:
        raw: ``(4 + classes, anchors)`` output of one image.
        settings: Thresholds of the request.
        xp: Array module of ``raw``.

    Returns:
        ``(boxes (N, 4) xyxy in model-input pixels, scores (N,), class_ids (N,))``, best first.
    """
    class_scores = raw[4:]
    class_ids = xp.argmax(class_scores, axis=0)
    scores = xp.take_along_axis(class_scores, class_ids[None], axis=0)[0]
    candidates = xp.nonzero(scores > settings.conf_threshold)[0]
    if candidates.size > MAX_NMS_CANDIDATES:
        best = xp.argsort(-scores[candidates], kind="stable")[:MAX_NMS_CANDIDATES]
        candidates = candidates[best]
    boxes = xywh_to_xyxy(raw[:4, candidates].T, xp)
    scores, class_ids = scores[candidates], class_ids[candidates]
    offset_boxes = boxes + class_ids[:, None].astype(boxes.dtype) * CLASS_OFFSET
    keep = nms(offset_boxes, scores, settings.iou_threshold, xp, max_kept=settings.max_detections)
    return boxes[keep], scores[keep], class_ids[keep]


def select_nms_free(raw: Any, settings: DetectionSettings, xp: Any) -> tuple[Any, Any, Any]:
    """Confidence filter on an NMS-free ``(300, 6)`` output, keeping the model's order."""
    kept = raw[raw[:, 4] > settings.conf_threshold][: settings.max_detections]
    return kept[:, :4], kept[:, 4], kept[:, 5]


def select_detections(raw: Any, settings: DetectionSettings, xp: Any) -> tuple[Any, Any, Any]:
    """Final detections of one image's raw output, whichever the head.

    Returns:
        ``(boxes (N, 4) float32 xyxy in model-input pixels, scores (N,) float32,
        class_ids (N,) int32)``.
    """
    select = select_classic if head_of(raw) == "classic" else select_nms_free
    boxes, scores, class_ids = select(raw, settings, xp)
    return boxes.astype(xp.float32), scores.astype(xp.float32), class_ids.astype(xp.int32)


def detections_in_original_pixels(
    raw: Any, original_size: tuple[int, int], settings: DetectionSettings, input_size: int, xp: Any
) -> tuple[Any, Any, Any]:
    """:func:`select_detections`, with boxes mapped back to the original image and clipped.

    Args:
        raw: One image's raw model output (either head).
        original_size: ``(height, width)`` of the decoded image.
        settings: Thresholds of the request.
        input_size: Side of the square model input the image was letterboxed to.
        xp: Array module of ``raw``.
    """
    boxes, scores, class_ids = select_detections(raw, settings, xp)
    geometry = LetterboxGeometry.for_image(original_size[0], original_size[1], input_size)
    return boxes_to_original(boxes, geometry, xp), scores, class_ids
