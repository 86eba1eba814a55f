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
serves the CPU and the GPU postprocess. The ``*_batch`` functions take the outputs of a whole dynamic
batch, each image with its own request's thresholds, and run without a Python loop per box (NMS in
blocks, :func:`batched_nms`); the one-image functions are batches of one.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from yolo26_triton.contract import (
    CONF_THRESHOLD,
    DEFAULT_CONF_THRESHOLD,
    DEFAULT_IOU_THRESHOLD,
    DEFAULT_MAX_DETECTIONS,
    IOU_THRESHOLD,
    MAX_DETECTIONS,
    MAX_DETECTIONS_LIMIT,
    parameter_problem,
)
from yolo26_triton.ops.letterbox import LetterboxGeometry

Head = Literal["classic", "nms_free"]

MAX_NMS_CANDIDATES = 30000
"""Candidates kept (highest scores first) before NMS, as Ultralytics' ``max_nms``."""
CLASS_OFFSET = 7680.0
"""Per-class coordinate offset that separates classes in one NMS pass (Ultralytics' ``max_wh``)."""
NMS_BLOCK_SIZE = 256
"""Candidates of each image per block of :func:`batched_nms`: a ``(B, n, n)`` IoU matrix per block."""
NMS_FREE_ROWS = MAX_DETECTIONS_LIMIT
NMS_FREE_COLUMNS = 6


@dataclass(frozen=True)
class DetectionSettings:
    """Thresholds of one request; the defaults are Ultralytics' ``predict()`` defaults."""

    conf_threshold: float = DEFAULT_CONF_THRESHOLD
    iou_threshold: float = DEFAULT_IOU_THRESHOLD
    max_detections: int = DEFAULT_MAX_DETECTIONS

    def __post_init__(self) -> None:
        for name in (CONF_THRESHOLD, IOU_THRESHOLD, MAX_DETECTIONS):
            value = getattr(self, name)
            problem = parameter_problem(name, value)
            if problem:
                raise ValueError(f"{name}={value!r}: {problem}")

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
            for name in (CONF_THRESHOLD, IOU_THRESHOLD, MAX_DETECTIONS)
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
    """Converts ``(..., 4)`` center-size boxes to corner boxes."""
    half = boxes[..., 2:4] / 2
    return xp.concatenate([boxes[..., 0:2] - half, boxes[..., 0:2] + half], axis=-1)


def pairwise_iou(boxes_a: Any, boxes_b: Any, xp: Any) -> Any:
    """IoU of each of ``(..., N, 4)`` xyxy boxes with each of ``(..., M, 4)``: an ``(..., N, M)`` array.

    ``intersection / (area_a + area_b - intersection + 1e-9)`` in the boxes' dtype, the arithmetic of
    the greedy loop this replaced (and of ``torchvision.ops.nms`` up to the epsilon). Leading
    dimensions (images of a batch) pair up one to one.
    """
    x1a, y1a, x2a, y2a = (boxes_a[..., :, column, None] for column in range(4))
    x1b, y1b, x2b, y2b = (boxes_b[..., None, :, column] for column in range(4))
    # In place where possible: a batch's matrices are megabytes, and fewer temporaries run faster.
    intersection = xp.minimum(x2a, x2b)
    intersection -= xp.maximum(x1a, x1b)
    xp.maximum(intersection, 0, out=intersection)
    height = xp.minimum(y2a, y2b)
    height -= xp.maximum(y1a, y1b)
    xp.maximum(height, 0, out=height)
    intersection *= height
    union = height  # reused: (area_a + area_b) - intersection + 1e-9, in the loop's order
    xp.add((x2a - x1a) * (y2a - y1a), (x2b - x1b) * (y2b - y1b), out=union)
    union -= intersection
    union += 1e-9
    intersection /= union
    return intersection


def batched_nms(
    boxes: Any,
    scores: Any,
    candidates: Any,
    iou_thresholds: Any,
    max_kept: Any,
    xp: Any,
    *,
    block_size: int = NMS_BLOCK_SIZE,
) -> tuple[Any, Any]:
    """Greedy NMS of each image of a batch, all images at once.

    For each image the result is exactly greedy NMS over its candidates (``torchvision.ops.nms``: a
    box is dropped when its IoU with a kept, higher-scoring box is greater than the threshold), cut to
    its first ``max_kept`` boxes; at most :data:`MAX_NMS_CANDIDATES` best candidates enter, as in
    Ultralytics. No Python loop runs per box or per image: each image's candidates are sorted by
    score and taken in blocks of ``block_size``, all images side by side. A block loses the boxes
    that already kept boxes suppress; its own greedy result is then the fixed point of ``keep[j] =
    not any(keep[i] and suppresses[i, j] for i < j)``, reached with batched matrix products in as
    many rounds as the block's longest chain of suppressions (one host synchronization per round and
    per block, none per kept box). It stops once every image is full or out of candidates.

    Args:
        boxes: ``(B, A, 4)`` xyxy boxes; for class-aware NMS, offset per class (:data:`CLASS_OFFSET`).
        scores: ``(B, A)`` scores.
        candidates: ``(B, A)`` booleans: the boxes that enter NMS (above the confidence threshold).
        iou_thresholds: ``(B,)`` IoU threshold of each image, in the boxes' dtype.
        max_kept: ``(B,)`` integer limit of kept boxes per image.
        xp: Array module of the arrays.
        block_size: Candidates of each image per block.

    Returns:
        ``(images, indices)``: int64 arrays of the kept boxes, image by image, best first within an
        image (ties: lower index first).
    """
    batch = boxes.shape[0]
    order = xp.argsort(xp.where(candidates, -scores, xp.inf), axis=1, kind="stable")
    available = xp.minimum(candidates.sum(axis=1), MAX_NMS_CANDIDATES)
    limits = xp.minimum(xp.asarray(max_kept).astype(xp.int64), available)
    ranked = xp.take_along_axis(boxes, order[:, :, None], axis=1)
    thresholds = iou_thresholds[:, None, None]
    kept = xp.zeros(order.shape, dtype=bool)
    counts = xp.zeros(batch, dtype=xp.int64)
    kept_boxes, kept_valid = ranked[:, :0], kept[:, :0]
    longest = int(available.max()) if batch else 0
    for start in range(0, longest, block_size):
        block = ranked[:, start : start + block_size]
        size = block.shape[1]
        alive = (xp.arange(start, start + size)[None, :] < available[:, None]) & (counts < limits)[:, None]
        if kept_boxes.shape[1]:
            covered = (pairwise_iou(block, kept_boxes, xp) > thresholds) & kept_valid[:, None, :]
            alive &= ~covered.any(axis=2)
        later = xp.triu(xp.ones((size, size), dtype=bool), k=1)
        suppresses = ((pairwise_iou(block, block, xp) > thresholds) & later).astype(xp.float32)
        keep = alive
        while True:
            updated = alive & ((keep[:, None, :].astype(xp.float32) @ suppresses)[:, 0] == 0)
            if bool((updated == keep).all()):
                break
            keep = updated
        keep &= (xp.cumsum(keep, axis=1) + counts[:, None]) <= limits[:, None]
        kept[:, start : start + size] = keep
        counts += keep.sum(axis=1)
        if bool((counts >= limits).all()):
            break
        width = int(keep.sum(axis=1).max())  # kept boxes of the block first, padded to the widest image
        first = xp.argsort(~keep, axis=1, kind="stable")[:, :width]
        kept_boxes = xp.concatenate(
            [kept_boxes, xp.take_along_axis(block, first[:, :, None], axis=1)], axis=1
        )
        kept_valid = xp.concatenate([kept_valid, xp.take_along_axis(keep, first, axis=1)], axis=1)
    images, positions = xp.nonzero(kept)
    return images.astype(xp.int64), order[images, positions].astype(xp.int64)


def nms(boxes: Any, scores: Any, iou_threshold: float, xp: Any, max_kept: int | None = None) -> Any:
    """Greedy NMS of one set of boxes: indices of kept boxes, highest score first.

    Same rule as ``torchvision.ops.nms``; stopping after ``max_kept`` gives the first ``max_kept`` of
    the full result (:func:`batched_nms` with one image).
    """
    limit = boxes.shape[0] if max_kept is None else max_kept
    _, indices = batched_nms(
        boxes[None],
        scores[None],
        xp.ones((1, boxes.shape[0]), dtype=bool),
        xp.asarray([iou_threshold], dtype=boxes.dtype),
        xp.asarray([limit]),
        xp,
    )
    return indices


@dataclass(frozen=True)
class BatchDetections:
    """The detections of a batch of images, concatenated, best first within each image.

    Attributes:
        boxes: ``(N, 4)`` float32 xyxy.
        scores: ``(N,)`` float32.
        class_ids: ``(N,)`` int32.
        counts: ``(B,)`` host ints: how many of the N rows belong to each image, in image order.
    """

    boxes: Any
    scores: Any
    class_ids: Any
    counts: tuple[int, ...]

    def split(self, xp: Any) -> list[tuple[Any, Any, Any]]:
        """``(boxes, scores, class_ids)`` of each image."""
        bounds = [0, *itertools.accumulate(self.counts)]
        return [
            (self.boxes[low:high], self.scores[low:high], self.class_ids[low:high])
            for low, high in itertools.pairwise(bounds)
        ]


def select_classic_batch(raw: Any, settings: Sequence[DetectionSettings], xp: Any) -> BatchDetections:
    """:func:`select_classic` for a ``(B, 4 + classes, anchors)`` batch, one setting per image, at once."""
    batch, dtype = raw.shape[0], raw.dtype
    class_scores = raw[:, 4:]
    scores = class_scores.max(axis=1)
    conf = xp.asarray([setting.conf_threshold for setting in settings], dtype=dtype)
    candidates = scores > conf[:, None]
    # The best class of the candidates only: an argmax across the class axis of every anchor costs
    # more than the NMS. The first best class, as argmax (and Ultralytics' max) takes it.
    class_ids = xp.zeros(scores.shape, dtype=xp.int64)
    images, anchors = xp.nonzero(candidates)
    class_ids[images, anchors] = xp.argmax(class_scores[images, :, anchors], axis=1)
    boxes = xywh_to_xyxy(raw[:, :4].transpose(0, 2, 1), xp)
    offset_boxes = boxes + class_ids[:, :, None].astype(dtype) * CLASS_OFFSET
    images, anchors = batched_nms(
        offset_boxes,
        scores,
        candidates,
        xp.asarray([setting.iou_threshold for setting in settings], dtype=dtype),
        xp.asarray([setting.max_detections for setting in settings]),
        xp,
    )
    return _batch_detections(
        boxes[images, anchors], scores[images, anchors], class_ids[images, anchors], images, batch, xp
    )


def select_nms_free_batch(raw: Any, settings: Sequence[DetectionSettings], xp: Any) -> BatchDetections:
    """:func:`select_nms_free` for a ``(B, 300, 6)`` batch, one setting per image, at once."""
    batch, dtype = raw.shape[0], raw.dtype
    conf = xp.asarray([setting.conf_threshold for setting in settings], dtype=dtype)
    limits = xp.asarray([setting.max_detections for setting in settings])
    above = raw[:, :, 4] > conf[:, None]
    kept = above & (xp.cumsum(above, axis=1) <= limits[:, None])
    images, rows = xp.nonzero(kept)
    selected = raw[images, rows]
    return _batch_detections(selected[:, :4], selected[:, 4], selected[:, 5], images, batch, xp)


def _batch_detections(
    boxes: Any, scores: Any, class_ids: Any, images: Any, batch: int, xp: Any
) -> BatchDetections:
    counts = xp.bincount(images, minlength=batch) if images.size else xp.zeros(batch, dtype=xp.int64)
    host_counts = counts.get() if hasattr(counts, "get") else counts
    return BatchDetections(
        boxes.astype(xp.float32),
        scores.astype(xp.float32),
        class_ids.astype(xp.int32),
        tuple(int(count) for count in host_counts),
    )


def select_batch(raw: Any, settings: Sequence[DetectionSettings], xp: Any) -> BatchDetections:
    """Final detections of a batch of raw outputs of one head, in model-input pixels.

    Raises:
        ValueError: The batch's shape fits neither head, or the settings are not one per image.
    """
    if raw.ndim != 3 or len(settings) != raw.shape[0]:
        raise ValueError(
            f"expected a (batch, rows, columns) output and one setting per image, got "
            f"shape {tuple(raw.shape)} and {len(settings)} settings"
        )
    select = select_classic_batch if head_of(raw[0]) == "classic" else select_nms_free_batch
    return select(raw, settings, xp)


def select_classic(raw: Any, settings: DetectionSettings, xp: Any) -> tuple[Any, Any, Any]:
    """Best class per anchor, confidence filter and class-aware NMS on a classic-head output.

    Args:
        raw: ``(4 + classes, anchors)`` output of one image.
        settings: Thresholds of the request.
        xp: Array module of ``raw``.

    Returns:
        ``(boxes (N, 4) xyxy in model-input pixels, scores (N,), class_ids (N,))``, best first.
    """
    return select_classic_batch(raw[None], [settings], xp).split(xp)[0]


def select_nms_free(raw: Any, settings: DetectionSettings, xp: Any) -> tuple[Any, Any, Any]:
    """Confidence filter on an NMS-free ``(300, 6)`` output, keeping the model's order."""
    return select_nms_free_batch(raw[None], [settings], xp).split(xp)[0]


def select_detections(raw: Any, settings: DetectionSettings, xp: Any) -> tuple[Any, Any, Any]:
    """Final detections of one image's raw output, whichever the head.

    Returns:
        ``(boxes (N, 4) float32 xyxy in model-input pixels, scores (N,) float32,
        class_ids (N,) int32)``.
    """
    return select_batch(raw[None], [settings], xp).split(xp)[0]


def detections_in_original_pixels_batch(
    raw: Any,
    original_sizes: Sequence[tuple[int, int]],
    settings: Sequence[DetectionSettings],
    input_size: int,
    xp: Any,
) -> BatchDetections:
    """:func:`select_batch`, with each image's boxes mapped back to its original pixels and clipped.

    Args:
        raw: ``(B, rows, columns)`` raw outputs of one head.
        original_sizes: ``(height, width)`` of each decoded image (host values).
        settings: Thresholds of each image's request.
        input_size: Side of the square model input the images were letterboxed to.
        xp: Array module of ``raw``.
    """
    selected = select_batch(raw, settings, xp)
    images = xp.asarray(
        [index for index, count in enumerate(selected.counts) for _ in range(count)], dtype=xp.int64
    )
    placement = xp.asarray(
        [
            [[g.left, g.top] * 2, [g.gain_x, g.gain_y] * 2, [g.width, g.height] * 2]
            for g in (
                LetterboxGeometry.for_image(height, width, input_size) for height, width in original_sizes
            )
        ],
        dtype=xp.float32,
    )  # (B, 3, 4): offset, gain and upper bound of each image's xyxy
    offset, gain, upper = (placement[images, row] for row in range(3))
    boxes = xp.clip((selected.boxes - offset) / gain, 0, upper)
    return replace(selected, boxes=boxes)


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
    batch = detections_in_original_pixels_batch(raw[None], [original_size], [settings], input_size, xp)
    return batch.split(xp)[0]
