"""Head decoding, class-aware NMS and request settings against Ultralytics and torchvision."""

import numpy as np
import pytest
import torch
import torchvision
from ultralytics.utils.nms import non_max_suppression
from ultralytics.utils.ops import scale_boxes

from yolo26_triton.ops.detections import (
    MAX_NMS_CANDIDATES,
    DetectionSettings,
    detections_in_original_pixels,
    head_of,
    nms,
    select_classic,
    select_detections,
    select_nms_free,
)

from ...raw_outputs import classic_head, clustered_xyxy, distinct_uniform, nms_free_head

SIZE = 640


def ultralytics_classic(raw: np.ndarray, conf: float, iou: float, max_det: int) -> np.ndarray:
    (result,) = non_max_suppression(torch.from_numpy(raw[None]), conf, iou, max_det=max_det)
    return result.numpy()


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU in float64, written independently of the code under test."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    intersection = np.clip(bottom_right - top_left, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    return intersection / (area_a[:, None] + area_b[None, :] - intersection)


# ---------------------------------------------------------------------------------------------- nms


@pytest.mark.parametrize("iou_threshold", [0.0, 0.1, 0.3, 0.45, 0.5, 0.7, 0.9, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nms_matches_torchvision(iou_threshold: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    boxes = clustered_xyxy(rng, 400)
    scores = distinct_uniform(rng, 400, 0.0, 1.0)

    keep = nms(boxes, scores, iou_threshold, np)

    expected = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), iou_threshold).numpy()
    np.testing.assert_array_equal(np.asarray(keep), expected)
    assert np.issubdtype(np.asarray(keep).dtype, np.integer)


@pytest.mark.parametrize("max_kept", [1, 7, 50, 10_000])
def test_nms_stopped_early_keeps_the_first_boxes_of_the_full_result(max_kept: int) -> None:
    rng = np.random.default_rng(3)
    boxes = clustered_xyxy(rng, 400)
    scores = distinct_uniform(rng, 400, 0.0, 1.0)
    expected = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), 0.5).numpy()[:max_kept]
    np.testing.assert_array_equal(np.asarray(nms(boxes, scores, 0.5, np, max_kept=max_kept)), expected)


def test_nms_suppresses_and_orders_by_score() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 9]], np.float32)
    scores = np.array([0.5, 0.9, 0.3, 0.8], np.float32)
    np.testing.assert_array_equal(nms(boxes, scores, 0.5, np), [1, 2])
    np.testing.assert_array_equal(nms(boxes, scores, 0.95, np), [1, 3, 0, 2])


def test_nms_of_nothing_is_empty() -> None:
    keep = nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5, np)
    assert keep.shape == (0,)
    assert np.issubdtype(keep.dtype, np.integer)


# ------------------------------------------------------------------------------------- classic head

CLASSIC_SETTINGS = [
    (0.25, 0.7, 300),  # Ultralytics' predict() defaults
    (0.5, 0.45, 300),
    (0.15, 0.3, 300),
    (0.25, 0.5, 10),  # max_det truncation
    (0.9, 0.7, 300),  # few candidates
]


@pytest.mark.parametrize(("conf", "iou", "max_det"), CLASSIC_SETTINGS)
def test_select_classic_matches_ultralytics(conf: float, iou: float, max_det: int) -> None:
    raw = classic_head(seed=7)
    settings = DetectionSettings(conf_threshold=conf, iou_threshold=iou, max_detections=max_det)

    boxes, scores, class_ids = select_classic(raw, settings, np)

    expected = ultralytics_classic(raw, conf, iou, max_det)
    assert len(expected) > 0
    assert boxes.shape == (len(expected), 4)
    np.testing.assert_allclose(boxes, expected[:, :4], atol=1e-4, rtol=0)
    np.testing.assert_array_equal(scores, expected[:, 4])
    np.testing.assert_array_equal(class_ids, expected[:, 5].astype(np.int64))
    assert (np.diff(scores) < 0).all()  # best first


def test_select_classic_truncates_to_max_detections() -> None:
    raw = classic_head(seed=7)
    unlimited = select_classic(raw, DetectionSettings(0.25, 0.5, 300), np)
    limited = select_classic(raw, DetectionSettings(0.25, 0.5, 10), np)
    assert len(unlimited[0]) > 10
    assert len(limited[0]) == 10
    for full, truncated in zip(unlimited, limited, strict=True):
        np.testing.assert_array_equal(truncated, full[:10])


@pytest.mark.parametrize("iou", [0.3, 0.7])
def test_select_classic_is_class_aware_greedy_nms(iou: float) -> None:
    """Brute force: kept boxes of one class never overlap above ``iou``, and every dropped
    candidate overlaps a kept, better box of its own class above ``iou``."""
    conf = 0.25
    raw = classic_head(seed=11, hot=500)
    boxes, scores, class_ids = select_classic(raw, DetectionSettings(conf, iou, 300), np)

    class_scores = raw[4:]
    best = class_scores.max(axis=0)
    candidates = np.nonzero(best > conf)[0]
    assert len(candidates) > len(boxes) > 0  # NMS did suppress something
    assert len(boxes) < 300  # and max_det did not cut: the property below is pure NMS
    assert set(np.unique(class_ids)) == set(np.unique(class_scores[:, candidates].argmax(axis=0)))

    for class_id in np.unique(class_ids):
        kept = boxes[class_ids == class_id]
        overlaps = iou_matrix(kept, kept)
        np.fill_diagonal(overlaps, 0)
        assert overlaps.max(initial=0) <= iou + 1e-6, class_id

    kept_scores = set(scores.tolist())
    cx, cy, w, h = raw[:4, candidates]
    candidate_boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    candidate_classes = class_scores[:, candidates].argmax(axis=0)
    candidate_scores = best[candidates]
    for box, class_id, score in zip(candidate_boxes, candidate_classes, candidate_scores, strict=True):
        if float(score) in kept_scores:
            continue
        better_same_class = (class_ids == class_id) & (scores > score)
        assert iou_matrix(box[None], boxes[better_same_class]).max(initial=0) > iou - 1e-6


def test_select_classic_classes_never_suppress_each_other() -> None:
    # Two identical boxes of different classes both survive; the same two in one class do not.
    raw = np.zeros((4 + 3, 20), np.float32)
    raw[:4] = np.array([[100], [100], [50], [50]], np.float32)
    raw[4:, 0] = [0.9, 0.01, 0.02]
    raw[4:, 1] = [0.03, 0.8, 0.04]
    raw[4:, 2] = [0.7, 0.05, 0.06]
    boxes, scores, class_ids = select_classic(raw, DetectionSettings(), np)
    np.testing.assert_array_equal(class_ids, [0, 1])
    np.testing.assert_array_equal(scores, np.float32([0.9, 0.8]))
    np.testing.assert_allclose(boxes, [[75, 75, 125, 125]] * 2)


def test_select_classic_caps_candidates_like_ultralytics() -> None:
    """More than 30000 candidates: only the best 30000 enter NMS, as Ultralytics' ``max_nms``."""
    anchors = MAX_NMS_CANDIDATES + 6000
    rng = np.random.default_rng(5)
    raw = np.empty((4 + 1, anchors), np.float32)
    centers = rng.uniform(50, 590, size=(40, 2))
    which = rng.integers(0, 40, anchors)
    raw[0:2] = (centers[which] + rng.normal(0, 1, size=(anchors, 2))).T
    raw[2:4] = 60
    raw[4] = distinct_uniform(rng, anchors, 0.3, 1.0)
    settings = DetectionSettings(conf_threshold=0.25, iou_threshold=0.5, max_detections=300)

    boxes, scores, class_ids = select_classic(raw, settings, np)

    expected = ultralytics_classic(raw, 0.25, 0.5, 300)
    assert 0 < len(expected) < 300
    np.testing.assert_allclose(boxes, expected[:, :4], atol=1e-4, rtol=0)
    np.testing.assert_array_equal(scores, expected[:, 4])
    np.testing.assert_array_equal(class_ids, expected[:, 5])


# ------------------------------------------------------------------------------------ NMS-free head


@pytest.mark.parametrize(("conf", "max_det"), [(0.25, 300), (0.5, 300), (0.1, 50), (0.0, 300), (0.99, 300)])
def test_select_nms_free_matches_ultralytics_end2end(conf: float, max_det: int) -> None:
    raw = nms_free_head(seed=3)
    settings = DetectionSettings(conf_threshold=conf, max_detections=max_det)

    boxes, scores, class_ids = select_nms_free(raw, settings, np)

    (expected,) = non_max_suppression(torch.from_numpy(raw[None]), conf, 0.7, max_det=max_det, end2end=True)
    expected = expected.numpy()
    assert boxes.shape == (len(expected), 4)
    np.testing.assert_allclose(boxes, expected[:, :4], atol=1e-4, rtol=0)
    np.testing.assert_array_equal(scores, expected[:, 4])
    np.testing.assert_array_equal(class_ids, expected[:, 5])
    if max_det < 300 and conf < 0.5:
        assert len(boxes) == max_det


def test_select_nms_free_keeps_the_model_order() -> None:
    raw = nms_free_head(seed=4)
    raw = raw[np.random.default_rng(4).permutation(len(raw))]  # not sorted by score
    boxes, scores, _ = select_nms_free(raw, DetectionSettings(conf_threshold=0.5), np)
    np.testing.assert_array_equal(scores, raw[raw[:, 4] > 0.5, 4])
    np.testing.assert_array_equal(boxes, raw[raw[:, 4] > 0.5, :4])


def test_select_detections_casts_dtypes_for_both_heads() -> None:
    for raw in (classic_head(seed=1), nms_free_head(seed=1)):
        boxes, scores, class_ids = select_detections(raw, DetectionSettings(), np)
        assert (boxes.dtype, scores.dtype, class_ids.dtype) == (np.float32, np.float32, np.int32)
        assert len(boxes) == len(scores) == len(class_ids) > 0


# ---------------------------------------------------------------------------------------------- head


@pytest.mark.parametrize(
    ("shape", "head"),
    [((84, 8400), "classic"), ((5, 8400), "classic"), ((84, 2100), "classic"), ((300, 6), "nms_free")],
)
def test_head_of(shape: tuple[int, int], head: str) -> None:
    assert head_of(np.zeros(shape, np.float32)) == head


@pytest.mark.parametrize("shape", [(8400, 84), (1, 84, 8400), (84,), (4, 8400), (300, 7), (3, 2), ()])
def test_head_of_rejects_other_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="shape"):
        head_of(np.zeros(shape, np.float32))


# ------------------------------------------------------------------------------------------ settings


def test_settings_defaults_are_ultralytics_predict_defaults() -> None:
    settings = DetectionSettings()
    assert (settings.conf_threshold, settings.iou_threshold, settings.max_detections) == (0.25, 0.7, 300)


def test_request_parameters_override() -> None:
    defaults = DetectionSettings()
    assert defaults.with_request_parameters('{"conf_threshold": 0.1}') == DetectionSettings(0.1, 0.7, 300)
    both = defaults.with_request_parameters('{"iou_threshold": 0.5, "max_detections": 12}')
    assert both == DetectionSettings(0.25, 0.5, 12)
    assert defaults.with_request_parameters('{"conf_threshold": 0, "iou_threshold": 1}') == DetectionSettings(
        0.0, 1.0, 300
    )
    assert defaults == DetectionSettings()  # frozen: the defaults are not changed


@pytest.mark.parametrize(
    "text", ["", "{}", '{"image_size": 320, "sequence_id": "x"}', '{"CONF_THRESHOLD": 3}']
)
def test_request_parameters_unknown_keys_and_empty_are_ignored(text: str) -> None:
    assert DetectionSettings().with_request_parameters(text) == DetectionSettings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("conf_threshold", "2"),
        ("conf_threshold", "-0.1"),
        ("conf_threshold", '"x"'),
        ("conf_threshold", "true"),
        ("conf_threshold", "null"),
        ("conf_threshold", "NaN"),
        ("iou_threshold", "2"),
        ("iou_threshold", "-0.1"),
        ("iou_threshold", '"0.5"'),
        ("iou_threshold", "false"),
        ("max_detections", "0"),
        ("max_detections", "301"),
        ("max_detections", "1.5"),
        ("max_detections", "true"),
        ("max_detections", '"10"'),
        ("max_detections", "-5"),
    ],
)
def test_request_parameters_bad_values_raise_naming_the_parameter(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        DetectionSettings().with_request_parameters(f'{{"{name}": {value}}}')


@pytest.mark.parametrize("text", ["[1, 2]", '"conf_threshold"', "3", "null", "true"])
def test_request_parameters_must_be_a_json_object(text: str) -> None:
    with pytest.raises(ValueError, match="JSON object"):
        DetectionSettings().with_request_parameters(text)


def test_request_parameters_invalid_json_raises_value_error() -> None:
    with pytest.raises(ValueError):  # json.JSONDecodeError is a ValueError: the model answers INVALID_ARG
        DetectionSettings().with_request_parameters('{"conf_threshold": ')


@pytest.mark.parametrize(
    "kwargs",
    [{"conf_threshold": 1.01}, {"iou_threshold": -1}, {"max_detections": 0}, {"max_detections": 300.0}],
)
def test_settings_constructor_validates(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        DetectionSettings(**kwargs)


# ------------------------------------------------------------------------------ original-image pixels


@pytest.mark.parametrize("original_size", [(1080, 810), (720, 1280), (600, 512), (853, 1280), (1, 5000)])
def test_detections_in_original_pixels_matches_scale_boxes(original_size: tuple[int, int]) -> None:
    raw = classic_head(seed=21)
    settings = DetectionSettings()

    boxes, scores, class_ids = detections_in_original_pixels(raw, original_size, settings, SIZE, np)

    expected = ultralytics_classic(raw, 0.25, 0.7, 300)
    expected_boxes = scale_boxes(
        (SIZE, SIZE), torch.from_numpy(expected[:, :4]).clone(), original_size
    ).numpy()
    np.testing.assert_allclose(boxes, expected_boxes, rtol=1e-6, atol=1e-3)
    np.testing.assert_array_equal(scores, expected[:, 4])
    np.testing.assert_array_equal(class_ids, expected[:, 5].astype(np.int32))
    assert (boxes.dtype, scores.dtype, class_ids.dtype) == (np.float32, np.float32, np.int32)
    height, width = original_size
    assert (boxes[:, [0, 2]] <= width).all() and (boxes[:, [1, 3]] <= height).all() and (boxes >= 0).all()


def test_detections_in_original_pixels_nms_free() -> None:
    raw = nms_free_head(seed=8)
    boxes, scores, class_ids = detections_in_original_pixels(raw, (720, 1280), DetectionSettings(), SIZE, np)
    (expected,) = non_max_suppression(torch.from_numpy(raw[None]), 0.25, 0.7, max_det=300, end2end=True)
    expected_boxes = scale_boxes((SIZE, SIZE), expected[:, :4].clone(), (720, 1280)).numpy()
    np.testing.assert_allclose(boxes, expected_boxes, rtol=1e-6, atol=1e-3)
    np.testing.assert_array_equal(scores, expected[:, 4].numpy())
    np.testing.assert_array_equal(class_ids, expected[:, 5].numpy().astype(np.int32))


@pytest.mark.parametrize("head", ["classic", "nms_free"])
def test_no_detection_above_confidence_one_is_empty(head: str) -> None:
    raw = classic_head(seed=2) if head == "classic" else nms_free_head(seed=2)
    settings = DetectionSettings(conf_threshold=1.0)
    boxes, scores, class_ids = detections_in_original_pixels(raw, (480, 640), settings, SIZE, np)
    assert (boxes.shape, scores.shape, class_ids.shape) == ((0, 4), (0,), (0,))
    assert (boxes.dtype, scores.dtype, class_ids.dtype) == (np.float32, np.float32, np.int32)
