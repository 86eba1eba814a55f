"""Detections, Detection, DetectionResult and the repository index rows."""

import dataclasses

import numpy as np
import pytest

from yolo26_triton.client import Detection, DetectionResult, Detections, ModelVersionState


def make_detections(**overrides: object) -> Detections:
    fields: dict[str, object] = {
        "xyxy": np.array([[10, 20, 110, 220], [5.5, 6.5, 7.5, 8.5], [0, 0, 640, 480]], dtype=np.float32),
        "confidence": np.array([0.9, 0.3, 0.6], dtype=np.float32),
        "class_id": np.array([0, 16, 2], dtype=np.int32),
        "class_names": ["person", "dog", "car"],
        "image_size": (480, 640),
        "model_untrained": False,
        "model_version": "1",
        "model_source": "yolo26n.pt",
    }
    fields.update(overrides)
    return Detections(**fields)  # type: ignore[arg-type]


def test_iterates_as_detection_rows_with_python_types() -> None:
    rows = list(make_detections())
    assert rows[0] == Detection(
        bbox=(10.0, 20.0, 110.0, 220.0), confidence=rows[0].confidence, class_id=0, class_name="person"
    )
    assert rows[0].confidence == pytest.approx(0.9)
    assert [row.class_name for row in rows] == ["person", "dog", "car"]
    for row in rows:
        assert isinstance(row.bbox, tuple) and len(row.bbox) == 4
        assert all(type(value) is float for value in row.bbox)
        assert type(row.confidence) is float and type(row.class_id) is int


def test_len_and_names_become_a_tuple() -> None:
    detections = make_detections()
    assert len(detections) == 3
    assert detections.class_names == ("person", "dog", "car")
    assert detections.image_size == (480, 640)


def test_the_seed_snippet_loop_runs() -> None:
    result = DetectionResult(
        detections=make_detections(), model_info={"model": "yolo26"}, latency_s=0.01, route="detect_ensemble"
    )
    lines = [f"{det.class_name}: {det.confidence:.2f}" for det in result.detections]
    assert lines == ["person: 0.90", "dog: 0.30", "car: 0.60"]


def test_empty_detections() -> None:
    detections = make_detections(
        xyxy=np.zeros((0, 4), np.float32),
        confidence=np.zeros(0, np.float32),
        class_id=np.zeros(0, np.int32),
        class_names=(),
    )
    assert len(detections) == 0
    assert list(detections) == []
    assert not detections


def test_filter_keeps_scores_at_or_above_the_threshold_and_the_metadata() -> None:
    kept = make_detections(model_untrained=True).filter(0.6)
    assert kept.class_names == ("person", "car")
    np.testing.assert_array_equal(kept.class_id, np.array([0, 2], np.int32))
    assert kept.xyxy.shape == (2, 4)
    assert (kept.image_size, kept.model_untrained, kept.model_version, kept.model_source) == (
        (480, 640),
        True,
        "1",
        "yolo26n.pt",
    )
    assert len(make_detections().filter(0.95)) == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"xyxy": np.zeros((3, 4), np.float64)}, "xyxy must have dtype float32, got float64"),
        ({"xyxy": np.zeros((3, 5), np.float32)}, r"xyxy must have shape \(N, 4\)"),
        ({"xyxy": np.zeros(12, np.float32)}, r"xyxy must have 2 dimensions, got shape \(12,\)"),
        ({"xyxy": [[0, 0, 1, 1]] * 3}, "xyxy must be a numpy array, got list"),
        ({"confidence": np.zeros(2, np.float32)}, r"confidence must have shape \(3,\), got \(2,\)"),
        (
            {"confidence": np.zeros((3, 1), np.float32)},
            r"confidence must have 1 dimensions, got shape \(3, 1\)",
        ),
        ({"confidence": np.zeros(3, np.float16)}, "confidence must have dtype float32"),
        ({"class_id": np.zeros(3, np.int64)}, "class_id must have dtype int32, got int64"),
        ({"class_id": np.zeros(4, np.int32)}, r"class_id must have shape \(3,\)"),
        ({"class_names": ("person", "dog")}, "class_names must be 3 strings"),
        ({"class_names": ("person", b"dog", "car")}, "class_names must be 3 strings"),
        ({"image_size": (480,)}, r"image_size must be \(height, width\)"),
        ({"image_size": (0, 640)}, r"image_size must be \(height, width\)"),
        ({"image_size": (480.0, 640.0)}, r"image_size must be \(height, width\)"),
        ({"image_size": (True, 640)}, r"image_size must be \(height, width\)"),
    ],
)
def test_bad_columns_raise_value_error(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_detections(**overrides)


def test_numpy_integer_image_size_is_normalised_to_int() -> None:
    detections = make_detections(image_size=(np.int64(480), np.int32(640)))
    assert detections.image_size == (480, 640)
    assert all(type(side) is int for side in detections.image_size)


def test_detection_and_detections_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        make_detections().class_names = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Detection(bbox=(0, 0, 1, 1), confidence=0.5, class_id=0, class_name="a").class_id = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            {"name": "yolo26", "version": "1", "state": "READY", "reason": ""},
            ModelVersionState("yolo26", "1", "READY", ""),
        ),
        # gRPC's JSON leaves empty fields out; an unloaded model has no version or state
        ({"name": "yolo26_cpu"}, ModelVersionState("yolo26_cpu", None, None, "")),
        (
            {"name": "preprocess", "version": "1", "state": "UNAVAILABLE", "reason": "unable to load"},
            ModelVersionState("preprocess", "1", "UNAVAILABLE", "unable to load"),
        ),
    ],
)
def test_repository_index_rows(entry: dict[str, str], expected: ModelVersionState) -> None:
    assert ModelVersionState.from_json(entry) == expected
