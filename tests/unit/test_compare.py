"""``triton-detect compare``: latency summaries, output, arguments (matching and the Ultralytics side
are tested with the rollout package, where they live)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from PIL import Image

from yolo26_triton.cli.app import main, parser
from yolo26_triton.cli.arguments import client_config
from yolo26_triton.cli.compare import format_report
from yolo26_triton.rollout.agreement import ImageAgreement
from yolo26_triton.tools.compare import CompareReport, ImageComparison, LatencySummary
from yolo26_triton.tools.compare.report import TRITON_LATENCY, ULTRALYTICS_LATENCY, served_model_warnings


def parse(*argv: str) -> argparse.Namespace:
    return parser(["compare"]).parse_args(["compare", *argv])


# --- latency -------------------------------------------------------------------------------------


def test_latency_summary() -> None:
    latency = LatencySummary.of([40.0, 10.0, 30.0, 20.0])
    assert (latency.mean_ms, latency.median_ms) == (25.0, 25.0)
    assert latency.p90_ms == pytest.approx(37.0)  # linear between 30 and 40
    assert LatencySummary.of([5.0]).p90_ms == 5.0
    with pytest.raises(ValueError):
        LatencySummary.of([])


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
    assert all("\n" not in warning for warning in warnings)  # one line each


# --- arguments -----------------------------------------------------------------------------------


def test_defaults_are_predict_defaults() -> None:
    args = parse("a.jpg", "photos")
    assert args.paths == [Path("a.jpg"), Path("photos")]
    assert (args.weights, args.conf, args.iou, args.max_det) == ("yolo26n.pt", 0.25, 0.7, 300)
    assert (args.match_iou, args.letterbox, args.warmup, args.min_agreement) == (0.5, "rect", 1, None)
    assert (args.device, args.json) == ("cpu", False)
    assert callable(args.run)


def test_connection_options_are_the_client_commands() -> None:
    args = parse("a.jpg", "--protocol", "http", "--url", "web:8000", "--model", "other")
    config = client_config(args, {})
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
    assert main(["compare", str(tmp_path / "missing.jpg")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["compare", str(tmp_path)]) == 2
    assert "no .jpg or .jpeg files" in capsys.readouterr().err
    image = tmp_path / "a.jpg"
    Image.new("RGB", (8, 8)).save(image, format="JPEG")
    assert main(["compare", str(image), "--weights", "yolo26n.yaml"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: --weights yolo26n.yaml")
