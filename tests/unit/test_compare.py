"""``triton-detect compare``: box matching, agreement and latency summaries, output, arguments."""

from __future__ import annotations

import argparse
import io
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from ultralytics.engine.results import Results

from yolo26_triton import cli
from yolo26_triton.cli_client import config_from_args
from yolo26_triton.client import Detections
from yolo26_triton.compare import (
    TRITON_LATENCY,
    ULTRALYTICS_LATENCY,
    CompareError,
    CompareReport,
    ImageAgreement,
    ImageComparison,
    UltralyticsDetector,
    _ultralytics_logs_to_stderr,
    format_report,
    image_agreement,
    load_ultralytics,
    served_model_warnings,
    summarize_agreement,
    summarize_latency,
)
from yolo26_triton.ops.matching import Matches, agreement_score, box_iou, match_detections

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


def pairs(matches: Matches) -> list[tuple[int, int]]:
    """(reference, candidate) index pairs, best IoU first."""
    return list(zip(matches.reference_index.tolist(), matches.candidate_index.tolist(), strict=True))


def parse(*argv: str) -> argparse.Namespace:
    return cli._parser().parse_args(["compare", *argv])


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


# --- agreement -----------------------------------------------------------------------------------


def test_agreement_score() -> None:
    assert agreement_score(0, 0, 0) == 1.0
    assert agreement_score(0, 3, 0) == 0.0
    assert agreement_score(2, 3, 2) == pytest.approx(0.8)
    assert agreement_score(3, 3, 3) == 1.0


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


def test_latency_summary() -> None:
    latency = summarize_latency([40.0, 10.0, 30.0, 20.0])
    assert (latency.mean_ms, latency.median_ms) == (25.0, 25.0)
    assert latency.p90_ms == pytest.approx(37.0)  # linear between 30 and 40
    assert summarize_latency([5.0]).p90_ms == 5.0
    with pytest.raises(ValueError):
        summarize_latency([])


# --- output --------------------------------------------------------------------------------------


def sample_report() -> CompareReport:
    return CompareReport(
        images=(
            ImageComparison("a.jpg", ImageAgreement(3, 3, 3, 0.99871, 0.004321), 120.0, 60.0),
            ImageComparison("b.jpg", ImageAgreement(2, 0, 0, None, None), 100.0, 40.0),
        ),
        settings={"weights": "yolo26n.pt", "letterbox": "square", "conf": 0.25, "match_iou": 0.5},
    )


def test_report_as_json() -> None:
    record = json.loads(json.dumps(sample_report().to_json()))
    assert set(record) == {"images", "summary", "settings"}
    first, second = record["images"]
    assert first == {
        "image": "a.jpg",
        "ultralytics_boxes": 3,
        "triton_boxes": 3,
        "matched": 3,
        "agreement": 1.0,
        "mean_iou": 0.9987,
        "max_score_diff": 0.00432,
        "ultralytics_ms": 120.0,
        "triton_ms": 60.0,
    }
    assert (second["agreement"], second["mean_iou"], second["max_score_diff"]) == (0.0, None, None)
    summary = record["summary"]
    assert (summary["ultralytics_boxes"], summary["triton_boxes"], summary["matched"]) == (5, 3, 3)
    assert summary["agreement"] == 0.75
    assert summary["latency_ms"] == {
        "ultralytics": {"mean": 110.0, "median": 110.0, "p90": 118.0},
        "triton": {"mean": 50.0, "median": 50.0, "p90": 58.0},
    }
    assert summary["speed_ratio"] == 2.2
    assert record["settings"]["letterbox"] == "square"


def test_report_as_table() -> None:
    lines = format_report(sample_report()).splitlines()
    assert lines[0].split() == [
        "IMAGE",
        "ULTRALYTICS",
        "TRITON",
        "MATCHED",
        "AGREEMENT",
        "MEAN_IOU",
        "MAX_SCORE_DIFF",
        "ULTRALYTICS_MS",
        "TRITON_MS",
    ]
    assert lines[1].split() == ["a.jpg", "3", "3", "3", "1.000", "0.999", "0.0043", "120.0", "60.0"]
    assert lines[2].split() == ["b.jpg", "2", "0", "0", "0.000", "-", "-", "100.0", "40.0"]
    text = "\n".join(lines)
    assert "overall agreement 0.750: 3 matched of 5 Ultralytics and 3 Triton boxes in 2 images" in text
    assert "letterbox square" in text
    assert ULTRALYTICS_LATENCY in text and TRITON_LATENCY in text  # what each latency includes
    assert "speed ratio 2.20" in text


def test_served_model_warnings() -> None:
    same = {"source": "/models/build/yolo26n.pt", "untrained": False}
    assert served_model_warnings(same, "/home/me/yolo26n.pt") == []
    assert served_model_warnings(same, "yolo26n.pt") == []
    (other,) = served_model_warnings(same, "yolo26s.pt")
    assert "yolo26n.pt" in other and "yolo26s.pt" in other
    warnings = served_model_warnings({"source": "yolo26n.yaml", "untrained": True}, "yolo26n.pt")
    assert len(warnings) == 2 and "UNTRAINED" in warnings[1]
    assert len(served_model_warnings({}, "yolo26n.pt")) == 1
    assert all(warning.startswith("warning: ") and "\n" not in warning for warning in warnings)


# --- the Ultralytics side ------------------------------------------------------------------------


@pytest.mark.parametrize("weights", ["yolo26n.yaml", "model.onnx", "weights"])
def test_only_pt_weights_are_accepted(weights: str) -> None:
    with pytest.raises(CompareError, match=r"expected trained weights, a \.pt"):
        load_ultralytics(weights)


def test_unloadable_weights_fail_in_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(CompareError) as raised:
        load_ultralytics(str(broken))
    message = str(raised.value)
    assert "broken.pt" in message and "meaningless" in message and "\n" not in message


class FakeModel:
    """Stands in for ``ultralytics.YOLO``: answers predict() with a fixed ``Results``."""

    def __init__(self, boxes: torch.Tensor) -> None:
        self.boxes = boxes
        self.calls: list[tuple[tuple[int, ...], dict[str, object]]] = []

    def predict(self, image: np.ndarray, **options: object) -> list[Results]:
        self.calls.append((image.shape, options))
        return [Results(image, path="image0.jpg", names={0: "person", 5: "bus"}, boxes=self.boxes)]


def test_ultralytics_detector_decodes_predicts_and_converts(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 20, 30)).save(buffer, format="JPEG")
    model = FakeModel(torch.tensor([[1.0, 2.0, 30.0, 40.0, 0.9, 5.0], [0.0, 0.0, 10.0, 10.0, 0.5, 0.0]]))
    result = UltralyticsDetector(model, {"conf": 0.3, "rect": False}).detect(buffer.getvalue())
    assert model.calls == [((48, 64, 3), {"verbose": False, "conf": 0.3, "rect": False})]
    assert result.xyxy.dtype == np.float32 and result.class_id.dtype == np.int32
    np.testing.assert_allclose(result.xyxy, [[1, 2, 30, 40], [0, 0, 10, 10]])
    np.testing.assert_allclose(result.confidence, [0.9, 0.5])
    assert result.class_names == ("bus", "person")
    assert result.image_size == (48, 64)


def test_ultralytics_detector_refuses_undecodable_bytes() -> None:
    with pytest.raises(CompareError, match="cannot decode"):
        UltralyticsDetector(FakeModel(torch.zeros(0, 6)), {}).detect(b"not a jpeg")


def test_ultralytics_logs_go_to_stderr_meanwhile(capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("ultralytics")
    logger.addHandler(handler)
    level = logger.level
    try:
        with _ultralytics_logs_to_stderr():
            logger.warning("during")
        with _ultralytics_logs_to_stderr(logging.ERROR):
            logger.warning("dropped")
        logger.warning("after")
    finally:
        logger.removeHandler(handler)
    err = capsys.readouterr().err
    assert "during" in err and "dropped" not in err
    assert logger.level == level
    assert stream.getvalue().endswith("after\n") and "during" not in stream.getvalue()  # restored


# --- arguments -----------------------------------------------------------------------------------


def test_defaults_are_predict_defaults() -> None:
    args = parse("a.jpg", "photos")
    assert args.paths == [Path("a.jpg"), Path("photos")]
    assert (args.weights, args.conf, args.iou, args.max_det) == ("yolo26n.pt", 0.25, 0.7, 300)
    assert (args.match_iou, args.letterbox, args.warmup, args.min_agreement) == (0.5, "rect", 1, None)
    assert (args.device, args.json) == ("cpu", False)
    assert callable(args.func)


def test_connection_options_are_the_client_commands() -> None:
    args = parse("a.jpg", "--protocol", "http", "--url", "web:8000", "--model", "other")
    config = config_from_args(args, {})
    assert (config.protocol, config.http_url, config.model) == ("http", "web:8000", "other")


@pytest.mark.parametrize(
    "argv",
    [
        ["--conf", "2"],
        ["--conf", "x"],
        ["--iou", "-0.1"],
        ["--max-det", "0"],
        ["--max-det", "301"],
        ["--match-iou", "0"],
        ["--warmup", "-1"],
        ["--min-agreement", "nan"],
        ["--letterbox", "stretch"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse("a.jpg", *argv)
    assert exited.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_missing_images_or_yaml_weights_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["compare", str(tmp_path / "missing.jpg")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert cli.main(["compare", str(tmp_path)]) == 2
    assert "no .jpg or .jpeg files" in capsys.readouterr().err
    image = tmp_path / "a.jpg"
    Image.new("RGB", (8, 8)).save(image, format="JPEG")
    assert cli.main(["compare", str(image), "--weights", "yolo26n.yaml"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: --weights yolo26n.yaml")
