"""Matching two sets of detections one to one (``ops/matching.py``): IoU, greedy pairs, agreement."""

from __future__ import annotations

import numpy as np
import pytest

from yolo26_triton.ops.matching import Matches, agreement_score, box_iou, match_detections

BOXES = np.array([[10, 10, 50, 50], [100, 100, 200, 180], [300, 20, 340, 90]], dtype=np.float32)
CLASSES = np.array([0, 2, 0])


def pairs(matches: Matches) -> list[tuple[int, int]]:
    """(reference, candidate) index pairs, best IoU first."""
    return list(zip(matches.reference_index.tolist(), matches.candidate_index.tolist(), strict=True))


# --- box_iou and match_detections ---------------------------------------------------------------


def test_box_iou_pairwise() -> None:
    iou = box_iou([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(iou, [[1.0, 50 / 150, 0.0]])
    assert box_iou(np.zeros((0, 4)), BOXES).shape == (0, 3)


def test_box_iou_of_boxes_without_area_compares_their_extents() -> None:
    # Clipped to the image border, a box from the letterbox padding becomes a line: y1 == y2 == 0.
    lines = [[0, 0, 160, 0], [0, 720, 160, 720], [5, 5, 5, 5]]
    iou = box_iou(lines, [[0, 0, 160, 0], [0, 0, 80, 0], [0, 720, 160, 720], [5, 5, 5, 5], [0, 0, 0, 10]])
    np.testing.assert_allclose(
        iou,
        [
            [1.0, 0.5, 0.0, 0.0, 0.0],  # the same line; half of it; the opposite border
            [0.0, 0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 1.0, 0.0],  # the same point
        ],
    )
    assert box_iou([[0, 0, 160, 0]], [[0, 0, 160, 10]])[0, 0] == 0.0  # a line inside a box: no area


def test_identical_sets_match_fully() -> None:
    matches = match_detections(BOXES, CLASSES, BOXES[::-1], CLASSES[::-1])
    assert len(matches) == 3
    assert sorted(pairs(matches)) == [(0, 2), (1, 1), (2, 0)]
    np.testing.assert_allclose(matches.iou, 1.0)


@pytest.mark.parametrize(("shift", "matched"), [(4.0, 1), (20.0, 0)])
def test_shifted_box_matches_only_above_the_threshold(shift: float, matched: int) -> None:
    reference = np.array([[0, 0, 40, 40]], dtype=np.float32)
    shifted = reference + np.array([shift, 0, shift, 0], dtype=np.float32)
    iou = box_iou(reference, shifted)[0, 0]  # 4 px: 36/44 = 0.82; 20 px: 20/60 = 0.33
    assert (iou >= 0.5) == bool(matched)
    assert len(match_detections(reference, [1], shifted, [1], iou_threshold=0.5)) == matched


def test_threshold_is_inclusive() -> None:
    half = np.array([[5, 0, 15, 10]], dtype=np.float32)  # IoU 50/150 with [0, 0, 10, 10]
    assert len(match_detections([[0, 0, 10, 10]], [0], half, [0], iou_threshold=1 / 3)) == 1
    assert len(match_detections([[0, 0, 10, 10]], [0], half, [0], iou_threshold=0.34)) == 0


def test_class_mismatch_never_matches() -> None:
    assert len(match_detections(BOXES, CLASSES, BOXES, CLASSES + 1, iou_threshold=0.01)) == 0


def test_each_box_is_used_once_best_iou_first() -> None:
    reference = np.array([[0, 0, 10, 10], [1, 0, 11, 10]], dtype=np.float32)
    candidate = np.array([[1, 0, 11, 10]], dtype=np.float32)  # IoU 1.0 with the second, 0.82 with the first
    matches = match_detections(reference, [0, 0], candidate, [0])
    assert pairs(matches) == [(1, 0)]
    np.testing.assert_allclose(matches.iou, [1.0])


def test_greedy_takes_the_best_pair_even_when_it_costs_a_match() -> None:
    # A-X has the highest IoU; B overlaps only X, so greedy leaves B unmatched (an optimal
    # assignment would pair A-Y and B-X). Greedy by IoU is what detection metrics use.
    reference = np.array([[0, 0, 10, 10], [2, 0, 12, 10]], dtype=np.float32)  # A, B
    candidate = np.array([[0.5, 0, 10.5, 10], [-3, 0, 7, 10]], dtype=np.float32)  # X, Y
    iou = box_iou(reference, candidate)
    assert iou[0, 0] > iou[1, 0] > 0.5 and iou[0, 1] >= 0.5 > iou[1, 1]
    matches = match_detections(reference, [0, 0], candidate, [0, 0])
    assert pairs(matches) == [(0, 0)]


@pytest.mark.parametrize(("reference", "candidate"), [(0, 0), (3, 0), (0, 3)])
def test_empty_sets(reference: int, candidate: int) -> None:
    matches = match_detections(BOXES[:reference], CLASSES[:reference], BOXES[:candidate], CLASSES[:candidate])
    assert len(matches) == 0
    assert matches.reference_index.dtype == np.intp and matches.iou.shape == (0,)


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.5])
def test_match_threshold_must_be_in_range(threshold: float) -> None:
    with pytest.raises(ValueError, match="iou_threshold"):
        match_detections(BOXES, CLASSES, BOXES, CLASSES, iou_threshold=threshold)


def test_class_column_must_fit_the_boxes() -> None:
    with pytest.raises(ValueError, match="classes"):
        match_detections(BOXES, CLASSES[:2], BOXES, CLASSES)


def test_agreement_score() -> None:
    assert agreement_score(0, 0, 0) == 1.0
    assert agreement_score(0, 3, 0) == 0.0
    assert agreement_score(2, 3, 2) == pytest.approx(0.8)
    assert agreement_score(3, 3, 3) == 1.0
