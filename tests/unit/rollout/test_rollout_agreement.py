"""Agreement per image and pooled over images: what ``triton-detect compare`` and the rollout's shadow
mode report (the matching itself: tests/unit/ops/test_matching.py)."""

from __future__ import annotations

import numpy as np
import pytest

from yolo26_triton.client import Detections
from yolo26_triton.rollout.agreement import ImageAgreement, image_agreement, summarize_agreement

BOXES = np.array([[10, 10, 50, 50], [100, 100, 200, 180], [300, 20, 340, 90]], dtype=np.float32)
CLASSES = np.array([0, 2, 0])


def detections(boxes: np.ndarray, classes: np.ndarray, scores: list[float] | None = None) -> Detections:
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    return Detections(
        xyxy=boxes,
        confidence=np.asarray(scores if scores is not None else [0.9] * len(boxes), dtype=np.float32),
        class_id=np.asarray(classes, dtype=np.int32),
        class_names=tuple(str(c) for c in classes),
        image_size=(480, 640),
    )


def test_image_agreement_counts_iou_and_score_difference() -> None:
    reference = detections(BOXES, CLASSES, [0.9, 0.8, 0.7])
    moved = BOXES.copy()
    moved[0] += np.array([4, 0, 4, 0], dtype=np.float32)  # IoU 36/44
    candidate = detections(moved[:2], CLASSES[:2], [0.85, 0.81])
    record = image_agreement(reference, candidate)
    assert (record.reference_count, record.candidate_count, record.matched) == (3, 2, 2)
    assert record.agreement == pytest.approx(0.8)
    assert record.mean_iou == pytest.approx((36 / 44 + 1.0) / 2)
    assert record.max_score_diff == pytest.approx(0.05, abs=1e-6)


def test_image_agreement_without_matches_has_no_iou_or_score_difference() -> None:
    record = image_agreement(detections(BOXES, CLASSES), detections(BOXES[:0], CLASSES[:0]))
    assert (record.matched, record.agreement, record.mean_iou, record.max_score_diff) == (0, 0.0, None, None)
    both_empty = image_agreement(detections(BOXES[:0], CLASSES[:0]), detections(BOXES[:0], CLASSES[:0]))
    assert both_empty.agreement == 1.0


def test_summary_pools_boxes_of_all_images() -> None:
    records = [
        ImageAgreement(10, 10, 10, mean_iou=1.0, max_score_diff=0.001),
        ImageAgreement(4, 2, 1, mean_iou=0.6, max_score_diff=0.02),
        ImageAgreement(0, 0, 0, mean_iou=None, max_score_diff=None),
    ]
    summary = summarize_agreement(records)
    assert (summary.images, summary.reference_count, summary.candidate_count) == (3, 14, 12)
    assert summary.matched == 11
    assert summary.agreement == pytest.approx(22 / 26)  # not the mean of per-image agreements
    assert summary.mean_iou == pytest.approx((10 * 1.0 + 0.6) / 11)
    assert summary.max_score_diff == 0.02
    empty = summarize_agreement([ImageAgreement(0, 3, 0, None, None)])
    assert (empty.agreement, empty.mean_iou, empty.max_score_diff) == (0.0, None, None)
