"""Matching two sets of detections one to one, and how well they agree: imports NumPy alone.

``triton-detect compare`` (Ultralytics against the server) and ``build --engine --int8`` (the INT8
graph against the FP32 model) measure agreement the same way: boxes matched one to one, same class
only, greedily by descending IoU (:func:`match_detections`); agreement ``2 * matched / (boxes of
one side + boxes of the other)`` (:func:`agreement_score`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

DEFAULT_MATCH_IOU = 0.5
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]


@dataclass(frozen=True)
class Matches:
    """Pairs of matched boxes, best IoU first.

    Attributes:
        reference_index: ``(K,)`` indices into the reference boxes.
        candidate_index: ``(K,)`` indices into the candidate boxes.
        iou: ``(K,)`` IoU of each pair, at least the matching threshold.
    """

    reference_index: IndexArray
    candidate_index: IndexArray
    iou: FloatArray

    def __len__(self) -> int:
        return len(self.iou)


def box_iou(boxes_a: npt.ArrayLike, boxes_b: npt.ArrayLike) -> FloatArray:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` ``x1, y1, x2, y2`` boxes: an ``(N, M)`` array.

    Two boxes without area (zero width or height: both pipelines clip boxes to the image, so a box
    predicted in the letterbox padding ends up as a line on the border) have no area IoU. For such a
    pair the IoU is the product of the per-axis IoUs of their extents, where two zero-length extents
    count as 1 at the same coordinate and 0 elsewhere: the same line twice has IoU 1.
    """
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    lengths_a = np.clip(a[:, 2:] - a[:, :2], 0, None)
    lengths_b = np.clip(b[:, 2:] - b[:, :2], 0, None)
    overlap = np.clip(
        np.minimum(a[:, None, 2:], b[None, :, 2:]) - np.maximum(a[:, None, :2], b[None, :, :2]), 0, None
    )
    intersection = overlap.prod(axis=2)
    union = lengths_a.prod(axis=1)[:, None] + lengths_b.prod(axis=1)[None, :] - intersection
    iou: FloatArray = np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)
    no_area = union <= 0
    if no_area.any():
        axis_union = lengths_a[:, None, :] + lengths_b[None, :, :] - overlap
        same_start = (a[:, None, :2] == b[None, :, :2]).astype(np.float64)
        axis_iou = np.divide(overlap, axis_union, out=same_start, where=axis_union > 0)
        iou[no_area] = axis_iou.prod(axis=2)[no_area]
    return iou


def match_detections(
    reference_xyxy: npt.ArrayLike,
    reference_class: npt.ArrayLike,
    candidate_xyxy: npt.ArrayLike,
    candidate_class: npt.ArrayLike,
    iou_threshold: float = DEFAULT_MATCH_IOU,
) -> Matches:
    """Match two sets of boxes one to one.

    Only pairs of the same class with IoU of at least ``iou_threshold`` qualify. The qualifying pairs
    are taken greedily, highest IoU first (ties: lower reference index, then lower candidate index),
    each box at most once.

    Args:
        reference_xyxy: ``(N, 4)`` boxes ``x1, y1, x2, y2``.
        reference_class: ``(N,)`` class ids.
        candidate_xyxy: ``(M, 4)`` boxes.
        candidate_class: ``(M,)`` class ids.
        iou_threshold: Minimum IoU of a match, in ``(0, 1]``.

    Raises:
        ValueError: ``iou_threshold`` is out of range, or a class column's length differs from its boxes'.
    """
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold={iou_threshold!r}: expected a number in (0, 1]")
    iou = box_iou(reference_xyxy, candidate_xyxy)
    reference_ids = np.asarray(reference_class).reshape(-1)
    candidate_ids = np.asarray(candidate_class).reshape(-1)
    if iou.shape != (len(reference_ids), len(candidate_ids)):
        raise ValueError(
            f"{iou.shape} boxes but {len(reference_ids)} reference and {len(candidate_ids)} candidate classes"
        )
    qualifies: BoolArray = (reference_ids[:, None] == candidate_ids[None, :]) & (iou >= iou_threshold)
    rows, columns = np.nonzero(qualifies)  # row-major: ties keep this order under a stable sort
    order = np.argsort(-iou[rows, columns], kind="stable")
    reference_used = np.zeros(len(reference_ids), dtype=bool)
    candidate_used = np.zeros(len(candidate_ids), dtype=bool)
    pairs: list[tuple[int, int]] = []
    for row, column in zip(rows[order].tolist(), columns[order].tolist(), strict=True):
        if not reference_used[row] and not candidate_used[column]:
            reference_used[row] = candidate_used[column] = True
            pairs.append((row, column))
    reference_index = np.array([row for row, _ in pairs], dtype=np.intp)
    candidate_index = np.array([column for _, column in pairs], dtype=np.intp)
    return Matches(reference_index, candidate_index, iou[reference_index, candidate_index])


def agreement_score(matched: int, reference_count: int, candidate_count: int) -> float:
    """F1-like agreement ``2 * matched / (reference_count + candidate_count)``; 1.0 when both are empty."""
    total = reference_count + candidate_count
    return 1.0 if total == 0 else 2 * matched / total
